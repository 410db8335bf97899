"""Webhooks end to end: a recording over a real Janus room, delivered to a real receiver that verifies every
signature with the `standardwebhooks` package, in the three formats, through failures and an outage."""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from pytest_aiohttp import AiohttpClient
from yarl import URL

from recorder.settings import WebhookSettings
from tests.builders import Client, make_client, make_settings
from tests.client import API, ids, uploaded
from tests.events.receiver import Receiver, new_secret
from tests.eventually import eventually
from tests.flashbeep import BeepTrack, FlashTrack, Signal
from tests.janus_host import JanusHost
from tests.publisher import Publisher, display

FAST_RETRIES = [0.05, 0.05, 0.05, 0.2, 0.2, 0.5]  # 7 tries within about a second


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    running = Receiver(fail_first=3)
    await running.start()
    yield running
    await running.stop()


def webhook_settings(receiver: Receiver, **overrides: object) -> dict[str, object]:
    """The native subscription in the configuration; the others come through the admin API."""
    receiver.secrets["/native"] = new_secret()
    hook = {"url": receiver.url("/native"), "secret": receiver.secrets["/native"]}
    return {
        "webhook_retry_schedule_seconds": FAST_RETRIES,
        "webhook_poll_seconds": 0.2,
        "webhooks": [hook],
        **overrides,
    }


async def client_with_webhooks(
    aiohttp_client: AiohttpClient, tmp_path: Path, janus: JanusHost, receiver: Receiver, **overrides: object
) -> Client:
    options = webhook_settings(receiver, **overrides)
    hooks = [WebhookSettings.model_validate(h) for h in options.pop("webhooks")]  # type: ignore[attr-defined]
    settings = make_settings(tmp_path, janus.url, **options)
    settings.applications[0] = settings.applications[0].model_copy(update={"webhooks": hooks})
    return await make_client(aiohttp_client, settings)


async def subscribe(client: Client, receiver: Receiver, path: str, format_: str, status: int = 201) -> dict[str, Any]:
    receiver.secrets[path] = new_secret()
    body = {"url": receiver.url(path), "format": format_, "secret": receiver.secrets[path]}
    answer: dict[str, Any] = await client.json("POST", f"{API}/webhooks/app1", status, json=body)
    return answer


async def record_with_a_pause(
    client: Client, janus: JanusHost, http: aiohttp.ClientSession, room: int
) -> dict[str, Any]:
    """alice publishes audio and video; the recording is paused for a second in the middle; all is stored."""
    event = await client.start(room, f"conv-hooks-{room}")
    alice = Publisher(http, janus.url, room, display("alice"))
    signal = Signal(math.floor(time.time()), 0.0, 880.0)
    try:
        await alice.join()
        await alice.publish([FlashTrack(signal), BeepTrack(signal)])
        await client.wait_tracks(event, "alice", 2)
        await asyncio.sleep(1)
        await client.json("POST", f"{API}/recordings/{ids(event)}/pause")
        await asyncio.sleep(1)
        await client.json("POST", f"{API}/recordings/{ids(event)}/resume")
        await client.wait_tracks(event, "alice", 4)
        await asyncio.sleep(1)
        await client.stop(event)
    finally:
        await alice.leave()
    info: dict[str, Any] = await client.wait_for(
        f"{API}/recordings/{ids(event)}", lambda i: uploaded(i) and i.get("manifest")
    )
    return info


def native_expected(info: dict[str, Any]) -> list[str]:
    """The native events of a recording of 4 track segments with one pause, as a multiset (sorted)."""
    segments = sum(len(s["tracks"]) for s in info["streams"])
    return sorted(
        ["recording.started", "recording.paused", "recording.resumed", "recording.stopped", "manifest.stored"]
        + ["track.started", "track.stopped", "upload.stored"] * segments
    )


