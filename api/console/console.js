// The recorder's console: a page of the service itself, over its own API (no build step, no CDN).
// The token is kept in this tab's session storage, never in a URL; the API enforces every role.
const API = "/rtc-recorder/api";
const COMPOSITION = "/composition/api";
const main = document.getElementById("main");
const statusLine = document.getElementById("status");
const nav = document.getElementById("nav");
let token = sessionStorage.getItem("recorder.token");
let me = null;
let leaving = []; // what the page being left must stop (timers, media)

// ------------------------------------------------------------ helpers

function h(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else if (name === "text") node.textContent = value;
    else if (name === "style") node.style.cssText = value; // (CSSOM: allowed by the page's CSP, an attribute is not)
    else node.setAttribute(name, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child !== null && child !== undefined) node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

function say(text, error = false) {
  statusLine.textContent = text;
  statusLine.className = error ? "error" : "";
}

class ApiError extends Error {
  constructor(status, message) { super(message); this.status = status; }
}

async function call(method, path, body, headers = {}) {
  const init = { method, headers: { Authorization: `Bearer ${token}`, ...headers } };
  if (body !== undefined) {
    init.body = JSON.stringify(body);
    init.headers["Content-Type"] = "application/json";
  }
  const response = await fetch(path, init);
  if (response.status === 204) return null;
  const data = await response.json().catch(() => ({}));
  if (!response.ok) throw new ApiError(response.status, `${response.status}: ${data.message || data.error || "refused"}`);
  return data;
}

const has = (...roles) => Boolean(me) && roles.some((role) => me.roles.includes(role));
const time = (iso) => (iso ? new Date(iso).toLocaleString() : "");
const ms = (iso) => (iso ? Date.parse(iso) : NaN);
const params = () => new URLSearchParams(location.hash.split("?")[1] || "");
const idsPath = (r) => [r.conversationId, r.recorderId, r.instanceId].map(encodeURIComponent).join("/");

function page(title, ...content) {
  main.replaceChildren(h("h2", { text: title }), ...content.filter((c) => c !== null && c !== undefined));
  document.title = `${title} - Recorder console`;
  main.focus();
}

// ------------------------------------------------------------ sign in

function signIn() {
  nav.hidden = true;
  const mode = h("select", { id: "mode", name: "mode" },
    h("option", { value: "client", text: "OAuth client credentials" }),
    h("option", { value: "key", text: "API key" }));
  const id = h("input", { id: "client-id", name: "client_id", autocomplete: "username" });
  const secret = h("input", { id: "secret", name: "secret", type: "password", autocomplete: "current-password", required: true });
  const idLabel = h("label", { for: "client-id" }, "Client id", id);
  mode.addEventListener("change", () => { idLabel.hidden = mode.value === "key"; });
  const form = h("form", { class: "inline", id: "sign-in" },
    h("label", { for: "mode" }, "Sign in with", mode), idLabel,
    h("label", { for: "secret" }, "Secret or API key", secret),
    h("button", { class: "primary", type: "submit", text: "Sign in" }));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      let candidate = secret.value;
      if (mode.value === "client") {
        const body = new URLSearchParams({ grant_type: "client_credentials", client_id: id.value, client_secret: secret.value });
        const answer = await fetch("/security/oauth/token", { method: "POST", body });
        const data = await answer.json();
        if (!answer.ok) throw new Error(data.message || data.error || "refused");
        candidate = data.access_token;
      }
      token = candidate;
      me = await call("GET", `${API}/me`);
      sessionStorage.setItem("recorder.token", token);
      say(`Signed in as ${me.subject}`);
      location.hash = "#/";
      route();
    } catch (error) {
      token = null;
      say(`Sign-in failed: ${error.message}`, true);
    }
  });
  page("Sign in", form);
}

function showNav() {
  nav.hidden = false;
  for (const link of nav.querySelectorAll("a[data-role]")) link.hidden = !has(...link.dataset.role.split(" "));
  document.getElementById("who").textContent = `${me.subject} (${me.roles.join(", ")})`;
}

