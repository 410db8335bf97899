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

let carried = null; // a message for the next page (the status line is cleared on every navigation)
const sayNext = (text, error = false) => { carried = [text, error]; };

// "a · b · c" of the parts that are there (no dangling separators for blank times)
const dots = (...parts) => parts.filter((p) => p !== null && p !== undefined && p !== "" && p !== false).join(" · ");
const more = (...parts) => (dots(...parts) ? ` · ${dots(...parts)}` : ""); // what follows something already said
const span = (from, to) => (from && to ? `${from} – ${to}` : from ? `since ${from}` : "");
const clock = (seconds) => {
  const s = Math.max(0, Math.floor(seconds || 0));
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
};
const LIVE = ["INITIALISED", "ACTIVE", "PENDING_RECOVERY"];
// go to a page: a new hash routes by itself (hashchange); the same one is routed again here
const navigate = (hash) => (location.hash === hash ? route() : (location.hash = hash));

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
  document.getElementById("who").textContent = "";
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
      sayNext(`Signed in as ${me.subject}`);
      navigate("#/");
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
  document.getElementById("who").textContent = "";
  sayNext("Signed out");
  navigate("#/");
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
  const live = LIVE.includes(info.state);
  const tracks = info.streams.flatMap((s) => s.tracks.map((t) => ({ ...t, user: s.userId, streamType: s.type })));
  const timed = tracks.filter((t) => t.mediaStart);
  const start = Math.min(...timed.map((t) => ms(t.mediaStart)), ms(info.started));
  const end = Math.max(...timed.map((t) => ms(t.mediaEnd || t.stopped) || Date.now()), ms(info.stopped) || start + 1);
  const length = Math.max(0.001, (end - start) / 1000); // seconds on the timeline
  const at = (value) => `${(100 * (value - start)) / (length * 1000)}%`;

  // the timeline: one lane per track segment, pauses shaded; a click seeks there
  const cursor = h("div", { class: "cursor", "aria-hidden": "true" });
  const lanes = timed.map((t) => h("div", { class: "lane" },
    h("span", { class: "label", text: `${t.user} ${t.type.toLowerCase()}` }),
    h("div", { class: `segment ${t.type}`, title: span(time(t.mediaStart), time(t.mediaEnd)),
      style: `left:${at(ms(t.mediaStart))};width:${(100 * ((ms(t.mediaEnd) || end) - ms(t.mediaStart))) / (length * 1000)}%` })));
  const pauses = (info.pauses || []).map((p) => h("div", { class: "pause", title: p.reason ? `paused: ${p.reason}` : "paused",
    style: `left:${at(ms(p.paused))};width:${(100 * ((ms(p.resumed) || end) - ms(p.paused))) / (length * 1000)}%` }));
  const timeline = h("div", { class: "timeline", id: "timeline", role: "img", "aria-label": `Timeline of ${timed.length} track segments` }, ...lanes, ...pauses, cursor);

  // the players, each placed by its file's media start on one clock: the audio that is playing leads it, and
  // every other file follows within a video frame (its rate nudged; re-seeked when far off)
  const media = timed.filter((t) => t.url && !live).map((t) => {
    const element = t.type === "VIDEO" ? h("video", { src: t.url, preload: "auto", muted: true, playsinline: true, "aria-label": `${t.user} video` })
      : h("audio", { src: t.url, preload: "auto", "aria-label": `${t.user} audio` });
    if (t.type === "VIDEO") element.muted = true;
    return { element, offset: (ms(t.mediaStart) - start) / 1000, track: t };
  });
  const within = (m, p) => p >= m.offset && (!m.element.duration || p < m.offset + m.element.duration);
  let playing = false; let base = 0; let anchor = performance.now(); let frame = 0;
  const leader = () => media.find((m) => m.track.type === "AUDIO" && playing && !m.element.paused && within(m, base));
  const position = () => {
    const m = leader();
    if (m) { base = m.offset + m.element.currentTime; anchor = performance.now(); return base; }
    if (playing) { base += (performance.now() - anchor) / 1000; anchor = performance.now(); }
    return base;
  };
  const seekBar = h("input", { type: "range", id: "seek", min: "0", max: String(length), step: "0.01", value: "0", "aria-label": "Position in the recording" });
  const clockText = h("span", { id: "clock", "aria-live": "off", text: `${clock(0)} / ${clock(length)}` });
  const entries = chat.entries.map((e) => {
    const offset = (ms(e.timeStamp) - start) / 1000;
    const node = h("li", { tabindex: "0", title: "Play from here" },
      h("time", { datetime: e.timeStamp, text: time(e.timeStamp) }), h("strong", { text: `${e.userDisplayName || e.userId}: ` }), e.transcript);
    node.addEventListener("click", () => seek(offset));
    node.addEventListener("keydown", (event) => { if (event.key === "Enter") seek(offset); });
    return { at: offset, node };
  });
  const show = (p) => {
    cursor.style.left = `${(100 * p) / length}%`;
    seekBar.value = String(p);
    clockText.textContent = `${clock(p)} / ${clock(length)}`;
    let current = null;
    for (const e of entries) { e.node.classList.remove("now"); if (e.at <= p) current = e; }
    if (current) { current.node.classList.add("now"); if (playing) current.node.scrollIntoView({ block: "nearest" }); }
  };
  const follow = () => {
    const p = position();
    const lead = leader();
    for (const m of media) {
      if (m === lead) continue;
      const wanted = p - m.offset;
      if (!within(m, p)) {
        if (!m.element.paused) m.element.pause();
        if (wanted < 0 && m.element.currentTime !== 0) m.element.currentTime = 0;
        continue;
      }
      const drift = m.element.currentTime - wanted;
      if (m.element.paused || Math.abs(drift) > 0.3) {
        m.element.currentTime = wanted;
        m.element.playbackRate = 1;
      } else {
        m.element.playbackRate = Math.min(1.1, Math.max(0.9, 1 - 2 * drift)); // ahead: slower; late: faster
      }
      if (playing && m.element.paused) m.element.play().catch(() => {});
    }
    show(p);
    if (p >= length) return stopAt(length);
    if (playing) frame = requestAnimationFrame(follow);
  };
  const play = h("button", { class: "primary", type: "button", id: "play", text: "Play", disabled: !media.length, "aria-keyshortcuts": "Space" });
  const setPlaying = (on) => {
    playing = on;
    play.textContent = on ? "Pause" : "Play";
    anchor = performance.now();
    cancelAnimationFrame(frame);
    if (on) {
      const lead = media.find((m) => m.track.type === "AUDIO" && within(m, base));
      if (lead) { lead.element.currentTime = base - lead.offset; lead.element.play().catch((e) => say(`Cannot play: ${e.message}`, true)); }
      frame = requestAnimationFrame(follow);
    } else media.forEach((m) => { m.element.pause(); m.element.playbackRate = 1; });
  };
  const stopAt = (p) => { setPlaying(false); base = p; show(p); };
  const seek = (p) => {
    base = Math.min(length, Math.max(0, p));
    anchor = performance.now();
    for (const m of media) if (within(m, base)) m.element.currentTime = base - m.offset;
    show(base);
    if (playing) setPlaying(true);
  };
  play.addEventListener("click", () => (playing ? setPlaying(false) : (base >= length && seek(0), setPlaying(true))));
  seekBar.addEventListener("input", () => seek(Number(seekBar.value)));
  timeline.addEventListener("click", (event) => {
    const box = timeline.getBoundingClientRect();
    seek(((event.clientX - box.left) / box.width) * length);
  });
  const playback = h("section", { "aria-label": "Playback", id: "playback", tabindex: "0" },
    media.length ? h("div", { class: "controls" }, play, seekBar, clockText)
      : h("p", { class: "hint", text: live ? "It can be played once it ends." : "Nothing to play." }),
    timeline, h("div", { class: "players" }, media.map((m) => m.element)),
    media.length ? h("p", { class: "hint", text: "Space plays or pauses; ← and → move 5 s; click the timeline or a chat line to go there." }) : null);
  playback.addEventListener("keydown", (event) => {
    if (event.target !== playback && event.target !== play) return;
    const keys = { " ": () => play.click(), k: () => play.click(), ArrowLeft: () => seek(base - 5), ArrowRight: () => seek(base + 5), Home: () => seek(0), End: () => seek(length) };
    if (keys[event.key] && media.length) { event.preventDefault(); keys[event.key](); }
  });
  leaving.push(() => { cancelAnimationFrame(frame); media.forEach((m) => { m.element.pause(); m.element.removeAttribute("src"); }); });

  // each file: stored, failed (why), or while live how much is written and how much of it is safe in storage
  const fileState = (t) => {
    const stored = (t.storage && t.storage.objectStorage) || {};
    if (stored.uploaded) return `stored ${time(stored.uploaded)}`;
    if (stored.error) return `not stored: ${stored.error.message}`;
    const since = t.mediaStart || t.started;
    if (!t.stopped && since) {
      const written = (Date.now() - ms(since)) / 1000;
      const safe = t.durableUntil ? ` (${clock((ms(t.durableUntil) - ms(since)) / 1000)} safe in storage)` : "";
      return `being written: ${clock(written)}${safe}`;
    }
    return t.stopped ? "ended, being stored" : "waiting for its first frame";
  };
  const uploads = tracks.map((t) => h("tr", { "data-track": t.id },
    h("td", { text: `${t.user} ${t.type.toLowerCase()}` }), h("td", { text: t.codec || "" }), h("td", { class: "file-state", text: fileState(t) }),
    h("td", {}, t.url && !live ? h("a", { href: t.url, download: "", text: "Download" }) : "")));
  const files = uploads.length ? h("table", { id: "files" },
    h("thead", {}, h("tr", {}, ["Track", "Codec", "State", "File"].map((t) => h("th", { scope: "col", text: t })))), h("tbody", {}, uploads))
    : h("p", { id: "files", text: live ? "No track yet: nobody has published in the room." : "Nothing was recorded: no participant's media reached the recorder." });
  const retry = has("ADMIN") && tracks.some((t) => t.storage && t.storage.objectStorage && t.storage.objectStorage.error)
    ? h("button", { type: "button", text: "Retry failed uploads", onclick: async () => {
      try { await call("POST", `${path}/upload`); say("Uploads queued again"); } catch (e) { say(e.message, true); }
    } }) : null;

  // a live recording: its controls (for those who may), and its figures kept current until it ends
  let controls = null;
  if (live && has("AGENT")) {
    const act = (op, done) => async () => {
      try { await call("POST", `${path}/${op}`); sayNext(done); route(); } catch (e) { say(e.message, true); }
    };
    controls = h("p", { id: "controls" },
      h("button", { type: "button", id: "stop-recording", class: "primary", text: "Stop recording", onclick: act("stop", "Recording stopped") }), " ",
      info.paused ? h("button", { type: "button", id: "resume-recording", text: "Resume", onclick: act("resume", "Recording resumed") })
        : h("button", { type: "button", id: "pause-recording", text: "Pause", onclick: act("pause", "Recording paused") }));
  }
  if (live) {
    const timer = setInterval(async () => {
      try {
        const now = await call("GET", path);
        if (!LIVE.includes(now.state) || now.paused !== info.paused || now.streams.flatMap((s) => s.tracks).length !== tracks.length) return route();
        const byId = new Map(now.streams.flatMap((s) => s.tracks).map((t) => [t.id, t]));
        for (const row of document.querySelectorAll("#files tr[data-track]")) {
          const t = byId.get(row.dataset.track);
          if (t) row.querySelector(".file-state").textContent = fileState(t);
        }
      } catch (e) { say(e.message, true); }
    }, 2000);
    leaving.push(() => clearInterval(timer));
  } else if (tracks.some((t) => !(t.storage && t.storage.objectStorage && (t.storage.objectStorage.uploaded || t.storage.objectStorage.error)))) {
    const timer = setTimeout(() => route(), 2000); // files still being stored: show them when they are
    leaving.push(() => clearTimeout(timer));
  }

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
        item.append(h("button", { type: "button", text: "Events and download", onclick: async (event) => {
          event.target.disabled = true;
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
  const who = (reason) => (reason.caller ? ` (${reason.caller.name})` : "");
  const failed = info.error && !live ? h("p", { id: "reason", class: "bad", text: `${info.state === "FAILED" ? "Failed" : "Ended"}: ${info.error.message || info.error.code}` }) : null;
  page(`Recording of ${info.conversationId}`,
    h("p", { id: "summary" }, h("span", { class: `state-${info.state}`, id: "state", text: info.paused ? `${info.state} (paused)` : info.state }),
      more(span(time(info.started), time(info.stopped)),
        info.startReason && `started by ${info.startReason.reason}${who(info.startReason)}`,
        info.stopReason && `ended by ${info.stopReason.reason}${who(info.stopReason)}`,
        info.pauses && info.pauses.length ? `${info.pauses.length} pause(s)` : "")),
    failed, controls,
    h("p", {}, h("a", { href: `#/compositions/${encodeURIComponent(c)}`, text: "Compositions of this conversation" })),
    h("div", { class: "layout" }, playback,
      h("section", { "aria-label": "Chat transcript" }, h("h3", { text: "Chat" }),
        entries.length ? h("ol", { class: "transcript", id: "transcript" }, entries.map((e) => e.node)) : h("p", { text: "No chat." }))),
    h("h3", { text: "Files" }), files, retry, cobrowse,
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
  const request = h("button", { class: "primary", type: "submit", text: "Request a composition" });
  const why = h("p", { id: "compose-note", class: "hint" });
  const form = h("form", { class: "inline", id: "compose" },
    h("label", { for: "c-type" }, "Type", h("select", { id: "c-type", name: "type" }, h("option", { value: "video", text: "Video (MP4)" }), h("option", { value: "audio", text: "Audio (MP3)" }))),
    h("label", { for: "c-layout" }, "Layout", h("select", { id: "c-layout", name: "layout" }, h("option", { text: "GRID" }), h("option", { text: "SPOTLIGHT" }))),
    h("label", { for: "c-res" }, "Resolution", h("select", { id: "c-res", name: "resolution" }, ...["640x360", "1280x720", "320x240"].map((v) => h("option", { text: v })))),
    request);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const data = Object.fromEntries(new FormData(form));
    try {
      await call("POST", `${COMPOSITION}/request`, { conversationId: c, type: data.type, layout: data.layout, resolution: data.resolution, videoFormat: "mp4", audioFormat: "mp3" });
      say("Composition requested");
      refresh();
    } catch (e) { say(e.message, true); }
  });
  page(`Compositions of ${c}`, form, why, list);
  if (has("SUPERVISOR", "AUDITOR")) { // nothing recorded: nothing to compose (said before anyone asks)
    const found = await call("GET", `${API}/recordings/${encodeURIComponent(c)}`).catch(() => null);
    const recordings = found ? found.recordings || [] : [];
    if (found && !recordings.some((x) => x.streams && x.streams.some((s) => s.tracks.length))) {
      request.disabled = true;
      why.textContent = recordings.some((x) => !x.stopped) ? "The conversation is still being recorded: compose it once it ends."
        : "Nothing was recorded in this conversation: there is nothing to compose.";
    }
  }
  let timer = null;
  const refresh = async () => {
    clearTimeout(timer);
    const found = await call("GET", `${COMPOSITION}/query/conversation/${encodeURIComponent(c)}`);
    if (!found.compositions.length) list.replaceChildren(h("p", { id: "no-compositions", text: "No composition of this conversation yet." }));
    else list.replaceChildren(...found.compositions.map((comp) => {
      const failed = !["QUEUED", "PREPROCESSING", "PROCESSING", "COMPLETED"].includes(comp.state);
      const state = comp.state === "COMPLETED" ? dots(comp.state, comp.duration ? clock(comp.duration) : "")
        : failed ? comp.state : dots(comp.state, comp.progress !== undefined ? `${comp.progress}%` : "");
      const card = h("article", { class: "card", "data-state": comp.state },
        h("h3", { text: `${comp.type} · ${comp.name || comp.id}` }),
        h("p", {}, h("strong", { class: `composition-state${failed ? " bad" : ""}`, text: state })),
        failed && comp.error ? h("p", { class: "reason bad", text: comp.error.message || comp.error.code }) : null);
      const player = h("div", { class: "player" });
      if (comp.state === "COMPLETED") {
        card.append(h("button", { type: "button", text: "Play", onclick: async (event) => {
          event.target.disabled = true;
          try {
            const link = await call("GET", `${COMPOSITION}/player/${encodeURIComponent(c)}/${comp.id}/url/attachment`);
            player.replaceChildren(comp.type === "AUDIO" ? h("audio", { controls: true, src: link.url, "aria-label": comp.name || comp.id })
              : h("video", { controls: true, src: link.url, width: 320, "aria-label": comp.name || comp.id }),
            h("a", { href: link.url, download: "", text: " Download" }));
          } catch (e) { say(e.message, true); event.target.disabled = false; }
        } }));
      }
      if (has("SUPERVISOR", "SERVICE")) {
        card.append(" ", h("button", { type: "button", text: "Delete", onclick: async () => {
          try { await call("DELETE", `${COMPOSITION}/${encodeURIComponent(c)}/${comp.id}/delete`); say("Composition deleted"); refresh(); } catch (e) { say(e.message, true); }
        } }));
      }
      card.append(player);
      return card;
    }));
    if (found.compositions.some((x) => ["QUEUED", "PREPROCESSING", "PROCESSING"].includes(x.state))) timer = setTimeout(refresh, 1000);
  };
  leaving.push(() => clearTimeout(timer));
  await refresh().catch((e) => list.replaceChildren(h("p", { text: e.message })));
}

// ------------------------------------------------------------ administration

const PROVIDERS = {
  LOCAL_STORAGE: { name: "A folder on the recorder's machine", fields: [["path", "Folder"]], secrets: [] },
  AMAZON_S3: { name: "Amazon S3 (or S3-compatible)", fields: [["bucket", "Bucket"], ["region", "Region"], ["endpointUrl", "Endpoint URL (S3-compatible stores only)"]],
    secrets: [["accessKeyId", "Access key id"], ["secretAccessKey", "Secret access key"]] },
  AZURE_BLOB: { name: "Azure Blob Storage", fields: [["accountName", "Account name"], ["container", "Container"], ["endpointUrl", "Endpoint URL (optional)"]],
    secrets: [["accountKey", "Account key"]] },
  GOOGLE_CLOUD: { name: "Google Cloud Storage", fields: [["bucket", "Bucket"], ["endpointUrl", "Endpoint URL (optional)"]],
    secrets: [["serviceAccountKey", "Service account key (JSON)", "textarea"]] },
  SFTP_STORAGE: { name: "An SFTP server", fields: [["host", "Host"], ["port", "Port"], ["username", "User"], ["path", "Folder"], ["hostKey", "Host key (ssh-ed25519 AAAA…)"]],
    secrets: [["password", "Password"], ["privateKey", "Private key", "textarea"], ["passphrase", "Key passphrase"]] },
};
const CHECKS = {
  bucket: "The bucket, container or folder is there",
  write: "A test file can be written",
  read: "It reads back the same",
  modify: "It can be replaced",
  delete: "It can be deleted",
  throughput: "Upload and download speed",
};

function storageForm(app, profile) {
  const id = (name) => `${app}-${name}`;
  const provider = h("select", { id: id("provider"), name: "provider" }, // (a folder is set in the configuration only)
    ...Object.entries(PROVIDERS).map(([value, p]) => h("option", { value, text: p.name, selected: value === profile.provider,
      disabled: value === "LOCAL_STORAGE" && profile.provider !== value })));
  const input = (kind, name, label, control = "input", secret = false) => { // (ids per kind: fields repeat)
    const at = id(`${kind}-${name}`);
    const element = control === "textarea" ? h("textarea", { id: at, name, rows: 3 })
      : h("input", { id: at, name, type: secret ? "password" : "text", autocomplete: secret ? "new-password" : "off" });
    if (!secret && profile[name] !== undefined && profile.provider === kind) element.value = profile[name];
    if (secret) element.placeholder = profile.hasCredentials && profile.provider === kind ? "unchanged (write-only)" : "";
    return h("label", { for: at, "data-field": name }, label, element);
  };
  const groups = Object.fromEntries(Object.entries(PROVIDERS).map(([value, p]) => [value, h("fieldset", { "data-provider": value },
    h("legend", { text: p.name }), ...p.fields.map(([name, label]) => input(value, name, label)),
    ...p.secrets.map(([name, label, control]) => input(value, name, label, control, true)))]));
  const template = input("any", "keyTemplate", "Where each file goes (key template)");
  template.querySelector("input").value = profile.keyTemplate || "";
  const save = h("button", { type: "submit", text: "Save" });
  const local = h("p", { class: "hint", text: "A folder on the recorder's machine is set in the service's configuration only: choose another kind of storage to change it here." });
  const shown = () => {
    Object.entries(groups).forEach(([value, group]) => { group.hidden = value !== provider.value; group.disabled = value !== provider.value; });
    save.disabled = provider.value === "LOCAL_STORAGE";
    local.hidden = !save.disabled;
  };
  provider.addEventListener("change", shown);
  shown();
  const form = h("form", { class: "profile", id: id("profile") }, h("label", { for: id("provider") }, "Kind of storage", provider), ...Object.values(groups), template,
    local, h("p", {}, save));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const chosen = PROVIDERS[provider.value];
    const body = { provider: provider.value };
    const value = (name) => document.getElementById(id(`${provider.value}-${name}`)).value;
    for (const [name] of chosen.fields) { const v = value(name).trim(); if (v) body[name] = name === "port" ? Number(v) : v; }
    const credentials = {};
    for (const [name] of chosen.secrets) { const v = value(name); if (v) credentials[name] = v; }
    if (Object.keys(credentials).length) body.credentials = credentials;
    const keyTemplate = template.querySelector("input").value.trim();
    if (keyTemplate) body.keyTemplate = keyTemplate;
    try {
      await call("PUT", `${API}/storageproviders/${encodeURIComponent(app)}`, body);
      sayNext(`Saved the storage of ${app}`);
      route();
    } catch (e) { say(e.message, true); }
  });
  return form;
}

