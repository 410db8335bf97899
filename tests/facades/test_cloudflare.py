"""The RealtimeKit recordings API as Cloudflare serves it, driven by Cloudflare's own SDKs with only the base URL
and the API token changed: the Python SDK (`cloudflare` on PyPI) and the TypeScript SDK (`cloudflare` on npm, run
with node), every recordings method of each over a real Janus room with real publishers. Each answer is checked
against the SDK's declared type: the Python SDK's pydantic models (every field of its type, no field they do not
declare), the TypeScript SDK's .d.ts made into JSON schemas. The `realtimekit` webhooks are verified as
RealtimeKit's receivers do (`rtk-signature` with the served public key over `JSON.stringify(body)`, in node too)
and read in camelCase."""

from __future__ import annotations

import asyncio
import json
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, Literal

import aiohttp
import httpx
import pydantic
import pytest
from cloudflare import (
    AsyncCloudflare,
    AuthenticationError,
    BadRequestError,
    ConflictError,
    NotFoundError,
    PermissionDeniedError,
)
from cloudflare.types.realtime_kit import (
    RecordingGetActiveRecordingsResponse,
    RecordingGetOneRecordingResponse,
    RecordingGetRecordingsResponse,
    RecordingPauseResumeStopRecordingResponse,
    RecordingStartRecordingsResponse,
    RecordingStartTrackRecordingResponse,
)
from pytest_aiohttp import AiohttpClient

from tests.builders import Client, make_client, make_settings
from tests.client import API
from tests.events.receiver import Receiver, new_secret
from tests.eventually import eventually
from tests.janus_host import JanusHost
from tests.publisher import Publisher, display
from tests.storage_servers import NODE_MODULES

TOKEN, ACCOUNT, APP = "cf-api-token-0123456789abcdef0123", "0123456789abcdef0123456789abcdef", "rtk-app-1"
OTHER_TOKEN = "cf-api-token-of-another-account-0123"
TOOLS = NODE_MODULES.parent
SCRIPT = Path(__file__).with_name("cloudflare_sdk.js")
CAMEL = {  # the webhook's recording object: RealtimeKit's receivers read these
    "id",
    "audioDownloadUrl",
    "downloadUrl",
    "downloadUrlExpiry",
    "fileSize",
    "invokedTime",
    "outputFileName",
    "sessionId",
    "startedTime",
    "status",
    "stoppedTime",
    "recordingDuration",
    "startReason",
    "stopReason",
}


def conforms(model: type[pydantic.BaseModel], answer: Any) -> Any:
    """`answer` as the SDK's `model` types it: validated (types, enums, integers), and no field it does not
    declare anywhere in it. The parsed model."""
    parsed = model.model_validate(answer)
    extras = list(_extras(parsed, model.__name__))
    assert not extras, f"{model.__name__}: fields the SDK does not declare: {extras}"
    return parsed


def _extras(value: Any, where: str) -> Any:
    if isinstance(value, pydantic.BaseModel):
        yield from (f"{where}.{name}" for name in value.model_extra or {})
        for name in type(value).model_fields:
            yield from _extras(getattr(value, name), f"{where}.{name}")
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _extras(item, f"{where}[{i}]")


@pytest.fixture
async def client(aiohttp_client: AiohttpClient, tmp_path: Path, janus: JanusHost) -> Client:
    tokens = [
        {"api_token": TOKEN, "account_id": ACCOUNT, "app_id": APP, "application_id": "app1"},
        {"api_token": OTHER_TOKEN, "account_id": "another", "app_id": "another-app", "application_id": "app2"},
    ]
    settings = make_settings(tmp_path, janus.url, cloudflare_tokens=tokens)
    settings.applications.append(settings.applications[0].model_copy(update={"id": "app2"}))  # another tenant
    return await make_client(aiohttp_client, settings)


@pytest.fixture
async def publishers(http: aiohttp.ClientSession, janus: JanusHost, room: int) -> AsyncIterator[list[Publisher]]:
    people = [Publisher(http, janus.url, room, display(user)) for user in ("alice", "bob")]
    for person in people:
        await person.join()
        await person.publish()
    yield people
    for person in people:
        await person.leave()


