"""A conferencing backend records a real Janus conference through the API, end to end."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import av
import yarl

from recorder.signing import UrlSigner
from tests.conftest import Client
from tests.janus_host import JANUS_ADMIN_KEY, JanusHost
from tests.publisher import Publisher, display

API = "/rtc-recorder/api"
RECORD_SECONDS = 4.0


async def _json(client: Client, method: str, path: str, status: int = 200, **kw: Any) -> Any:
    async with client.request(method, path, **kw) as resp:
        body = await resp.json()
        assert resp.status == status, body
        return body


async def start(client: Client, room: int | str, conversation: str, **flags: bool) -> dict[str, Any]:
    body = {"applicationId": "app1", "conferenceId": str(room), "conversationId": conversation, **flags}
    answer: dict[str, Any] = await _json(client, "POST", f"{API}/recordings/start", json=body)
    return answer


async def wait_for(client: Client, path: str, done: Callable[[Any], bool], seconds: float = 30.0, **kw: Any) -> Any:
    """GET `path` until `done` says yes (uploads run in the background)."""
    deadline = time.monotonic() + seconds
    while True:
        answer = await _json(client, "GET", path, **kw)
        if done(answer):
            return answer
        if time.monotonic() > deadline:
            raise AssertionError(f"{path} did not get there in {seconds} s: {answer}")
        await asyncio.sleep(0.05)


def uploaded(info: Any) -> bool:
    """Every track's upload has ended: stored and its local file deleted, or failed."""
    storages = [t["storage"] for s in info["streams"] for t in s["tracks"]]
    return all(s["localStorage"].get("deleted") or s.get("objectStorage", {}).get("error") for s in storages)


def ids(event: dict[str, Any]) -> str:
    return f"{event['conversationId']}/{event['recorderId']}/{event['instanceId']}"


async def wait_tracks(
    client: Client,
    event: dict[str, Any],
    user: str,
    count: int,
    within: float = 10,
) -> list[dict[str, Any]]:
    """Poll the recording until `user` has `count` tracks (a track appears when its first frame is written)."""
    deadline = time.monotonic() + within
    while True:
        info = await _json(client, "GET", f"{API}/recordings/{ids(event)}")
        tracks = [t for s in info["streams"] if s["userId"] == user for t in s["tracks"]]
        if len(tracks) >= count:
            return tracks
        assert time.monotonic() < deadline, f"{user} has {len(tracks)} of {count} tracks: {info}"
        await asyncio.sleep(0.05)


def parse_time(value: str) -> float:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


async def download(http: aiohttp.ClientSession, base: str, url: str, path: Any) -> bytes:
    assert url.startswith(base), url
    async with http.get(url) as resp:  # a plain GET, no Authorization header
        assert resp.status == 200, await resp.text()
        data = await resp.read()
    path.write_bytes(data)
    return data


async def check_signed_link(http: aiohttp.ClientSession, url: str, size: int) -> None:
    """Range answers 206/416; an altered, expired or path-swapped link answers 403 with a JSON body."""
    async with http.get(url, headers={"Range": "bytes=10-99"}) as resp:
        assert resp.status == 206 and len(await resp.read()) == 90
        assert resp.headers["Content-Range"] == f"bytes 10-99/{size}"
    async with http.get(url, headers={"Range": f"bytes={size + 10}-"}) as resp:
        assert resp.status == 416
    parsed = yarl.URL(url)
    signature = parsed.query["Signature"]
    tampered = [
        parsed.update_query(Signature=("A" if signature[0] != "A" else "B") + signature[1:]),
        parsed.update_query(Expires="604800"),
        parsed.update_query(Date="20990101T000000Z"),
        parsed.with_path(parsed.path.rsplit("/", 1)[0] + "/other.webm"),
        parsed.with_query({}),
    ]
    key = b"test-signing-key-0123456789"
    past = datetime.now(UTC) - timedelta(hours=2)
    expired_path, _ = UrlSigner(key, 3600).sign(parsed.raw_path, now=past)
    tampered.append(parsed.join(yarl.URL(expired_path, encoded=True)))
    for bad in tampered:
        async with http.get(bad) as resp:
            assert resp.status == 403, (bad, resp.status)
            assert (await resp.json())["error"] == "FORBIDDEN"
    legacy = parsed.with_path("/auvious.video" + parsed.path, encoded=False)
    async with http.get(legacy.with_query(parsed.query)) as resp:
        assert resp.status == 200 and len(await resp.read()) == size