async function storage() {
  const sections = await Promise.all(me.applications.map(async (app) => {
    const section = h("section", { class: "card", "aria-label": `Storage of ${app}` }, h("h3", { text: app }));
    try {
      const profile = await call("GET", `${API}/storageproviders/${encodeURIComponent(app)}`);
      const origin = profile.source === "CONFIGURATION"
        ? "Set in the service's configuration. Saving here replaces it for this application (kept in the database, its credentials encrypted)."
        : "Set here or through the API (kept in the database, its credentials encrypted).";
      const checks = h("ul", { class: "checks", id: `checks-${app}`, "aria-live": "polite" });
      const verify = h("button", { class: "primary", type: "button", text: "Verify", onclick: async () => {
        verify.disabled = true;
        checks.replaceChildren(h("li", { text: "Writing, reading and deleting a test file…" }));
        try {
          const result = await call("POST", `${API}/storageproviders/${encodeURIComponent(app)}/verify`);
          const words = (text) => String(text || "").split(profile.path || "\u0000").join("the folder");
          const results = Object.entries(CHECKS).filter(([name]) => result[`${name}TestResult`]);
          const good = results.every(([name]) => result[`${name}TestResult`].passed);
          checks.replaceChildren(...results.map(([name, label]) => {
            const v = result[`${name}TestResult`];
            const detail = name === "throughput" && v.passed ? `${Math.round(v.throughputMbps)} Mbit/s` : v.passed ? "" : words(v.message);
            return h("li", { class: v.passed ? "ok" : "bad", text: `${label}${detail ? `: ${detail}` : ""}` });
          }), h("li", { id: `verdict-${app}`, class: good ? "ok" : "bad", text: good ? "The recorder can store files here." : "The recorder cannot store files here yet." }));
        } catch (e) { checks.replaceChildren(h("li", { class: "bad", text: e.message })); }
        verify.disabled = false;
      } });
      section.append(h("p", { class: "hint", text: origin }), storageForm(app, profile),
        h("h4", { text: "Check it" }), h("p", { text: "Writes a test file, reads it back, replaces and deletes it, then measures the speed." }), verify, checks);
    } catch (e) { section.append(h("p", { text: e.message })); }
    return section;
  }));
  page("Storage", h("div", { class: "cards" }, sections));
}

