"""The VideoSDK facade as VideoSDK's own clients call it: the seed's Python examples (`start_track_recording`,
`stop_track_recording`), run as they are written with only the URL, the token and the placeholders changed,
against a real Janus room with a real publisher; files where VideoSDK puts them; its webhooks received."""

from __future__ import annotations

import asyncio
import contextlib
import io
import math
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import av
import jwt
import pytest
from pytest_aiohttp import AiohttpClient

from tests.builders import Client, make_client, make_settings
from tests.client import API, uploaded
from tests.events.receiver import Receiver, new_secret
from tests.eventually import eventually
from tests.flashbeep import BeepTrack, FlashTrack, Signal
from tests.janus_host import JanusHost
from tests.publisher import Publisher, display

API_KEY, SECRET = "vsdk-test-key", "vsdk-test-secret-0123456789abcdef"

# The seed's examples (shared/spec/videosdk-track-recording.txt), as written; only the URL, the token and the
# "<...>" placeholders are filled in below.
SEED_START = """
import requests

def start_track_recording():
    roomId = "<YOUR ROOM ID>"
    participantId = "<PARTICIPANT ID>"
    kind = "<YOUR STREAM KIND>"
    fileFormat = "<YOUR FILE FORMAT>"
    bucketDirPath = "<YOUR CLOUD STORAGE BUCKET PATH>"
    webhookUrl = "<YOUR WEBHOOK URL>"

    url = "https://api.videosdk.live/v2/recordings/participant/track/start"
    headers = {
        "Authorization": "$YOUR_TOKEN",
        "Content-Type": "application/json",
    }
    body = {
        "roomId": roomId,
        "participantId": participantId,
        "kind": kind,
        "fileFormat": fileFormat,
        "bucketDirPath": bucketDirPath,
        "webhookUrl": webhookUrl,
    }

    response = requests.post(url, json=body, headers=headers)
    print(response.json())

# Example usage
start_track_recording()
"""
SEED_STOP = """
import requests

def stop_track_recording():
    roomId = "<YOUR ROOM ID>"
    participantId = "<PARTICIPANT ID>"
    kind = "<YOUR STREAM KIND>"

    url = "https://api.videosdk.live/v2/recordings/participant/track/stop"
    headers = {
        "Authorization": "$YOUR_TOKEN",
        "Content-Type": "application/json",
    }
    body = {
        "roomId": roomId,
        "participantId": participantId,
        "kind": kind,
    }

    response = requests.post(url, json=body, headers=headers)
    print(response.json())

# Example usage
stop_track_recording()
"""


PREFIX = "participant-track-recording-"
# the keys of the seed's example payload of each webhook type (shared/spec/videosdk-track-recording.txt)
SEED_DATA = {name: {"meetingId", "sessionId", "participantId", "kind"} for name in ("starting", "started", "stopping")}
SEED_DATA |= {"stopped": SEED_DATA["started"] | {"fileDetails"}, "failed": SEED_DATA["started"]}


def seed_shaped(body: dict[str, Any]) -> str:
    """The webhook's step (starting, ...), after checking it has exactly the seed's shape for its type."""
    assert set(body) == {"webhookType", "data"} and body["webhookType"].startswith(PREFIX), body
    step: str = body["webhookType"].removeprefix(PREFIX)
    data = body["data"]
    assert set(data) == SEED_DATA[step], body
    assert all(isinstance(data[k], str) for k in ("meetingId", "sessionId", "participantId", "kind")), body
    assert data["kind"] in ("audio", "video", "screen_audio", "screen_video"), body
    if step == "stopped":
        assert [set(d) for d in data["fileDetails"]] == [{"filePath", "fileUrl"}], body
        assert all(isinstance(v, str) for d in data["fileDetails"] for v in d.values()), body
    return step


def token(secret: str = SECRET, **claims: Any) -> str:
    """A token as VideoSDK's guide makes one (`expiresIn: '120m'`)."""
    payload = {
        "apikey": API_KEY,
        "permissions": ["allow_join"],
        "version": 2,
        "roles": ["crawler"],
        "iat": int(time.time()),
        "exp": int(time.time()) + 7200,
        **claims,
    }
    return jwt.encode(payload, secret, algorithm="HS256")


async def run_seed(code: str, base: str, values: dict[str, str], auth: str) -> str:
    """Run a seed example with its URL, token and placeholders filled in; what it printed."""
    code = code.replace("https://api.videosdk.live", base).replace("$YOUR_TOKEN", auth)
    for placeholder, value in values.items():
        code = code.replace(f"<{placeholder}>", value)
    printed = io.StringIO()

    def run() -> None:
        with contextlib.redirect_stdout(printed):
            exec(compile(code, "videosdk-seed-example", "exec"), {})

    await asyncio.to_thread(run)
    return printed.getvalue().strip()


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    running = Receiver(secrets={"/videosdk": "", "/videosdk-video": "", "/bob": ""})
    await running.start()
    yield running
    await running.stop()