@pytest.fixture(scope="module")
def sdk_schema(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The TypeScript SDK's recordings types as JSON schemas (no additional properties)."""
    declarations = NODE_MODULES / "cloudflare" / "resources" / "realtime-kit" / "recordings.d.ts"
    out = tmp_path_factory.mktemp("sdk") / "recordings.schema.json"
    generator = NODE_MODULES / "ts-json-schema-generator" / "dist" / "ts-json-schema-generator.js"
    made = subprocess.run(
        ["node", str(generator), "--path", str(declarations), "--type", "*", "--no-type-check", "-o", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    if made.returncode != 0:
        raise RuntimeError(f"cannot make the SDK's schemas (scripts/test.sh installs them): {made.stderr[-2000:]}")
    return out


async def webhook_receiver(client: Client) -> Receiver:
    """A receiver of the `realtimekit` format that verifies rtk-signature with the key the service serves."""
    served = await client.json("GET", "/client/v4/.well-known/webhooks.json")
    assert served == await client.json("GET", "/realtimekit/.well-known/webhooks.json")
    assert served["publicKey"].startswith("-----BEGIN PUBLIC KEY-----")
    receiver = Receiver(secrets={"/rtk": new_secret()}, rtk_keys={"/rtk": served["publicKey"]})
    await receiver.start()
    hook = {"url": receiver.url("/rtk"), "secret": receiver.secrets["/rtk"], "format": "realtimekit"}
    await client.json("POST", f"{API}/webhooks/app1", 201, json=hook)
    return receiver


async def test_the_python_sdk_calls_every_recordings_method_and_gets_its_own_types(
    client: Client, room: int, publishers: list[Publisher], http: aiohttp.ClientSession
) -> None:
    receiver = await webhook_receiver(client)
    requests: list[str] = []

    async def count(request: httpx.Request) -> None:
        requests.append(f"{request.method} {request.url.path}")

    base = str(client.make_url("/client/v4"))
    sdk = AsyncCloudflare(
        api_token=TOKEN, base_url=base, http_client=httpx.AsyncClient(event_hooks={"request": [count]})
    )
    recordings = sdk.realtime_kit.recordings
    try:
        raw = await recordings.with_raw_response.start_recordings(
            APP, account_id=ACCOUNT, meeting_id=str(room), max_seconds=600, file_name_prefix="cf"
        )
        assert raw.status_code == 200  # (Cloudflare's, not 201)
        started = conforms(RecordingStartRecordingsResponse, raw.http_response.json())
        assert started.success and started.data is not None and started.data.status == "RECORDING"
        assert started.data.start_reason is not None and started.data.start_reason.reason == "API_CALL"
        assert started.data.output_file_name.startswith(f"cf/org1/{room}/{started.data.id}/")
        recording_id = started.data.id
        raw_active = await recordings.with_raw_response.get_active_recordings(str(room), account_id=ACCOUNT, app_id=APP)
        active = conforms(RecordingGetActiveRecordingsResponse, raw_active.http_response.json())
        assert active.data.id == recording_id
        await asyncio.sleep(1.5)
        actions: list[tuple[Literal["pause", "resume"], str]] = [("pause", "PAUSED"), ("resume", "RECORDING")]
        for action, status in actions:
            raw_acted = await recordings.with_raw_response.pause_resume_stop_recording(
                recording_id, action=action, account_id=ACCOUNT, app_id=APP
            )
            acted = conforms(RecordingPauseResumeStopRecordingResponse, raw_acted.http_response.json())
            assert acted.data is not None and acted.data.status == status
        await asyncio.sleep(1.5)
        raw_listed = await recordings.with_raw_response.get_recordings(
            APP,
            account_id=ACCOUNT,
            meeting_id=str(room),
            page_no=1,  # (sent as 1)
            per_page=10.0,  # (the SDK's type is float: sent as 10.0)
            status=["RECORDING", "PAUSED"],  # (sent as status=RECORDING&status=PAUSED)
            sort_by="invokedTime",
            sort_order="DESC",
            expired=False,
            search=str(room),
        )
        listed = conforms(RecordingGetRecordingsResponse, raw_listed.http_response.json())
        assert [r.id for r in listed.data] == [recording_id] and listed.paging.total_count == 1
        expired = await recordings.get_recordings(APP, account_id=ACCOUNT, expired=True)
        assert expired.data == []
        raw_stopped = await recordings.with_raw_response.pause_resume_stop_recording(
            recording_id, action="stop", account_id=ACCOUNT, app_id=APP
        )
        stopped = conforms(RecordingPauseResumeStopRecordingResponse, raw_stopped.http_response.json())
        assert stopped.data is not None and stopped.data.status in ("UPLOADING", "UPLOADED")

        async def fetched() -> Any:
            one = await recordings.with_raw_response.get_one_recording(recording_id, account_id=ACCOUNT, app_id=APP)
            return one.http_response.json()

        done = await eventually(fetched, lambda got: got["data"]["status"] == "UPLOADED", within=20, what="UPLOADED")
        one = conforms(RecordingGetOneRecordingResponse, done)
        assert one.data is not None and one.data.download_url and one.data.audio_download_url
        assert one.data.download_url_expiry is not None and isinstance(one.data.recording_duration, int)
        assert one.data.stop_reason is not None and one.data.stop_reason.reason == "API_CALL"
        assert one.data.file_size and one.data.output_file_name.endswith(".webm")
        async with http.get(one.data.download_url) as answer:  # a signed link: no Authorization
            assert answer.status == 200 and len(await answer.read()) == one.data.file_size

        raw_track = await recordings.with_raw_response.start_track_recording(
            APP, account_id=ACCOUNT, meeting_id=str(room), user_ids=["bob"], layers={"default": {"media_kind": "audio"}}
        )
        track = conforms(RecordingStartTrackRecordingResponse, raw_track.http_response.json())
        assert track.data is not None and track.data.recording.status == "RECORDING"
        await asyncio.sleep(1.5)
        await recordings.pause_resume_stop_recording(
            track.data.recording.id, action="stop", account_id=ACCOUNT, app_id=APP
        )
        instance = await client.json("GET", f"{API}/recordings/{room}")
        ours = next(r for r in instance["recordings"] if r["recorderId"] == track.data.recording.id)
        users_kinds = {(s["userId"], t["type"]) for s in ours["streams"] for t in s["tracks"]}
        assert users_kinds == {("bob", "AUDIO")}, users_kinds  # user_ids honoured: bob's audio only

        # errors the SDK reads (APIError.errors), and a 409 it does not retry
        before = len(requests)
        with pytest.raises(ConflictError) as conflict:
            await recordings.pause_resume_stop_recording(recording_id, action="pause", account_id=ACCOUNT, app_id=APP)
        assert len(requests) - before == 1, requests[before:]
        assert conflict.value.errors[0].code == 409 and conflict.value.errors[0].message
        with pytest.raises(BadRequestError) as refused:
            await recordings.start_recordings(APP, account_id=ACCOUNT, meeting_id=str(room), url="https://example.com")
        assert "url is not supported" in (refused.value.errors[0].message or "")
        for unsupported, why in (
            ({"allow_multiple_recordings": True}, "allow_multiple_recordings is not supported"),
            ({"video_config": {"codec": "H264", "width": 1280}}, "video_config is not supported"),
            ({"audio_config": {"codec": "AAC"}}, "audio_config.codec and audio_config.channel is not supported"),
            ({"interactive_config": {"type": "ID3"}}, "interactive_config is not supported"),
            ({"rtmp_out_config": {"rtmp_url": "rtmp://example.com/live"}}, "rtmp_out_config is not supported"),
            ({"realtimekit_bucket_config": {"enabled": False}}, "realtimekit_bucket_config.enabled false"),
        ):
            with pytest.raises(BadRequestError) as refused:
                await recordings.start_recordings(APP, account_id=ACCOUNT, meeting_id=str(room), **unsupported)
            assert (refused.value.errors[0].message or "").startswith(why), refused.value.errors
        with pytest.raises(BadRequestError):
            await recordings.start_track_recording(
                APP, account_id=ACCOUNT, meeting_id=str(room), layers={"a": {}, "b": {}}
            )
        ours_now = await client.json("GET", f"{API}/recordings/{room}")
        assert len(ours_now["recordings"]) == 2, "nothing refused was started"
        async with AsyncCloudflare(api_token="not-a-token-0123456789", base_url=base, max_retries=0) as stranger:
            with pytest.raises(AuthenticationError) as unknown:
                await stranger.realtime_kit.recordings.get_recordings(APP, account_id=ACCOUNT)
            assert unknown.value.errors[0].code == 10000
        async with AsyncCloudflare(api_token=OTHER_TOKEN, base_url=base, max_retries=0) as other:
            with pytest.raises(PermissionDeniedError):  # a valid token of another account and app (and tenant)
                await other.realtime_kit.recordings.get_one_recording(recording_id, account_id=ACCOUNT, app_id=APP)
            theirs = other.realtime_kit.recordings
            with pytest.raises(NotFoundError):  # on its own paths it sees its own application's recordings only
                await theirs.get_one_recording(recording_id, account_id="another", app_id="another-app")
            with pytest.raises(NotFoundError):  # nor acts on them
                await theirs.pause_resume_stop_recording(
                    track.data.recording.id, action="stop", account_id="another", app_id="another-app"
                )
            assert (await theirs.get_recordings("another-app", account_id="another")).data == []
    finally:
        await sdk.close()

    # the webhooks: rtk-signature verified (the receiver), the camelCase object RealtimeKit's receivers read
    got = await eventually(
        lambda: _bodies(receiver), lambda got: len(got) >= 6, within=20, what="the RealtimeKit webhooks"
    )
    await receiver.stop()
    assert not receiver.errors, receiver.errors
    first = [b for b in got if b["recording"]["id"] == recording_id]
    assert [b["recording"]["status"] for b in first] == ["RECORDING", "PAUSED", "RECORDING", "UPLOADING", "UPLOADED"]
    assert all(b["event"] == "recording.statusUpdate" and set(b["recording"]) == CAMEL for b in first)
    uploaded = first[-1]["recording"]
    assert uploaded["outputFileName"].endswith(".webm") and isinstance(uploaded["recordingDuration"], int)
    assert uploaded["downloadUrl"] and uploaded["stopReason"]["caller"]["userId"] is None
    # RealtimeKit's own sample verifies in node: crypto.verify('RSA-SHA256', JSON.stringify(body), key, sig)
    key = (await client.json("GET", "/client/v4/.well-known/webhooks.json"))["publicKey"]
    signed = [
        (json.loads(receiver.raw[r.msg_id][0]), _header(receiver.raw[r.msg_id][1], "rtk-signature"))
        for r in receiver.at("/rtk")
    ]
    verify = (
        "const crypto = require('crypto'); const [key, signed] = JSON.parse(require('fs').readFileSync(0, 'utf8'));"
        "console.log(signed.map(([payload, signature]) => crypto.verify('RSA-SHA256',"
        " Buffer.from(JSON.stringify(payload)), key, Buffer.from(signature, 'base64'))).every(Boolean))"
    )
    checked = await asyncio.to_thread(
        subprocess.run, ["node", "-e", verify], input=json.dumps([key, signed]), capture_output=True, text=True
    )
    assert checked.stdout.strip() == "true", (checked.stdout, checked.stderr)


def _header(headers: dict[str, str], name: str) -> str:
    return next(value for key, value in headers.items() if key.lower() == name)


async def _bodies(receiver: Receiver) -> list[dict[str, Any]]:
    return [r.body for r in receiver.at("/rtk")]


async def test_the_typescript_sdk_calls_every_recordings_method_and_gets_its_declared_types(
    client: Client, room: int, publishers: list[Publisher], sdk_schema: Path
) -> None:
    args = {
        "base": str(client.make_url("/client/v4")),
        "token": TOKEN,
        "account": ACCOUNT,
        "app": APP,
        "meeting": str(room),
        "schema": str(sdk_schema),
    }
    node = await asyncio.create_subprocess_exec(
        "node", str(SCRIPT), str(TOOLS), json.dumps(args), stdout=asyncio.subprocess.PIPE
    )
    out, _ = await asyncio.wait_for(node.communicate(), 90)
    result = json.loads(out)
    assert node.returncode == 0 and "failed" not in result, result
    methods = {call["method"].split("(")[0] for call in result["calls"]}
    assert methods == {
        "startRecordings",
        "getActiveRecordings",
        "pauseResumeStopRecording",
        "getRecordings",
        "getOneRecording",
        "startTrackRecording",
    }
    for call in result["calls"]:
        assert call["errors"] == [], (call["method"], call["errors"], call["answer"])
    statuses = [call["answer"]["data"]["status"] for call in result["calls"] if "(" in call["method"]]
    assert statuses[:2] == ["PAUSED", "RECORDING"] and statuses[2] in ("UPLOADING", "UPLOADED")
    one = next(call["answer"]["data"] for call in result["calls"] if call["method"] == "getOneRecording")
    assert one["status"] == "UPLOADED" and one["download_url"] and one["audio_download_url"]
    # the SDK read Cloudflare's error envelope, and did not retry the 409
    conflict = result["conflict"]
    assert conflict["status"] == 409 and conflict["tries"] == 1 and conflict["errors"][0]["message"], conflict
    assert all(
        path.startswith(f"/client/v4/accounts/{ACCOUNT}/realtime/kit/{APP}/recordings")
        for path in (r.split(" ", 1)[1] for r in result["requests"])
    )