const EVENTS = ["recording.started", "recording.paused", "recording.resumed", "recording.stopped", "recording.failed",
  "recording.aborted", "recording.recovered", "recording.rules_changed", "track.started", "track.stopped", "upload.stored",
  "upload.failed", "chat_transcript.stored", "cobrowse_session.stored", "manifest.stored", "composition.completed", "composition.failed"];

function newSecret() { // a Standard Webhooks secret: whsec_ and the base64 of 32 random bytes
  const bytes = crypto.getRandomValues(new Uint8Array(32));
  return `whsec_${btoa(String.fromCharCode(...bytes))}`;
}

function subscriptionForm(app, base) {
  const url = h("input", { id: `${app}-hook-url`, name: "url", type: "url", required: true, placeholder: "https://backend.example/hooks" });
  const format = h("select", { id: `${app}-hook-format`, name: "format" },
    h("option", { value: "native", text: "Standard Webhooks (this recorder's events)" }), h("option", { value: "videosdk", text: "VideoSDK's" }), h("option", { value: "realtimekit", text: "RealtimeKit's" }));
  const events = h("fieldset", { class: "events" }, h("legend", { text: "Events (none ticked: every event)" }),
    ...EVENTS.map((e) => h("label", { class: "check" }, h("input", { type: "checkbox", name: "events", value: e }), e)));
  const secret = h("output", { id: `${app}-hook-secret`, class: "secret" });
  const form = h("form", { class: "profile", id: `${app}-subscribe` },
    h("label", { for: `${app}-hook-url` }, "URL the events are sent to", url), h("label", { for: `${app}-hook-format` }, "Format", format), events,
    h("p", {}, h("button", { class: "primary", type: "submit", text: "Add subscription" })), secret);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const chosen = [...form.querySelectorAll("input[name=events]:checked")].map((e) => e.value);
    const key = newSecret();
    try {
      await call("POST", base, { url: url.value, format: format.value, secret: key, ...(chosen.length ? { events: chosen } : {}) });
      sayNext(`Subscribed ${url.value}. Its signing secret is shown once on this page: copy it to your receiver.`);
      await route();
      const shownAgain = document.getElementById(`${app}-hook-secret`);
      if (shownAgain) shownAgain.replaceChildren(h("strong", { text: "Signing secret (shown once, never again): " }), h("code", { text: key }));
    } catch (e) { say(e.message, true); }
  });
  return form;
}