document.getElementById("sign-out").addEventListener("click", () => {
  sessionStorage.removeItem("recorder.token");
  token = null; me = null;
  location.hash = "#/";
  route();
});

// ------------------------------------------------------------ conversations

async function conversations() {
  const q = params();
  const app = q.get("app") || me.applications[0] || "";
  const field = (name, label, attrs = {}) => h("label", { for: `f-${name}` }, label, h("input", { id: `f-${name}`, name, value: q.get(name) || "", ...attrs }));
  const state = h("select", { id: "f-state", name: "state" }, h("option", { value: "", text: "any" }),
    ...["ACTIVE", "STOPPED", "FAILED", "ABORTED", "INITIALISED", "PENDING_RECOVERY"].map((s) => h("option", { value: s, text: s, selected: q.get("state") === s })));
  const apps = h("select", { id: "f-app", name: "app" }, ...me.applications.map((a) => h("option", { value: a, text: a, selected: a === app })));
  const form = h("form", { class: "inline", id: "search", role: "search" },
    h("label", { for: "f-app" }, "Application", apps), field("q", "Conversation id starts with"), field("user", "Participant"),
    h("label", { for: "f-state" }, "State", state), field("since", "From", { type: "date" }), field("until", "Until", { type: "date" }),
    h("button", { class: "primary", type: "submit", text: "Search" }));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const next = new URLSearchParams(new FormData(form));
    for (const [k, v] of [...next]) if (!v) next.delete(k);
    location.hash = `#/conversations?${next}`;
  });
  page("Conversations", form, h("p", { text: "Searching…" }));
  const number = Number(q.get("page") || 1);
  const query = new URLSearchParams({ applicationId: app, page: number, size: 20 });
  if (q.get("q")) query.set("conversationId", q.get("q"));
  if (q.get("user")) query.set("userId", q.get("user"));
  if (q.get("state")) query.set("state", q.get("state"));
  if (q.get("since")) query.set("since", `${q.get("since")}T00:00:00Z`);
  if (q.get("until")) query.set("until", `${q.get("until")}T23:59:59Z`);
  const found = await call("GET", `${API}/recordings?${query}`);
  const rows = found.recordings.map((r) => h("tr", {},
    h("td", {}, h("a", { href: `#/recording/${idsPath(r)}` }, r.conversationId)),
    h("td", { class: `state-${r.state}`, text: r.paused ? `${r.state} (paused)` : r.state }),
    h("td", { text: r.participants.join(", ") }),
    h("td", { text: time(r.started || r.created) }),
    h("td", { text: r.stopReason ? r.stopReason.reason : "" }),
    h("td", {}, h("a", { href: `#/compositions/${encodeURIComponent(r.conversationId)}`, text: "Compositions" }))));
  const pages = Math.max(1, Math.ceil(found.total / found.size));
  const go = (n) => { q.set("page", n); location.hash = `#/conversations?${q}`; };
  main.replaceChildren(main.firstChild, form,
    h("table", { "aria-label": "Recordings" },
      h("thead", {}, h("tr", {}, ...["Conversation", "State", "Participants", "Started", "Ended by", ""].map((t) => h("th", { scope: "col", text: t })))),
      h("tbody", {}, rows)),
    h("p", {}, `${found.total} recordings · page ${number} of ${pages} `,
      h("button", { type: "button", disabled: number <= 1, onclick: () => go(number - 1), text: "Previous" }), " ",
      h("button", { type: "button", disabled: number >= pages, onclick: () => go(number + 1), text: "Next" })));
}

// ------------------------------------------------------------ a recording