def check_file(path: Any, kind: str, sent: list[float], started: float, ended: float) -> None:
    """Decodes without errors, starts with a keyframe, >= 95 % of the frames, duration within 5 %."""
    expected = [t for t in sent if started - 0.05 <= t <= ended]
    with av.open(str(path)) as container:
        stream = container.streams.video[0] if kind == "VIDEO" else container.streams.audio[0]
        stream.codec_context.options = {"err_detect": "explode"} if kind == "VIDEO" else {}
        frames = 0
        first_key = None
        last_end = 0.0
        first_start: float | None = None
        for packet in container.demux(stream):
            if packet.size == 0:
                continue
            if first_key is None:
                first_key = packet.is_keyframe
            for frame in packet.decode():
                assert isinstance(frame, av.VideoFrame | av.AudioFrame)
                frames += 1
                assert frame.time is not None
                first_start = frame.time if first_start is None else first_start
                step = 1 / 30 if kind == "VIDEO" else frame.samples / 48000  # type: ignore[union-attr]
                last_end = max(last_end, frame.time + step)
    assert first_key is True, f"{path} does not start with a keyframe"
    assert frames >= 0.95 * len(expected), f"{path}: {frames} frames of {len(expected)} sent"
    duration = last_end - (first_start or 0.0)
    wall = ended - started
    assert abs(duration - wall) <= 0.05 * wall, f"{path}: {duration:.3f} s of media for {wall:.3f} s recorded"


