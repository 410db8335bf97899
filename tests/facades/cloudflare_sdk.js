// Cloudflare's TypeScript SDK (`cloudflare` on npm) drives the RealtimeKit recordings API as a customer's code
// would, with only `baseURL` and the API token changed; every answer is checked against the SDK's declared
// type (a JSON schema made from its .d.ts by ts-json-schema-generator: no field it does not declare, every
// declared one of its type). Prints {calls: [{method, type, errors}], conflict: {...}, requests} as JSON.
"use strict";
const [tools, argsJson] = process.argv.slice(2);
const args = JSON.parse(argsJson);
const Cloudflare = require(`${tools}/node_modules/cloudflare`).default;
const Ajv = require(`${tools}/node_modules/ajv`).default;

const schema = require(args.schema);
const ajv = new Ajv({ allErrors: true, strict: false });
ajv.addSchema(schema, "sdk");
const calls = [];
function check(method, type, answer) {
  const validate = ajv.getSchema(`sdk#/definitions/${type}`);
  const ok = validate(answer);
  calls.push({ method, type, errors: ok ? [] : validate.errors.map((e) => `${e.instancePath} ${e.message}`), answer });
  return answer;
}
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function main() {
  const requests = [];
  const client = new Cloudflare({
    apiToken: args.token,
    baseURL: args.base,
    fetch: (url, init) => {
      requests.push(`${init.method} ${new URL(url).pathname}`);
      return fetch(url, init);
    },
  });
  const rk = client.realtimeKit.recordings;
  const scope = { account_id: args.account, app_id: args.app };
  const started = check("startRecordings", "RecordingStartRecordingsResponse",
    await rk.startRecordings(args.app, { account_id: args.account, meeting_id: args.meeting, max_seconds: 600 }));
  const id = started.data.id;
  check("getActiveRecordings", "RecordingGetActiveRecordingsResponse", await rk.getActiveRecordings(args.meeting, scope));
  await sleep(1500);
  check("pauseResumeStopRecording(pause)", "RecordingPauseResumeStopRecordingResponse",
    await rk.pauseResumeStopRecording(id, { ...scope, action: "pause" }));
  check("pauseResumeStopRecording(resume)", "RecordingPauseResumeStopRecordingResponse",
    await rk.pauseResumeStopRecording(id, { ...scope, action: "resume" }));
  await sleep(1500);
  check("getRecordings", "RecordingGetRecordingsResponse", await rk.getRecordings(args.app, {
    account_id: args.account, meeting_id: args.meeting, page_no: 1, per_page: 10, status: ["RECORDING", "PAUSED"],
    sort_by: "invokedTime", sort_order: "DESC", expired: false, search: args.meeting,
  }));
  check("pauseResumeStopRecording(stop)", "RecordingPauseResumeStopRecordingResponse",
    await rk.pauseResumeStopRecording(id, { ...scope, action: "stop" }));
  let one;
  for (let i = 0; i < 100; i++) {  // until every file is stored
    one = await rk.getOneRecording(id, scope);
    if (one.data.status === "UPLOADED") break;
    await sleep(200);
  }
  check("getOneRecording", "RecordingGetOneRecordingResponse", one);
  const track = check("startTrackRecording", "RecordingStartTrackRecordingResponse",
    await rk.startTrackRecording(args.app, { account_id: args.account, meeting_id: args.meeting }));
  await sleep(1500);
  await rk.pauseResumeStopRecording(track.data.recording.id, { ...scope, action: "stop" });
  let conflict = null;
  const before = requests.length;
  try {
    await rk.pauseResumeStopRecording(id, { ...scope, action: "pause" });  // stopped: 409, not retried
  } catch (error) {
    conflict = { name: error.constructor.name, status: error.status, errors: error.errors, tries: requests.length - before };
  }
  console.log(JSON.stringify({ calls, conflict, requests, recordingId: id, trackId: track.data.recording.id }));
}

main().catch((error) => {
  console.log(JSON.stringify({ failed: String(error && error.stack || error), status: error.status, body: error.error }));
  process.exit(1);
});