async function recording(c, r, i) {
  const path = `${API}/recordings/${[c, r, i].map(encodeURIComponent).join("/")}`;
  const [info, chat] = await Promise.all([
    call("GET", path),
    has("SUPERVISOR", "AUDITOR") ? call("GET", `${path}/chat`).catch(() => ({ entries: [] })) : { entries: [] },
  ]);
  const tracks = info.streams.flatMap((s) => s.tracks.map((t) => ({ ...t, user: s.userId, streamType: s.type })));
  const timed = tracks.filter((t) => t.mediaStart);
  const start = Math.min(...timed.map((t) => ms(t.mediaStart)), ms(info.started));
  const end = Math.max(...timed.map((t) => ms(t.mediaEnd || t.stopped) || Date.now()), ms(info.stopped) || start + 1);
  const span = Math.max(1, end - start);
  const at = (value) => `${(100 * (value - start)) / span}%`;

  // the timeline: one lane per track segment, pauses shaded
  const cursor = h("div", { class: "cursor", "aria-hidden": "true" });
  const lanes = timed.map((t) => h("div", { class: "lane" },
    h("span", { class: "label", text: `${t.user} ${t.type.toLowerCase()}` }),
    h("div", { class: `segment ${t.type}`, title: `${time(t.mediaStart)} - ${time(t.mediaEnd)}`,
      style: `left:${at(ms(t.mediaStart))};width:${(100 * ((ms(t.mediaEnd) || end) - ms(t.mediaStart))) / span}%` })));
  const pauses = (info.pauses || []).map((p) => h("div", { class: "pause", title: "paused",
    style: `left:${at(ms(p.paused))};width:${(100 * ((ms(p.resumed) || end) - ms(p.paused))) / span}%` }));
  const timeline = h("div", { class: "timeline", role: "img", "aria-label": `Timeline of ${timed.length} track segments` }, ...lanes, ...pauses, cursor);

  // the players, aligned by each file's media start; the first audio is the master clock
  const media = timed.filter((t) => t.url).map((t) => {
    const element = t.type === "VIDEO" ? h("video", { src: t.url, preload: "auto", muted: true, playsinline: true, "aria-label": `${t.user} video` })
      : h("audio", { src: t.url, preload: "auto", "aria-label": `${t.user} audio` });
    if (t.type === "VIDEO") element.muted = true;
    return { element, offset: (ms(t.mediaStart) - start) / 1000, track: t };
  });
  const master = media.find((m) => m.track.type === "AUDIO") || media[0];
  const now = () => (master ? master.offset + master.element.currentTime : 0);
  const entries = chat.entries.map((e) => ({ at: (ms(e.timeStamp) - start) / 1000, node: h("li", {},
    h("time", { datetime: e.timeStamp, text: time(e.timeStamp) }), h("strong", { text: `${e.userDisplayName || e.userId}: ` }), e.transcript) }));
  let playing = false;
  const follow = () => {
    const t = now();
    cursor.style.left = `${(100 * t * 1000) / span}%`;
    for (const m of media) {
      if (m === master) continue;
      const wanted = t - m.offset;
      if (wanted < 0 || (m.element.duration && wanted > m.element.duration)) { if (!m.element.paused) m.element.pause(); continue; }
      if (Math.abs(m.element.currentTime - wanted) > 0.15) m.element.currentTime = wanted;
      if (playing && m.element.paused) m.element.play().catch(() => {});
    }
    let current = null;
    for (const e of entries) { e.node.classList.remove("now"); if (e.at <= t) current = e; }
    if (current) { current.node.classList.add("now"); current.node.scrollIntoView({ block: "nearest" }); }
  };
  if (master) master.element.addEventListener("timeupdate", follow);
  const play = h("button", { class: "primary", type: "button", id: "play", text: "Play", disabled: !master });
  play.addEventListener("click", async () => {
    playing = !playing;
    play.textContent = playing ? "Pause" : "Play";
    if (playing) { await master.element.play().catch((e) => say(`Cannot play: ${e.message}`, true)); follow(); }
    else media.forEach((m) => m.element.pause());
  });
  leaving.push(() => media.forEach((m) => { m.element.pause(); m.element.removeAttribute("src"); }));

  // upload status of each file, with the retry action for administrators
  const uploads = tracks.map((t) => {
    const stored = (t.storage && t.storage.objectStorage) || {};
    const state = stored.uploaded ? `stored ${time(stored.uploaded)}` : stored.error ? `failed: ${stored.error.message}` : "not stored yet";
    return h("tr", {}, h("td", { text: `${t.user} ${t.type.toLowerCase()}` }), h("td", { text: t.codec || "" }), h("td", { text: state }),
      h("td", {}, t.url ? h("a", { href: t.url, download: "", text: "Download" }) : ""));
  });
  const retry = has("ADMIN") ? h("button", { type: "button", text: "Retry failed uploads", onclick: async () => {
    try { await call("POST", `${path}/upload`); say("Uploads queued again"); } catch (e) { say(e.message, true); }
  } }) : null;
  const cobrowse = h("details", { id: "cobrowse" }, h("summary", { text: "Cobrowse sessions" }));
  cobrowse.addEventListener("toggle", async () => {
    if (!cobrowse.open || cobrowse.dataset.loaded) return;
    cobrowse.dataset.loaded = "1";
    try {
      const found = await call("GET", `${API}/recordings/${encodeURIComponent(c)}/cobrowse`);
      const sessions = found.cobrowseSessions.filter((s) => s.recorderId === r);
      cobrowse.append(sessions.length ? h("ul", {}, sessions.map((s) => {
        const item = h("li", {}, `${s.cobrowseSessionId} `);
        if (!s.uploaded) return item.append("(stored when the recording ends)"), item;
        item.append(h("button", { type: "button", text: "Events and download", onclick: async () => {
          const query = new URLSearchParams({ conversationId: c, id: r, instanceId: i });
          const link = await call("GET", `${path}/cobrowse/${encodeURIComponent(s.cobrowseSessionId)}/url/attachment?${query}`);
          const file = await (await fetch(link.url)).json();
          item.append(h("a", { href: link.url, download: "", text: " Download" }),
            h("ol", {}, (file.events || []).map((e) => h("li", { text: `#${e.sequenceId} ${new Date(e.timestamp).toLocaleTimeString()} ${String(e.payload).slice(0, 120)}` }))));
        } }));
        return item;
      })) : h("p", { text: "None." }));
    } catch (e) { cobrowse.append(h("p", { text: e.message })); }
  });
  const reasons = [info.startReason && `started by ${info.startReason.reason}${info.startReason.caller ? ` (${info.startReason.caller.name})` : ""}`,
    info.stopReason && `ended by ${info.stopReason.reason}${info.stopReason.caller ? ` (${info.stopReason.caller.name})` : ""}`].filter(Boolean).join("; ");
  page(`Recording of ${info.conversationId}`,
    h("p", {}, h("span", { class: `state-${info.state}`, id: "state", text: info.state }), ` · ${time(info.started)} – ${time(info.stopped)} · ${reasons}`,
      info.pauses && info.pauses.length ? ` · ${info.pauses.length} pause(s)` : ""),
    h("p", {}, h("a", { href: `#/compositions/${encodeURIComponent(c)}`, text: "Compositions of this conversation" })),
    h("div", { class: "layout" },
      h("section", { "aria-label": "Playback" }, play, timeline, h("div", { class: "players" }, media.map((m) => m.element))),
      h("section", { "aria-label": "Chat transcript" }, h("h3", { text: "Chat" }),
        entries.length ? h("ol", { class: "transcript", id: "transcript" }, entries.map((e) => e.node)) : h("p", { text: "No chat." }))),
    h("h3", { text: "Files" }), h("table", {}, h("tbody", {}, uploads)), retry, cobrowse,
    has("AUDITOR", "SUPERVISOR") ? evidence(info, path) : null);
}