@pytest.fixture
async def client(aiohttp_client: AiohttpClient, tmp_path: Path, janus: JanusHost) -> Client:
    settings = make_settings(
        tmp_path,
        janus.url,
        videosdk_keys=[{"api_key": API_KEY, "secret": SECRET, "application_id": "app1"}],
        webhook_poll_seconds=0.2,
    )
    return await make_client(aiohttp_client, settings)


async def test_the_seeds_examples_record_a_participants_tracks_where_videosdk_puts_them(
    client: Client, janus: JanusHost, http: aiohttp.ClientSession, room: int, tmp_path: Path, receiver: Receiver
) -> None:
    base = str(client.make_url("/videosdk")).rstrip("/")
    alice = Publisher(http, janus.url, room, display("alice"))
    signal = Signal(math.floor(time.time()), 0.0, 880.0)
    values = {"YOUR ROOM ID": str(room), "PARTICIPANT ID": "alice", "YOUR FILE FORMAT": "webm"}
    values |= {"YOUR CLOUD STORAGE BUCKET PATH": "recordings/2026", "YOUR WEBHOOK URL": receiver.url("/videosdk")}
    try:
        await alice.join()
        await alice.publish([FlashTrack(signal), BeepTrack(signal)])
        for kind, hook in (("audio", "/videosdk"), ("video", "/videosdk-video")):  # the second joins the room's
            start = {**values, "YOUR STREAM KIND": kind, "YOUR WEBHOOK URL": receiver.url(hook)}  # (its own URL)
            printed = await run_seed(SEED_START, base, start, token())
            assert printed == "track recording started successfully."
        live = await client.recording(await client.json("GET", f"{API}/recordings/{room}/active"))
        assert live["rules"]["include"] == [{"userId": "alice", "kind": "audio"}, {"userId": "alice", "kind": "video"}]
        await client.wait_tracks(live, "alice", 2)
        await asyncio.sleep(1.5)
        printed = await run_seed(SEED_STOP, base, {**values, "YOUR STREAM KIND": "audio"}, token())
        assert printed == "track recording stopped successfully."
        await asyncio.sleep(1)
        printed = await run_seed(SEED_STOP, base, {**values, "YOUR STREAM KIND": "video"}, token())
        assert printed == "track recording stopped successfully."
    finally:
        await alice.leave()
    path = f"{API}/recordings/{live['conversationId']}/{live['recorderId']}/{live['instanceId']}"
    info = await client.wait_for(path, uploaded)
    assert info["state"] == "STOPPED" and info["stopReason"]["caller"] == {"name": API_KEY, "type": "API_KEY"}
    for track in (t for s in info["streams"] for t in s["tracks"]):
        key = track["storage"]["objectStorage"]["location"]
        kind = track["type"].lower()
        assert key == f"recordings/2026/{live['recorderId']}/alice/{kind}/{track['id']}.webm", key
        with av.open(str(tmp_path / "storage" / key)) as container:
            assert sum(1 for _ in container.decode(container.streams[0])) > 10
    # the webhooks of each segment, VideoSDK's shapes, in order
    segments = sum(len(s["tracks"]) for s in info["streams"])
    got = await eventually(
        lambda: _ready(receiver.at("/videosdk")),
        lambda got: sum(r.body["webhookType"].endswith("-stopped") for r in got) == segments,
        within=15,
        what="a stopped webhook for every segment",
    )
    for kind in ("audio", "video"):
        steps = [r.body for r in got if r.body["data"]["kind"] == kind]
        names = [seed_shaped(b) for b in steps]
        segments_of_kind = len([t for s in info["streams"] for t in s["tracks"] if t["type"] == kind.upper()])
        # one `starting` for the start; each segment (a kind started or stopped beside it starts a new one: the
        # publication is subscribed again) is started, stopping, stopped
        assert names[0] == "starting" and names.count("starting") == 1, names
        assert names.count("started") == names.count("stopping") == names.count("stopped") == segments_of_kind
        assert all(b["data"] | {"meetingId": str(room), "participantId": "alice"} == b["data"] for b in steps)
        for step in (b for b in steps if b["webhookType"].endswith("-stopped")):
            (detail,) = step["data"]["fileDetails"]
            assert detail["filePath"].startswith(f"recordings/2026/{live['recorderId']}/alice/{kind}/")
    # the second start's own webhookUrl is told about its kind from its start on
    video = [seed_shaped(r.body) for r in receiver.at("/videosdk-video") if r.body["data"]["kind"] == "video"]
    assert video[0] == "starting" and video.count("stopped") >= 1, video


