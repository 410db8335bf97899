"""A conferencing backend records a real Janus conference through the API, end to end."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import yarl

from tests.builders import Client
from tests.checks import check_file, check_signed_link, download, parse_time
from tests.client import API, ids, uploaded
from tests.janus_host import JANUS_ADMIN_KEY, JanusHost
from tests.publisher import Publisher, display

RECORD_SECONDS = 4.0


async def test_two_publishers_and_a_late_one_are_recorded(
    client: Client,
    janus: JanusHost,
    http: aiohttp.ClientSession,
    room: int,
    tmp_path: Any,
) -> None:
    event = await client.start(room, "conv-e2e")
    assert set(event) == {"conversationId", "recorderId", "instanceId", "state"}
    assert event["state"] == "ACTIVE" and event["conversationId"] == "conv-e2e"

    alice = Publisher(http, janus.url, room, display("alice"))
    bob = Publisher(http, janus.url, room, display("bob", "SCREEN"))
    carol = Publisher(http, janus.url, room, "carol")  # a plain display is the user id; type CAM
    publishers = [alice, bob, carol]
    try:
        for p in (alice, bob):
            await p.join()
            await p.publish()
        await client.wait_tracks(event, "alice", 2)
        await client.wait_tracks(event, "bob", 2)
        await asyncio.sleep(1.5)
        await carol.join()
        await carol.publish()
        await client.wait_tracks(event, "carol", 2)
        await asyncio.sleep(RECORD_SECONDS)
        # the retried start returns the same, live recording
        again = await client.start(room, "conv-e2e")
        assert again == {**event, "state": "ACTIVE"}
        for p in publishers:
            await p.leave()
        stopped = await client.json("POST", f"{API}/recordings/{ids(event)}/stop")
        assert stopped["state"] == "STOPPED" and stopped["recorderId"] == event["recorderId"]
    finally:
        for p in publishers:
            await p.leave()

    info = await client.wait_for(f"{API}/recordings/{ids(event)}", uploaded)
    assert info["state"] == "STOPPED" and info["started"] and info["stopped"]
    storage_url = (tmp_path / "storage").resolve().as_uri()
    assert info["storageProfile"] == {"applicationId": "app1", "provider": "LOCAL_STORAGE", "url": storage_url}
    streams = {s["userId"]: s for s in info["streams"]}
    assert set(streams) == {"alice", "bob", "carol"}
    assert {u: s["type"] for u, s in streams.items()} == {"alice": "CAM", "bob": "SCREEN", "carol": "CAM"}
    base = str(client.make_url(""))
    for user, publisher in zip(("alice", "bob", "carol"), publishers, strict=True):
        stream = streams[user]
        assert stream["state"] == "STOPPED"
        assert sorted(t["type"] for t in stream["tracks"]) == ["AUDIO", "VIDEO"]
        for track in stream["tracks"]:
            storage = track["storage"]
            assert storage["localStorage"]["deleted"], "the local file is removed once stored"
            assert int(storage["objectStorage"]["size"]) > 1000
            assert set(yarl.URL(track["url"]).query) == {"Date", "Expires", "By", "Signature"}
            path = tmp_path / f"{user}-{track['type']}"
            data = await download(http, base, track["url"], path)
            assert len(data) == int(storage["objectStorage"]["size"])
            if user == "alice":
                await check_signed_link(http, track["url"], len(data))
            source = publisher.video_track if track["type"] == "VIDEO" else publisher.audio_track
            assert source is not None and publisher.closed_at is not None
            check_file(path, track["type"], source.sent, parse_time(track["started"]), publisher.closed_at)

    listing = await client.json("GET", f"{API}/recordings/conv-e2e")
    assert listing["conversationId"] == "conv-e2e" and listing["applicationId"] == "app1"
    assert listing["provider"] == "LOCAL_STORAGE" and listing["duration"].startswith("PT")
    (recording,) = listing["recordings"]
    assert recording["recorderId"] == event["recorderId"] and len(recording["streams"]) == 3
    assert all(t["storage"]["location"] for s in recording["streams"] for t in s["tracks"])
    await client.json("GET", f"{API}/recordings/conv-e2e/active", status=404)
    composition = await client.json("GET", f"{API}/compositions/conv-e2e")
    assert composition["recorderId"] == event["recorderId"]
    composed_tracks = [t for s in composition["streams"] for t in s["tracks"]]
    assert len(composed_tracks) == 6
    for track in composed_tracks:
        data = await download(http, base, track["url"], tmp_path / "composition-track")
        assert len(data) == int(track["storage"]["objectStorage"]["size"])


async def test_unpublish_and_republish_make_two_segments(
    client: Client,
    janus: JanusHost,
    http: aiohttp.ClientSession,
    room: int,
    tmp_path: Any,
) -> None:
    event = await client.start(room, "conv-segments")
    live = await client.json("GET", f"{API}/recordings/conv-segments/active")
    assert live == event
    dave = Publisher(http, janus.url, room, display("dave"))
    try:
        await dave.join()
        await dave.publish()
        await client.wait_tracks(event, "dave", 2)
        await asyncio.sleep(2)
        first_video, first_audio = dave.video_track, dave.audio_track
        await dave.unpublish()
        first_closed = dave.closed_at
        await asyncio.sleep(0.5)
        await dave.publish()
        await client.wait_tracks(event, "dave", 4)
        await asyncio.sleep(2)
    finally:
        await dave.leave()
    await client.json("POST", f"{API}/recordings/{ids(event)}/stop")
    info = await client.json("GET", f"{API}/recordings/{ids(event)}")
    (stream,) = info["streams"]
    tracks = sorted(stream["tracks"], key=lambda t: t["started"])
    assert [t["type"] for t in tracks[:2]].count("VIDEO") == 1 and len(tracks) == 4
    assert len({t["id"] for t in tracks}) == 4
    assert len({t["url"].split("?")[0] for t in tracks}) == 4, "each segment is a file of its own"
    base = str(client.make_url(""))
    for n, track in enumerate(tracks):
        first = n < 2
        source = (
            (first_video if first else dave.video_track)
            if track["type"] == "VIDEO"
            else (first_audio if first else dave.audio_track)
        )
        ended = first_closed if first else dave.closed_at
        assert source is not None and ended is not None
        path = tmp_path / f"segment-{n}"
        await download(http, base, track["url"], path)
        check_file(path, track["type"], source.sent, parse_time(track["started"]), ended)


async def test_unknown_room_fails_with_an_error(client: Client) -> None:
    event = await client.start(987654, "conv-noroom")
    assert event["state"] == "FAILED"
    assert event["error"]["code"] == "ROOM_NOT_FOUND" and event["error"]["occurred"]
    state = await client.json("GET", f"{API}/recordings/{ids(event)}/state")
    assert state == event
    await client.json("GET", f"{API}/recordings/conv-noroom/active", status=404)


async def test_destroyed_room_aborts_the_recording(
    client: Client,
    janus: JanusHost,
    http: aiohttp.ClientSession,
) -> None:
    owner = Publisher(http, janus.url, 1234, "owner")
    await owner.join_plugin()
    await owner.request(
        {"request": "create", "room": 555001, "audiocodec": "opus", "videocodec": "vp8", "admin_key": JANUS_ADMIN_KEY}
    )
    event = await client.start(555001, "conv-abort")
    assert event["state"] == "ACTIVE"
    await owner.request({"request": "destroy", "room": 555001})
    state = await client.wait_for(f"{API}/recordings/{ids(event)}/state", lambda s: s["state"] != "ACTIVE", 5)
    await owner.leave()
    assert state["state"] == "ABORTED" and state["error"]["code"] == "CONFERENCE_ENDED"
    info = await client.json("GET", f"{API}/recordings/{ids(event)}")
    assert info["stopReason"] == {"reason": "CONFERENCE_ENDED"}


async def test_unreachable_janus_fails(aiohttp_client: Any, tmp_path: Any) -> None:
    from tests.builders import make_client, make_settings

    client = await make_client(aiohttp_client, make_settings(tmp_path, "http://127.0.0.1:9/janus"))
    event = await client.start(1001, "conv-unreachable")
    assert event["state"] == "FAILED" and event["error"]["code"] == "CONFERENCE_UNREACHABLE"


async def test_unknown_ids_are_404_with_json(client: Client) -> None:
    for path in ("recordings/nope", "recordings/nope/active", "recordings/a/b/c", "recordings/a/b/c/state"):
        body = await client.json("GET", f"{API}/{path}", status=404)
        assert body["error"] == "NOT_FOUND"
    body = await client.json("POST", f"{API}/recordings/a/b/c/stop", status=404)
    assert body["error"] == "NOT_FOUND"


async def test_the_audio_and_video_flags_choose_the_tracks(
    client: Client, janus: JanusHost, http: aiohttp.ClientSession, room: int
) -> None:
    event = await client.start(room, "conv-audio-only", audio=True, video=False)
    erin = Publisher(http, janus.url, room, display("erin", "MIC"))
    try:
        await erin.join()
        await erin.publish()
        await client.wait_tracks(event, "erin", 1)
        await asyncio.sleep(1.0)
    finally:
        await erin.leave()
    await client.json("POST", f"{API}/recordings/{ids(event)}/stop")
    info = await client.json("GET", f"{API}/recordings/{ids(event)}")
    assert info["audio"] is True and info["video"] is False
    (stream,) = info["streams"]
    assert stream["type"] == "MIC" and [t["type"] for t in stream["tracks"]] == ["AUDIO"]