// ------------------------------------------------------------ evidence (auditors and supervisors)

const base = (key) => String(key || "").split("/").pop();

function evidence(info, path) {
  const c = info.conversationId;
  const integrity = h("div", { id: "integrity" }, h("p", { text: "Re-reads every stored file of this recording and compares it with the SHA-256 taken when it was stored." }));
  const check = h("button", { type: "button", id: "verify", text: "Verify integrity", onclick: async () => {
    check.disabled = true;
    try {
      const v = await call("GET", `${path}/verify`);
      const seal = { VALID: "signed seal valid", INVALID: "signed seal INVALID", UNREADABLE: "seal unreadable", NOT_SEALED: "not sealed yet" }[v.seal.status] || v.seal.status;
      integrity.replaceChildren(
        h("p", { id: "verdict", class: v.intact ? "ok" : "bad", text: `${v.intact ? "Intact" : "Not intact"} · ${seal} · checked ${time(v.verified)}` }),
        h("table", {}, h("thead", {}, h("tr", {}, ["File", "Kind", "Status", "SHA-256"].map((t) => h("th", { text: t })))),
          h("tbody", {}, v.objects.map((o) => h("tr", { "data-status": o.status },
            h("td", { text: base(o.key), title: o.key }), h("td", { text: o.kind.toLowerCase() }),
            h("td", { class: ["INTACT", "DELETED"].includes(o.status) ? "ok" : "bad", text: o.status.toLowerCase() }),
            h("td", { class: "hash", text: `${(o.sha256 || "").slice(0, 16)}…` }))))));
      loadHistory();
    } catch (e) { say(e.message, true); }
    check.disabled = false;
  } });

  const holdState = h("p", { id: "hold-state", text: "Loading…" });
  const reason = h("input", { id: "hold-reason", "aria-label": "Reason", placeholder: "Reason (case number)", maxlength: "1000" });
  const holdButton = h("button", { type: "submit", id: "hold-button", text: "Place legal hold" });
  let held = null;
  const showHold = (hold) => {
    held = hold;
    holdState.textContent = hold ? `Under legal hold since ${time(hold.placed)} by ${hold.placedBy}: ${hold.reason}. Nothing of this conversation can be deleted.`
      : "Not under legal hold: retention and administrators may delete it.";
    holdState.className = hold ? "held" : "";
    holdButton.textContent = hold ? "Release legal hold" : "Place legal hold";
  };
  const holdForm = h("form", { class: "inline", id: "hold", onsubmit: async (event) => {
    event.preventDefault();
    if (!reason.value.trim()) return say("Say why (a case number, a request)", true);
    try {
      const holdPath = `${API}/holds/${encodeURIComponent(c)}`;
      const answer = held ? await call("POST", `${holdPath}/release`, { reason: reason.value }) : await call("PUT", holdPath, { reason: reason.value });
      showHold(held ? null : answer);
      const storage = (answer.objects || []).filter((o) => o.storageHold === "SET" || o.storageHold === "RELEASED").length;
      say(`${held ? "Legal hold placed" : "Legal hold released"}${storage ? ` (the storage's own hold on ${storage} files too)` : ""}`);
      reason.value = "";
      loadHistory();
    } catch (e) { say(e.message, true); }
  } }, h("label", {}, "Reason", reason), holdButton);
  call("GET", `${API}/holds/${encodeURIComponent(c)}`).then(showHold, (e) => (e.status === 404 ? showHold(null) : (holdState.textContent = e.message)));

  const history = h("div", { id: "access-history" });
  const loadHistory = () => has("AUDITOR") && call("GET", `${API}/access-log?${new URLSearchParams({ conversationId: c, pageSize: "1000" })}`).then((log) => {
      history.replaceChildren(log.entries.length ? h("table", {},
        h("thead", {}, h("tr", {}, ["When", "What", "Who", "File or detail"].map((t) => h("th", { text: t })))),
        h("tbody", {}, log.entries.slice().reverse().map((e) => h("tr", {},
          h("td", { text: time(e.at) }), h("td", { text: e.action.replaceAll("_", " ").toLowerCase() }),
          h("td", { text: e.callerType === "LINK" ? `${e.caller} (link)` : e.caller }), h("td", { text: base(e.object) || e.detail || "" })))))
        : h("p", { text: "Nobody has opened this conversation's files yet." }));
    }, (e) => history.replaceChildren(h("p", { text: e.message })));
  loadHistory();
  return h("section", { id: "evidence", "aria-label": "Evidence" },
    h("h3", { text: "Integrity" }), check, integrity,
    h("h3", { text: "Legal hold" }), holdState, holdForm,
    has("AUDITOR") ? h("h3", { text: "Access history" }) : null, has("AUDITOR") ? history : null);
}

// ------------------------------------------------------------ compositions

async function compositions(c) {
  const list = h("div", { class: "cards", id: "compositions" });
  const form = h("form", { class: "inline", id: "compose" },
    h("label", { for: "c-type" }, "Type", h("select", { id: "c-type", name: "type" }, h("option", { value: "video", text: "Video (MP4)" }), h("option", { value: "audio", text: "Audio (MP3)" }))),
    h("label", { for: "c-layout" }, "Layout", h("select", { id: "c-layout", name: "layout" }, h("option", { text: "GRID" }), h("option", { text: "SPOTLIGHT" }))),
    h("label", { for: "c-res" }, "Resolution", h("select", { id: "c-res", name: "resolution" }, ...["640x360", "1280x720", "320x240"].map((v) => h("option", { text: v })))),
    h("button", { class: "primary", type: "submit", text: "Request a composition" }));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const data = Object.fromEntries(new FormData(form));
    try {
      await call("POST", `${COMPOSITION}/request`, { conversationId: c, type: data.type, layout: data.layout, resolution: data.resolution, videoFormat: "mp4", audioFormat: "mp3" });
      say("Composition requested");
      refresh();
    } catch (e) { say(e.message, true); }
  });
  page(`Compositions of ${c}`, form, list);
  let timer = null;
  const refresh = async () => {
    clearTimeout(timer);
    const found = await call("GET", `${COMPOSITION}/query/conversation/${encodeURIComponent(c)}`);
    list.replaceChildren(...found.compositions.map((comp) => {
      const card = h("article", { class: "card", "data-state": comp.state },
        h("h3", { text: `${comp.type} · ${comp.name || comp.id}` }),
        h("p", {}, h("strong", { class: "composition-state", text: comp.state }), comp.progress !== undefined ? ` ${comp.progress}%` : ""));
      if (comp.state === "COMPLETED") {
        card.append(h("button", { type: "button", text: "Play", onclick: async () => {
          const link = await call("GET", `${COMPOSITION}/player/${encodeURIComponent(c)}/${comp.id}/url/attachment`);
          card.append(comp.type === "AUDIO" ? h("audio", { controls: true, src: link.url }) : h("video", { controls: true, src: link.url, width: 320 }),
            h("a", { href: link.url, download: "", text: " Download" }));
        } }));
      }
      if (has("SUPERVISOR") || has("SERVICE")) {
        card.append(" ", h("button", { type: "button", text: "Delete", onclick: async () => {
          try { await call("DELETE", `${COMPOSITION}/${encodeURIComponent(c)}/${comp.id}/delete`); refresh(); } catch (e) { say(e.message, true); }
        } }));
      }
      return card;
    }));
    if (found.compositions.some((x) => ["QUEUED", "PREPROCESSING", "PROCESSING"].includes(x.state))) timer = setTimeout(refresh, 1000);
  };
  leaving.push(() => clearTimeout(timer));
  await refresh().catch((e) => list.replaceChildren(h("p", { text: e.message })));
}

