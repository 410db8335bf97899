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
from tests.events.receiver import Receiver
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
    running = Receiver(secrets={"/videosdk": ""})
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
        for kind in ("audio", "video"):  # the second kind joins the room's recording
            printed = await run_seed(SEED_START, base, {**values, "YOUR STREAM KIND": kind}, token())
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
        names = [b["webhookType"].removeprefix("participant-track-recording-") for b in steps]
        # each segment tells its four steps (a kind started or stopped beside it starts a new segment: the
        # publication is subscribed again)
        assert names[:4] == ["starting", "started", "stopping", "stopped"] or sorted(names) == sorted(
            ["starting", "started", "stopping", "stopped"] * (len(names) // 4)
        ), names
        assert len(names) % 4 == 0 and names.count("stopped") == len(
            [t for s in info["streams"] for t in s["tracks"] if t["type"] == kind.upper()]
        )
        assert all(b["data"] | {"meetingId": str(room), "participantId": "alice"} == b["data"] for b in steps)
        for step in (b for b in steps if b["webhookType"].endswith("-stopped")):
            (detail,) = step["data"]["fileDetails"]
            assert detail["filePath"].startswith(f"recordings/2026/{live['recorderId']}/alice/{kind}/")


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


async def _ready(value: Any) -> Any:
    return value