async def test_starting_when_accepted_started_at_the_first_frame_and_another_apis_recording_left_alone(
    client: Client, janus: JanusHost, http: aiohttp.ClientSession, room: int, receiver: Receiver
) -> None:
    start_url, stop_url = (
        "/videosdk/v2/recordings/participant/track/start",
        "/videosdk/v2/recordings/participant/track/stop",
    )
    auth = {"Authorization": token()}
    native = await client.start(room, str(room))  # the room recorded through the recorder's own API
    body = {"roomId": str(room), "participantId": "bob", "kind": "audio", "webhookUrl": receiver.url("/bob")}
    refused = await client.json("POST", start_url, 409, json=body, headers=auth)
    assert (refused["statusCode"], refused["error"]) == (409, "Conflict") and "another API" in refused["message"]
    await client.json("POST", stop_url, 404, json=body, headers=auth)
    live = await client.recording(native)
    assert live["state"] == "ACTIVE" and live["rules"] == {"include": [], "exclude": []}, live
    await client.stop(native)

    assert await client.json("POST", start_url, json=body, headers=auth) == "track recording started successfully."
    await eventually(  # accepted: starting, although bob has not joined yet
        lambda: _ready([seed_shaped(r.body) for r in receiver.at("/bob")]),
        lambda steps: steps == ["starting"],
        within=10,
    )
    await asyncio.sleep(1.5)
    assert [seed_shaped(r.body) for r in receiver.at("/bob")] == ["starting"], "started before any frame"
    bob = Publisher(http, janus.url, room, display("bob"))
    try:
        await bob.join()
        published = time.time()
        await bob.publish()
        got = await eventually(
            lambda: _ready(receiver.at("/bob")), lambda got: len(got) >= 2, within=15, what="bob's started"
        )
        assert seed_shaped(got[1].body) == "started" and got[1].at >= published, got
        assert got[1].at - got[0].at >= 1.5
        await client.json("POST", stop_url, json=body, headers=auth)
    finally:
        await bob.leave()


async def test_a_start_that_cannot_join_tells_failed_to_its_url_and_to_videosdk_subscriptions(
    aiohttp_client: AiohttpClient, tmp_path: Path, room: int, receiver: Receiver
) -> None:
    settings = make_settings(
        tmp_path,
        "http://127.0.0.1:9/janus",  # (nothing listens there)
        videosdk_keys=[{"api_key": API_KEY, "secret": SECRET, "application_id": "app1"}],
        webhook_poll_seconds=0.2,
    )
    client = await make_client(aiohttp_client, settings)
    subscription = {"url": receiver.url("/videosdk"), "secret": "", "format": "videosdk"}
    receiver.secrets["/videosdk"] = subscription["secret"] = new_secret()
    await client.json("POST", f"{API}/webhooks/app1", 201, json=subscription)
    body = {"roomId": str(room), "participantId": "alice", "kind": "video", "webhookUrl": receiver.url("/bob")}
    answer = await client.json(
        "POST", "/videosdk/v2/recordings/participant/track/start", 503, json=body, headers={"Authorization": token()}
    )
    assert (answer["statusCode"], answer["error"]) == (503, "Service Unavailable"), answer
    for path in ("/bob", "/videosdk"):
        got = await _arrived(receiver, path)
        assert [seed_shaped(r.body) for r in got] == ["failed"], got
        assert (
            got[0].body["data"] | {"meetingId": str(room), "participantId": "alice", "kind": "video"}
            == got[0].body["data"]
        )


async def test_bad_tokens_and_bodies_get_videosdks_errors_and_start_nothing(client: Client, room: int) -> None:
    url = "/videosdk/v2/recordings/participant/track/start"
    body = {"roomId": str(room), "participantId": "alice", "kind": "audio"}
    for auth, message in (
        ("", "Authorization token is required."),
        ("not-a-jwt", "Invalid token."),
        (token("another-secret-0123456789abcdef-0123"), "Invalid token."),
        (token(exp=int(time.time()) - 10), "Invalid token."),
        (jwt.encode({"apikey": "unknown"}, SECRET, algorithm="HS256"), "Invalid API key."),
    ):
        answer = await client.json("POST", url, 401, json=body, headers={"Authorization": auth})
        assert answer == {"statusCode": 401, "error": "Unauthorized", "message": message}
    for bad, message in (
        ({k: v for k, v in body.items() if k != "roomId"}, '"roomId" is required'),
        ({**body, "kind": "smell"}, '"kind" input should be'),
        ({**body, "fileFormat": "mp4"}, '"fileFormat" input should be'),
    ):
        answer = await client.json("POST", url, 400, json=bad, headers={"Authorization": token()})
        assert (answer["statusCode"], answer["error"]) == (400, "Bad Request") and answer["message"].startswith(message)
    stop = await client.json(
        "POST", "/videosdk/v2/recordings/participant/track/stop", 404, json=body, headers={"Authorization": token()}
    )
    assert stop["statusCode"] == 404
    await client.json("GET", f"{API}/recordings/{room}", 404)  # nothing was started


async def _arrived(receiver: Receiver, path: str) -> list[Any]:
    got: list[Any] = await eventually(lambda: _ready(receiver.at(path)), lambda got: len(got) >= 1, within=10)
    return got


async def _ready(value: Any) -> Any:
    return value