// ------------------------------------------------------------ administration

async function storage() {
  const sections = await Promise.all(me.applications.map(async (app) => {
    const section = h("section", { class: "card", "aria-label": `Storage of ${app}` }, h("h3", { text: app }));
    try {
      const profile = await call("GET", `${API}/storageproviders/${encodeURIComponent(app)}`);
      const editor = h("textarea", { rows: 8, cols: 60, id: `profile-${app}`, "aria-label": `Profile of ${app} (JSON; credentials are write-only)` });
      editor.value = JSON.stringify(profile, null, 2);
      const checks = h("ul", { class: "checks", id: `checks-${app}` });
      section.append(h("p", { text: `${profile.provider} · from ${profile.source}` }), editor,
        h("p", {},
          h("button", { type: "button", text: "Save", onclick: async () => {
            try { await call("PUT", `${API}/storageproviders/${encodeURIComponent(app)}`, JSON.parse(editor.value)); say(`Saved the profile of ${app}`); }
            catch (e) { say(e.message, true); }
          } }), " ",
          h("button", { class: "primary", type: "button", text: "Verify", onclick: async () => {
            checks.replaceChildren(h("li", { text: "Verifying…" }));
            try {
              const result = await call("POST", `${API}/storageproviders/${encodeURIComponent(app)}/verify`);
              checks.replaceChildren(...Object.entries(result).filter(([, v]) => v && typeof v === "object" && "passed" in v)
                .map(([name, v]) => h("li", { class: v.passed ? "ok" : "bad", text: `${name}: ${v.message || (v.passed ? "passed" : "failed")}` })));
            } catch (e) { checks.replaceChildren(h("li", { class: "bad", text: e.message })); }
          } })), checks);
    } catch (e) { section.append(h("p", { text: e.message })); }
    return section;
  }));
  page("Storage", h("div", { class: "cards" }, sections));
}