async def test_two_publishers_and_a_late_one_are_recorded(
    client: Client,
    janus: JanusHost,
    http: aiohttp.ClientSession,
    room: int,
    tmp_path: Any,
) -> None:
    event = await start(client, room, "conv-e2e")
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
        await wait_tracks(client, event, "alice", 2)
        await wait_tracks(client, event, "bob", 2)
        await asyncio.sleep(1.5)
        await carol.join()
        await carol.publish()
        await wait_tracks(client, event, "carol", 2)
        await asyncio.sleep(RECORD_SECONDS)
        # the retried start returns the same, live recording
        again = await start(client, room, "conv-e2e")
        assert again == {**event, "state": "ACTIVE"}
        for p in publishers:
            await p.leave()
        stopped = await _json(client, "POST", f"{API}/recordings/{ids(event)}/stop")
        assert stopped["state"] == "STOPPED" and stopped["recorderId"] == event["recorderId"]
    finally:
        for p in publishers:
            await p.leave()

    info = await wait_for(client, f"{API}/recordings/{ids(event)}", uploaded)
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
            assert set(yarl.URL(track["url"]).query) == {"Date", "Expires", "Signature"}
            path = tmp_path / f"{user}-{track['type']}"
            data = await download(http, base, track["url"], path)
            assert len(data) == int(storage["objectStorage"]["size"])
            if user == "alice":
                await check_signed_link(http, track["url"], len(data))
            source = publisher.video_track if track["type"] == "VIDEO" else publisher.audio_track
            assert source is not None and publisher.closed_at is not None
            check_file(path, track["type"], source.sent, parse_time(track["started"]), publisher.closed_at)

    listing = await _json(client, "GET", f"{API}/recordings/conv-e2e")
    assert listing["conversationId"] == "conv-e2e" and listing["applicationId"] == "app1"
    assert listing["provider"] == "LOCAL_STORAGE" and listing["duration"].startswith("PT")
    (recording,) = listing["recordings"]
    assert recording["recorderId"] == event["recorderId"] and len(recording["streams"]) == 3
    assert all(t["storage"]["location"] for s in recording["streams"] for t in s["tracks"])
    await _json(client, "GET", f"{API}/recordings/conv-e2e/active", status=404)
    composition = await _json(client, "GET", f"{API}/compositions/conv-e2e")
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
    event = await start(client, room, "conv-segments")
    live = await _json(client, "GET", f"{API}/recordings/conv-segments/active")
    assert live == event
    dave = Publisher(http, janus.url, room, display("dave"))
    try:
        await dave.join()
        await dave.publish()
        await wait_tracks(client, event, "dave", 2)
        await asyncio.sleep(2)
        first_video, first_audio = dave.video_track, dave.audio_track
        await dave.unpublish()
        first_closed = dave.closed_at
        await asyncio.sleep(0.5)
        await dave.publish()
        await wait_tracks(client, event, "dave", 4)
        await asyncio.sleep(2)
    finally:
        await dave.leave()
    await _json(client, "POST", f"{API}/recordings/{ids(event)}/stop")
    info = await _json(client, "GET", f"{API}/recordings/{ids(event)}")
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
    event = await start(client, 987654, "conv-noroom")
    assert event["state"] == "FAILED"
    assert event["error"]["code"] == "ROOM_NOT_FOUND" and event["error"]["occurred"]
    state = await _json(client, "GET", f"{API}/recordings/{ids(event)}/state")
    assert state == event
    await _json(client, "GET", f"{API}/recordings/conv-noroom/active", status=404)


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
    event = await start(client, 555001, "conv-abort")
    assert event["state"] == "ACTIVE"
    await owner.request({"request": "destroy", "room": 555001})
    deadline = time.monotonic() + 5
    while (state := await _json(client, "GET", f"{API}/recordings/{ids(event)}/state"))["state"] == "ACTIVE":
        assert time.monotonic() < deadline
        await asyncio.sleep(0.05)
    await owner.leave()
    assert state["state"] == "ABORTED" and state["error"]["code"] == "CONFERENCE_ENDED"


async def test_unreachable_janus_fails(aiohttp_client: Any, tmp_path: Any) -> None:
    from tests.conftest import make_client, make_settings

    client = await make_client(aiohttp_client, make_settings(tmp_path, "http://127.0.0.1:9/janus"))
    event = await start(client, 1001, "conv-unreachable")
    assert event["state"] == "FAILED" and event["error"]["code"] == "CONFERENCE_UNREACHABLE"


async def test_unknown_ids_are_404_with_json(client: Client) -> None:
    for path in ("recordings/nope", "recordings/nope/active", "recordings/a/b/c", "recordings/a/b/c/state"):
        body = await _json(client, "GET", f"{API}/{path}", status=404)
        assert body["error"] == "NOT_FOUND"
    body = await _json(client, "POST", f"{API}/recordings/a/b/c/stop", status=404)
    assert body["error"] == "NOT_FOUND"


async def test_the_audio_and_video_flags_choose_the_tracks(
    client: Client, janus: JanusHost, http: aiohttp.ClientSession, room: int
) -> None:
    event = await start(client, room, "conv-audio-only", audio=True, video=False)
    erin = Publisher(http, janus.url, room, display("erin", "MIC"))
    try:
        await erin.join()
        await erin.publish()
        await wait_tracks(client, event, "erin", 1)
        await asyncio.sleep(1.0)
    finally:
        await erin.leave()
    await _json(client, "POST", f"{API}/recordings/{ids(event)}/stop")
    info = await _json(client, "GET", f"{API}/recordings/{ids(event)}")
    assert info["audio"] is True and info["video"] is False
    (stream,) = info["streams"]
    assert stream["type"] == "MIC" and [t["type"] for t in stream["tracks"]] == ["AUDIO"]