async function webhooks() {
  const sections = await Promise.all(me.applications.map(async (app) => {
    const base = `${API}/webhooks/${encodeURIComponent(app)}`;
    const section = h("section", { class: "card", "aria-label": `Webhooks of ${app}` }, h("h3", { text: app }));
    try {
      const found = await call("GET", base);
      for (const sub of found.subscriptions) {
        const deliveries = h("table", {});
        const load = async () => {
          const list = await call("GET", `${base}/${sub.id}/deliveries?limit=20`);
          deliveries.replaceChildren(
            h("thead", {}, h("tr", {}, ["Event", "State", "Tries", ""].map((t) => h("th", { scope: "col", text: t })))),
            h("tbody", {}, list.deliveries.map((d) => h("tr", {},
              h("td", { text: d.eventType || d.message }), h("td", { text: d.status }), h("td", { text: String(d.attempts) }),
              h("td", {}, h("button", { type: "button", text: "Send again", onclick: async () => {
                try { await call("POST", `${base}/${sub.id}/deliveries/${d.id}/redeliver`); say("Sent again"); load(); } catch (e) { say(e.message, true); }
              } }))))));
          if (!list.deliveries.length) deliveries.replaceChildren(h("caption", { text: "Nothing sent yet." }));
        };
        const recorder = h("input", { id: `replay-${sub.id}`, placeholder: "recorder id" });
        const shown = h("details", { class: "deliveries" }, h("summary", { text: "Deliveries" }), deliveries);
        shown.addEventListener("toggle", () => shown.open && load().catch((e) => say(e.message, true)));
        const n = sub.events ? sub.events.length : 0;
        const events = n ? `${n} event${n === 1 ? "" : "s"}` : "every event";
        section.append(h("article", { class: "subscription" },
          h("h4", { text: sub.url }), h("p", { class: "hint", text: dots(sub.format, events, sub.origin === "CONFIGURATION" ? "from the configuration" : "") }),
          h("form", { class: "inline", onsubmit: async (event) => {
            event.preventDefault();
            try { await call("POST", `${base}/${sub.id}/replay`, { recorderId: recorder.value }); say("Replay queued"); } catch (e) { say(e.message, true); }
          } }, h("label", { for: `replay-${sub.id}` }, "Send a recording's events again", recorder), h("button", { type: "submit", text: "Replay" })),
          shown,
          sub.origin === "CONFIGURATION" ? null : h("p", {}, h("button", { type: "button", text: "Delete subscription", onclick: async () => {
            try { await call("DELETE", `${base}/${sub.id}`); sayNext("Subscription deleted"); route(); } catch (e) { say(e.message, true); }
          } }))));
      }
      if (!found.subscriptions.length) section.append(h("p", { class: "hint", text: "No subscriptions yet: add one to be told of every recording's progress." }));
      section.append(h("h4", { text: "Add a subscription" }), subscriptionForm(app, base));
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
  page("Record a test call", h("p", { text: "Publishes this browser's camera and microphone to the recorder over WHIP, and shows the recording as it is written. Leaving this page ends the recording." }),
    h("p", {}, start, " ", stop), preview, sent, written);
  let pc = null; let resource = null; let ingest = null; let timer = null; let media = null; let recording = false;
  const recordingPath = () => `${API}/recordings/${idsPath(ingest)}`;
  const count = async () => { // what this browser sent, beside what the recorder wrote
    const stats = [...(await pc.getStats()).values()].filter((r) => r.type === "outbound-rtp");
    const video = stats.find((r) => r.kind === "video"); const audio = stats.find((r) => r.kind === "audio");
    sent.dataset.videoFrames = video ? video.framesSent : 0;
    sent.dataset.audioPackets = audio ? audio.packetsSent : 0;
    sent.textContent = `Sent: ${sent.dataset.videoFrames} video frames, ${sent.dataset.audioPackets} audio packets`;
  };
  const release = () => { if (pc) pc.close(); if (media) media.getTracks().forEach((t) => t.stop()); };
  // the page left, the tab closed: the publication and the recording end with it (requests that outlive the page)
  const abandon = () => {
    clearTimeout(timer);
    if (recording) {
      recording = false;
      if (resource) fetch(resource, { method: "DELETE", keepalive: true, headers: { Authorization: `Bearer ${ingest.token}` } }).catch(() => {});
      fetch(`${recordingPath()}/stop`, { method: "POST", keepalive: true, headers: { Authorization: `Bearer ${token}` } }).catch(() => {});
    }
    release();
  };
  window.addEventListener("pagehide", abandon);
  leaving.push(() => { window.removeEventListener("pagehide", abandon); abandon(); });
  const watch = async () => { // the recording as the recorder writes it; after the end, until every file is stored
    try {
      const info = await call("GET", recordingPath());
      const tracks = info.streams.flatMap((s) => s.tracks);
      if (recording) await count();
      const state = (t) => {
        const stored = (t.storage && t.storage.objectStorage) || {};
        if (stored.uploaded) return "stored";
        if (stored.error) return `not stored: ${stored.error.message}`;
        if (t.stopped) return "ended, being stored";
        const since = t.mediaStart || t.started;
        return since ? `being written: ${clock((Date.now() - ms(since)) / 1000)}` : "waiting for its first frame";
      };
      written.replaceChildren(h("li", { id: "call-state", text: `${info.state}: ${tracks.length} track(s)` }),
        ...tracks.map((t) => h("li", { class: "track", "data-type": t.type, "data-state": state(t), text: `${t.type} ${t.codec || ""}: ${state(t)}` })),
        LIVE.includes(info.state) ? null : h("li", {}, h("a", { id: "play-it-back", href: `#/recording/${idsPath(ingest)}`, text: "Play it back" })));
      const done = !LIVE.includes(info.state) && tracks.every((t) => state(t) === "stored" || state(t).startsWith("not stored"));
      if (!done) timer = setTimeout(watch, 1000);
    } catch (e) { say(e.message, true); }
  };
  const end = async (why) => {
    if (!recording) return;
    recording = false;
    stop.disabled = true;
    clearTimeout(timer);
    try {
      await count(); // the last figures, as the publication ends
      if (resource) await fetch(resource, { method: "DELETE", headers: { Authorization: `Bearer ${ingest.token}` } }).catch(() => {});
      release();
      await call("POST", `${recordingPath()}/stop`);
      say(why);
    } catch (e) { say(e.message, true); }
    watch();
  };
  start.addEventListener("click", async () => {
    start.disabled = true;
    try { // the camera first: no recording is made for a browser that may not send
      media = await navigator.mediaDevices.getUserMedia({ audio: true, video: true });
    } catch (e) {
      const denied = e.name === "NotAllowedError" || e.name === "SecurityError";
      say(denied ? "The camera or microphone was refused: allow them for this site in the browser's settings, then start again. Nothing was recorded."
        : `No camera or microphone could be opened (${e.name}): nothing was recorded.`, true);
      start.disabled = false;
      return;
    }
    try {
      preview.srcObject = media;
      const conversation = `test-call-${new Date().toISOString().replace(/[:.]/g, "-")}`;
      ingest = await call("POST", `${API}/ingests`, { applicationId: app, conversationId: conversation, userId: me.subject });
      recording = true;
      pc = new RTCPeerConnection();
      media.getTracks().forEach((t) => pc.addTransceiver(t, { direction: "sendonly" }));
      pc.addEventListener("connectionstatechange", () => {
        if (["failed", "closed"].includes(pc.connectionState)) end("The connection to the recorder was lost: the recording is stopped.");
      });
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
      say("Recording: leaving this page stops it");
      watch();
    } catch (e) {
      await end(`Test call failed: ${e.message}`);
      say(`Test call failed: ${e.message}`, true);
      start.disabled = false;
    }
  });
  stop.addEventListener("click", () => end("Stopped"));
}

// ------------------------------------------------------------ routing

async function route() {
  leaving.forEach((stop) => stop());
  leaving = [];
  if (carried) { say(...carried); carried = null; } else say("");
  if (!token) return signIn();
  try {
    if (!me) me = await call("GET", `${API}/me`);
  } catch (e) {
    token = null; me = null; sessionStorage.removeItem("recorder.token");
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
    else { // the home page is the first one the roles allow (what was just said goes with it)
      if (statusLine.textContent) sayNext(statusLine.textContent, statusLine.className === "error");
      location.hash = has("SUPERVISOR", "AUDITOR") ? "#/conversations" : has("AGENT") ? "#/test-call" : has("ADMIN") ? "#/admin/storage" : "#/conversations";
    }
  } catch (e) {
    page("Not available", h("p", { id: "refusal", text: e.message }));
    say(e.message, true);
  }
}

window.addEventListener("hashchange", route);
route();