async function webhooks() {
  const sections = await Promise.all(me.applications.map(async (app) => {
    const base = `${API}/webhooks/${encodeURIComponent(app)}`;
    const section = h("section", { class: "card" }, h("h3", { text: app }));
    try {
      const found = await call("GET", base);
      for (const sub of found.subscriptions) {
        const deliveries = h("table", {});
        const load = async () => {
          const list = await call("GET", `${base}/${sub.id}/deliveries?limit=20`);
          deliveries.replaceChildren(h("tbody", {}, list.deliveries.map((d) => h("tr", {},
            h("td", { text: d.message }), h("td", { text: d.status }), h("td", { text: `${d.attempts} tries` }),
            h("td", {}, h("button", { type: "button", text: "Redeliver", onclick: async () => {
              try { await call("POST", `${base}/${sub.id}/deliveries/${d.id}/redeliver`); say("Redelivery queued"); load(); } catch (e) { say(e.message, true); }
            } }))))));
        };
        const recorder = h("input", { id: `replay-${sub.id}`, placeholder: "recorder id" });
        const shown = h("details", { class: "deliveries" }, h("summary", { text: "Deliveries" }), deliveries);
        shown.addEventListener("toggle", () => shown.open && load().catch((e) => say(e.message, true)));
        section.append(h("h4", { text: `${sub.url} (${sub.format})` }),
          h("form", { class: "inline", onsubmit: async (event) => {
            event.preventDefault();
            try { await call("POST", `${base}/${sub.id}/replay`, { recorderId: recorder.value }); say("Replay queued"); } catch (e) { say(e.message, true); }
          } }, h("label", { for: `replay-${sub.id}` }, "Replay a recording's events", recorder), h("button", { type: "submit", text: "Replay" })),
          shown);
      }
      if (!found.subscriptions.length) section.append(h("p", { text: "No subscriptions." }));
    } catch (e) { section.append(h("p", { text: e.message })); }
    return section;
  }));
  page("Webhooks", ...sections);
}