async def test_every_event_arrives_signed_in_order_in_three_formats_through_failures(
    aiohttp_client: AiohttpClient,
    tmp_path: Path,
    janus: JanusHost,
    http: aiohttp.ClientSession,
    room: int,
    receiver: Receiver,
) -> None:
    client = await client_with_webhooks(aiohttp_client, tmp_path, janus, receiver)
    vsdk = await subscribe(client, receiver, "/videosdk", "videosdk")
    rtk = await subscribe(client, receiver, "/realtimekit", "realtimekit")
    assert "secret" not in vsdk and vsdk["format"] == "videosdk" and vsdk["events"] is None
    info = await record_with_a_pause(client, janus, http, room)
    segments = [(s, t) for s in info["streams"] for t in s["tracks"]]
    assert len(segments) == 4

    expected = native_expected(info)
    native = await eventually(
        lambda: _ready(receiver.at("/native")),
        lambda got: len(got) >= len(expected),
        within=20,
        what="every native event",
    )
    assert not receiver.errors, receiver.errors
    assert sorted(r.body["type"] for r in native) == expected, receiver.dump("/native")
    sequences = [r.body["data"]["sequence"] for r in native]
    assert sequences == list(range(1, len(expected) + 1)), "in order, one after the other, none missing"
    assert all(r.body["data"]["recording"]["recorderId"] == info["recorderId"] for r in native)
    assert all(receiver.tries["/native", r.msg_id] == 4 for r in native), (
        "three 500s, then accepted, under one webhook-id"
    )
    stopped = next(r.body for r in native if r.body["type"] == "recording.stopped")
    assert stopped["data"]["recording"]["stopReason"] == {
        "reason": "API_CALL",
        "caller": {"name": "all", "type": "API_KEY"},
    }
    for r in native:
        if r.body["type"] == "upload.stored":  # its URL gives the stored file's bytes
            file = r.body["data"]["file"]
            async with http.get(here(client, file["url"])) as answer:
                assert answer.status == 200
                assert await answer.read() == (tmp_path / "storage" / file["location"]).read_bytes()

    # VideoSDK: started, stopping, stopped (with the file) for each segment, in that order (no `starting`: that
    # tells a VideoSDK start accepted, and this recording was started through the native API, for everyone)
    videosdk = await eventually(
        lambda: _ready(receiver.at("/videosdk")), lambda got: len(got) >= 12, within=20, what="videosdk webhooks"
    )
    per_segment: dict[str, list[str]] = {}
    by_location = {t["storage"]["objectStorage"]["location"]: (s, t) for s, t in segments}
    for item in videosdk:
        data = item.body["data"]
        assert (data["meetingId"], data["sessionId"]) == (str(room), info["recorderId"])
        assert data["participantId"] == next(s["userId"] for s, _ in segments)
        assert data["kind"] in ("audio", "video")
        per_segment.setdefault(data["kind"], []).append(
            item.body["webhookType"].removeprefix("participant-track-recording-")
        )
        if item.body["webhookType"].endswith("-stopped"):
            (detail,) = data["fileDetails"]
            _, track = by_location[detail["filePath"]]
            assert track["type"].lower() == data["kind"]
            async with http.get(here(client, detail["fileUrl"])) as answer:
                assert answer.status == 200
                assert await answer.read() == (tmp_path / "storage" / detail["filePath"]).read_bytes()
    steps = ["started", "stopping", "stopped"]
    for kind, names in per_segment.items():  # each segment's n-th step comes after its (n-1)-th
        assert sorted(names) == sorted(steps * 2), (kind, names)
        places = {step: [i for i, name in enumerate(names) if name == step] for step in steps}
        for segment in range(2):
            assert [places[step][segment] for step in steps] == sorted(places[step][segment] for step in steps)

    # RealtimeKit: the recording object at each status change
    statuses = await eventually(
        lambda: _ready([r.body["recording"]["status"] for r in receiver.at("/realtimekit")]),
        lambda got: "UPLOADED" in got,
        within=20,
        what="realtimekit UPLOADED",
    )
    assert statuses == ["RECORDING", "PAUSED", "RECORDING", "UPLOADING", "UPLOADED"]
    last = receiver.at("/realtimekit")[-1].body
    assert last["event"] == "recording.statusUpdate" and last["recording"]["id"] == info["recorderId"]
    assert last["recording"]["audioDownloadUrl"] and last["recording"]["downloadUrl"]  # (camelCase)

    # the admin API shows every delivery as DELIVERED after 4 attempts
    listed = await client.json("GET", f"{API}/webhooks/app1/{rtk['id']}/deliveries")
    assert [d["status"] for d in listed["deliveries"]] == ["DELIVERED"] * 5
    assert {d["attempts"] for d in listed["deliveries"]} == {4} and listed["nextBefore"] is None
    print(f"duplicates accepted: {receiver.duplicates()}")


def here(client: Client, url: str) -> URL:
    """A link the service handed out, on the test server's port (the service names its configured port)."""
    return client.make_url(URL(url).path_qs) if URL(url).host == "127.0.0.1" else URL(url)


async def _ready(value: Any) -> Any:
    return value