// ------------------------------------------------------------ record a test call (WHIP from this browser)

async function testCall() {
  const app = me.applications[0];
  const start = h("button", { class: "primary", type: "button", id: "start-call", text: "Start recording my camera and microphone" });
  const stop = h("button", { type: "button", id: "stop-call", text: "Stop", disabled: true });
  const preview = h("video", { autoplay: true, muted: true, playsinline: true, width: 320, "aria-label": "Your camera" });
  const written = h("ul", { id: "written", "aria-live": "polite" });
  const sent = h("p", { id: "sent" });
  page("Record a test call", h("p", { text: "Publishes this browser's camera and microphone to the recorder over WHIP, and shows the recording as it is written." }),
    h("p", {}, start, " ", stop), preview, sent, written);
  let pc = null; let resource = null; let ingest = null; let timer = null;
  const count = async () => { // what this browser sent, beside what the recorder wrote
    const stats = [...(await pc.getStats()).values()].filter((r) => r.type === "outbound-rtp");
    const video = stats.find((r) => r.kind === "video"); const audio = stats.find((r) => r.kind === "audio");
    sent.dataset.videoFrames = video ? video.framesSent : 0;
    sent.dataset.audioPackets = audio ? audio.packetsSent : 0;
    sent.textContent = `Sent: ${sent.dataset.videoFrames} video frames, ${sent.dataset.audioPackets} audio packets`;
  };
  const finish = () => { clearTimeout(timer); if (pc) pc.close(); if (preview.srcObject) preview.srcObject.getTracks().forEach((t) => t.stop()); };
  leaving.push(finish);
  start.addEventListener("click", async () => {
    start.disabled = true;
    try {
      const conversation = `test-call-${new Date().toISOString().replace(/[:.]/g, "-")}`;
      ingest = await call("POST", `${API}/ingests`, { applicationId: app, conversationId: conversation, userId: me.subject });
      const media = await navigator.mediaDevices.getUserMedia({ audio: true, video: true });
      preview.srcObject = media;
      pc = new RTCPeerConnection();
      media.getTracks().forEach((t) => pc.addTransceiver(t, { direction: "sendonly" }));
      await pc.setLocalDescription(await pc.createOffer());
      await new Promise((resolve) => {
        if (pc.iceGatheringState === "complete") return resolve();
        pc.addEventListener("icegatheringstatechange", () => pc.iceGatheringState === "complete" && resolve());
        setTimeout(resolve, 2000);
      });
      const answer = await fetch(ingest.url, { method: "POST", body: pc.localDescription.sdp,
        headers: { "Content-Type": "application/sdp", Authorization: `Bearer ${ingest.token}` } });
      if (answer.status !== 201) throw new Error(`WHIP: ${answer.status} ${await answer.text()}`);
      resource = new URL(answer.headers.get("Location"), ingest.url).href;
      await pc.setRemoteDescription({ type: "answer", sdp: await answer.text() });
      stop.disabled = false;
      say("Recording");
      const path = `${API}/recordings/${idsPath(ingest)}`;
      const watch = async () => {
        const info = await call("GET", path);
        const tracks = info.streams.flatMap((s) => s.tracks);
        await count();
        written.replaceChildren(h("li", { text: `${info.state}: ${tracks.length} track(s) written` }), ...tracks.map((t) => h("li", { class: "track", "data-type": t.type, text: `${t.type} ${t.codec || ""} ${t.mediaStart ? `since ${time(t.mediaStart)}` : "being written"}` })));
        timer = setTimeout(watch, 1000);
      };
      watch();
    } catch (e) { say(`Test call failed: ${e.message}`, true); start.disabled = false; }
  });
  stop.addEventListener("click", async () => {
    stop.disabled = true;
    try {
      clearTimeout(timer);
      await count(); // the last figures, as the publication ends
      await fetch(resource, { method: "DELETE", headers: { Authorization: `Bearer ${ingest.token}` } });
      finish();
      await call("POST", `${API}/recordings/${idsPath(ingest)}/stop`);
      say("Stopped");
      written.append(h("li", {}, h("a", { id: "play-it-back", href: `#/recording/${idsPath(ingest)}`, text: "Play it back" })));
    } catch (e) { say(e.message, true); }
  });
}

// ------------------------------------------------------------ routing

async function route() {
  leaving.forEach((stop) => stop());
  leaving = [];
  if (!token) return signIn();
  try {
    if (!me) me = await call("GET", `${API}/me`);
  } catch (e) {
    token = null; sessionStorage.removeItem("recorder.token");
    say("Please sign in again", true);
    return signIn();
  }
  showNav();
  const [path] = location.hash.slice(1).split("?");
  const parts = path.split("/").filter(Boolean).map(decodeURIComponent);
  try {
    if (parts[0] === "recording" && parts.length === 4) await recording(parts[1], parts[2], parts[3]);
    else if (parts[0] === "compositions" && parts[1]) await compositions(parts[1]);
    else if (parts[0] === "conversations") await conversations();
    else if (parts[0] === "admin" && parts[1] === "storage") await storage();
    else if (parts[0] === "admin" && parts[1] === "webhooks") await webhooks();
    else if (parts[0] === "test-call") await testCall();
    else location.hash = has("SUPERVISOR", "AUDITOR") ? "#/conversations" : has("AGENT") ? "#/test-call" : has("ADMIN") ? "#/admin/storage" : "#/conversations";
  } catch (e) {
    page("Not available", h("p", { id: "refusal", text: e.message }));
    say(e.message, true);
  }
}

window.addEventListener("hashchange", route);
route();
