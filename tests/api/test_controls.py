"""Recording controls over a real Janus room: pause/resume as segments, who and what is recorded (rules), limits
that stop a recording by itself, and why each recording started and ended."""

from __future__ import annotations

import asyncio
import math
import time
from pathlib import Path
from typing import Any

import aiohttp
import av
from aiortc.mediastreams import MediaStreamTrack
from pytest_aiohttp import AiohttpClient

from tests.builders import Client, make_client, make_settings
from tests.checks import parse_time
from tests.client import API, COMPOSITION_API, ids, uploaded
from tests.flashbeep import BeepTrack, FlashTrack, Signal
from tests.janus_host import JanusHost
from tests.publisher import Publisher, display

BY_THE_TEST_KEY = {"reason": "API_CALL", "caller": {"name": "all", "type": "API_KEY"}}


def _tracks(info: dict[str, Any], user: str, kind: str) -> list[dict[str, Any]]:
    found = [t for s in info["streams"] if s["userId"] == user for t in s["tracks"] if t["type"] == kind]
    return sorted(found, key=lambda t: parse_time(t["started"]))


def _frames(path: Path) -> int:
    with av.open(str(path)) as container:
        return sum(1 for p in container.demux(container.streams[0]) if p.size)


async def test_a_pause_cuts_every_track_into_two_segments_with_nothing_in_between(
    client: Client, janus: JanusHost, http: aiohttp.ClientSession, room: int, tmp_path: Path
) -> None:
    event = await client.start(room, "conv-pause")
    path = f"{API}/recordings/{ids(event)}"
    alice = Publisher(http, janus.url, room, display("alice"))
    signal = Signal(math.floor(time.time()), 0.0, 880.0)
    try:
        await alice.join()
        await alice.publish([FlashTrack(signal), BeepTrack(signal)])
        await client.wait_tracks(event, "alice", 2)
        await asyncio.sleep(2)
        paused = await client.json("POST", f"{path}/pause")
        assert paused["paused"] is True and paused["state"] == "ACTIVE" and len(paused["pauses"]) == 1
        again = await client.json("POST", f"{path}/pause")
        assert again["pauses"] == paused["pauses"], "pausing a paused recording changes nothing"
        await asyncio.sleep(3)
        resumed_at = time.time()
        resumed = await client.json("POST", f"{path}/resume")
        assert resumed["paused"] is False and resumed["pauses"][0]["resumed"]
        await client.wait_tracks(event, "alice", 4)
        await asyncio.sleep(2)
        stopped = await client.stop(event)
        assert stopped["state"] == "STOPPED"
    finally:
        await alice.leave()

    info = await client.wait_for(path, uploaded)
    assert info["startReason"] == BY_THE_TEST_KEY and info["stopReason"] == BY_THE_TEST_KEY
    pause = info["pauses"][0]
    pause_start, pause_end = parse_time(pause["paused"]), parse_time(pause["resumed"])
    for kind in ("AUDIO", "VIDEO"):
        first, second = _tracks(info, "alice", kind)
        assert parse_time(first["stopped"]) <= pause_start + 0.1, (kind, "media after the pause began", first)
        assert parse_time(second["started"]) >= pause_end - 0.02, (kind, "media from inside the pause", second)
        latency = parse_time(second["started"]) - resumed_at
        print(f"{kind}: resume -> first frame written {latency * 1000:.0f} ms")
        assert latency < 0.5, f"{kind}: the first frame after resume came {latency:.3f} s later"
        for track in (first, second):
            assert _frames(tmp_path / "storage" / track["storage"]["objectStorage"]["location"]) > 0

    # an audio composition leaves the pause out: its length is the audio's recorded time
    tracks = [t for s in info["streams"] for t in s["tracks"] if t["type"] == "AUDIO"]
    span = max(parse_time(t["mediaEnd"]) for t in tracks) - min(parse_time(t["mediaStart"]) for t in tracks)
    recorded = span - (pause_end - pause_start)
    for keep, expected in ((False, recorded), (True, span)):
        body = {"conversationId": "conv-pause", "type": "audio", "keepPauses": keep}
        requested = await client.json("POST", f"{COMPOSITION_API}/request", json=body)
        assert requested["keepPauses"] is keep
        query = f"{COMPOSITION_API}/query/conversation/conv-pause"
        done = await client.wait_for(
            query, lambda q: all(c["state"] in ("COMPLETED", "FAILED") for c in q["compositions"])
        )
        (composed,) = [c for c in done["compositions"] if c["id"] == requested["id"]]
        assert composed["state"] == "COMPLETED", composed
        assert abs(composed["duration"] - expected) <= 0.01 * expected, (keep, composed["duration"], expected)
        # how chat and cobrowse times map onto the file: its start and the pauses it leaves out
        assert parse_time(composed["timelineStart"]) == min(parse_time(t["mediaStart"]) for t in tracks)
        assert composed["pausesLeftOut"] == ([] if keep else [pause])


async def test_pause_and_rules_of_a_recording_that_is_not_live_are_409(client: Client) -> None:
    event = await client.start(999999, "conv-not-live")  # no such room: FAILED
    assert event["state"] == "FAILED"
    info = await client.json("GET", f"{API}/recordings/{ids(event)}")
    assert info["stopReason"] == {"reason": "JOIN_FAILED"}
    for method, action, body in (("POST", "pause", None), ("POST", "resume", None), ("PUT", "rules", {})):
        answer = await client.json(method, f"{API}/recordings/{ids(event)}/{action}", 409, json=body)
        assert answer["error"] == "CONFLICT"


async def test_bad_rules_and_limits_are_400_and_start_nothing(client: Client, room: int) -> None:
    base = {"applicationId": "app1", "conferenceId": str(room), "conversationId": "conv-bad-controls"}
    for extra in (
        {"rules": {"exclude": [{"kind": "smell"}]}},
        {"rules": {"include": "everyone"}},
        {"maxDurationSeconds": 0},
        {"emptyRoomTimeoutSeconds": "soon"},
        {"maxDurationSeconds": 90000},  # more than the service's maximum (24 h)
    ):
        answer = await client.json("POST", f"{API}/recordings/start", 400, json={**base, **extra})
        assert answer["error"] in ("INVALID_REQUEST", "LIMIT_TOO_HIGH"), answer
    await client.json("GET", f"{API}/recordings/conv-bad-controls", 404)


def _spooled_users(tmp_path: Path, info: dict[str, Any]) -> set[str]:
    """Whose streams have a folder in the spool (a stream's files are written there)."""
    folders = {p.name for p in (tmp_path / "data" / "spool").rglob("*") if p.is_dir()}
    return {s["userId"] for s in info["streams"] if s["id"] in folders}


async def test_an_excluded_participant_is_never_written_and_rules_apply_at_once(
    client: Client, janus: JanusHost, http: aiohttp.ClientSession, room: int, tmp_path: Path
) -> None:
    body = {
        "applicationId": "app1",
        "conferenceId": str(room),
        "conversationId": "conv-consent",
        "rules": {"exclude": [{"userId": "bob"}]},
    }
    event = await client.json("POST", f"{API}/recordings/start", json=body)
    path = f"{API}/recordings/{ids(event)}"
    alice = Publisher(http, janus.url, room, display("alice"))
    bob = Publisher(http, janus.url, room, display("bob"))
    try:
        for publisher in (alice, bob):
            await publisher.join()
            await publisher.publish()
        await client.wait_tracks(event, "alice", 2)
        for _ in range(10):  # consent: bob's media never reaches the disk, not even for a moment
            info = await client.json("GET", path)
            assert {s["userId"] for s in info["streams"]} == {"alice"}
            assert not any("bob" in str(p) for p in (tmp_path / "data" / "spool").rglob("*"))
            assert _spooled_users(tmp_path, info) <= {"alice"}
            await asyncio.sleep(0.1)

        # bob included again: he is recorded from now on
        answer = await client.json("PUT", f"{path}/rules", json={})
        assert answer["rules"] == {"include": [], "exclude": []}
        recorded = {p["userId"]: p["recorded"] for p in answer["publications"]}
        assert recorded == {"alice": ["audio", "video"], "bob": ["audio", "video"]}, answer
        await client.wait_tracks(event, "bob", 2)

        # alice's video excluded mid-call: that track ends there; her audio goes on
        answer = await client.json("PUT", f"{path}/rules", json={"exclude": [{"userId": "alice", "kind": "video"}]})
        why = {p["userId"]: (p["recorded"], p["why"]) for p in answer["publications"]}
        assert why["alice"][0] == ["audio"] and "video: excluded by a rule" in why["alice"][1], why
        await asyncio.sleep(1.5)
        info = await client.json("GET", path)
        videos = _tracks(info, "alice", "VIDEO")
        assert len(videos) == 1 and videos[0]["stopped"], "alice's video track ended at the change"
        audio = _tracks(info, "alice", "AUDIO")
        assert audio[-1].get("stopped") is None or len(audio) >= 2, "her audio goes on"
        await client.stop(event)
    finally:
        await alice.leave()
        await bob.leave()


async def test_kind_rules_record_screen_shares_only(
    client: Client, janus: JanusHost, http: aiohttp.ClientSession, room: int
) -> None:
    body = {
        "applicationId": "app1",
        "conferenceId": str(room),
        "conversationId": "conv-screen-only",
        "rules": {"include": [{"kind": "screen_video"}, {"kind": "screen_audio"}]},
    }
    event = await client.json("POST", f"{API}/recordings/start", json=body)
    camera = Publisher(http, janus.url, room, display("carol"))
    screen = Publisher(http, janus.url, room, display("carol", "SCREEN"))
    try:
        for publisher in (camera, screen):
            await publisher.join()
            await publisher.publish()
        await client.wait_tracks(event, "carol", 2)
        await asyncio.sleep(1)
        info = await client.stop(event)
        info = await client.json("GET", f"{API}/recordings/{ids(info)}")
        assert [s["type"] for s in info["streams"]] == ["SCREEN"], info["streams"]
    finally:
        await camera.leave()
        await screen.leave()


class Silent(MediaStreamTrack):
    """A published track that never sends a frame."""

    kind = "audio"

    async def recv(self) -> Any:
        await asyncio.Event().wait()


async def test_limits_stop_a_recording_by_themselves(
    client: Client, janus: JanusHost, http: aiohttp.ClientSession, room: int
) -> None:
    base = {"applicationId": "app1", "conferenceId": str(room)}

    async def ended(conversation: str, within: float, **limits: float) -> tuple[dict[str, Any], float]:
        began = time.monotonic()
        event = await client.json(
            "POST", f"{API}/recordings/start", json={**base, "conversationId": conversation, **limits}
        )
        info = await client.wait_for(f"{API}/recordings/{ids(event)}", lambda i: i["state"] != "ACTIVE", within)
        return info, time.monotonic() - began

    info, took = await ended("conv-empty", 6, emptyRoomTimeoutSeconds=2)
    assert info["state"] == "STOPPED" and info["stopReason"] == {"reason": "EMPTY_ROOM"}
    assert took < 2 + 1.5, took

    alice = Publisher(http, janus.url, room, display("alice"))
    try:
        await alice.join()
        await alice.publish()
        info, took = await ended("conv-max", 8, maxDurationSeconds=2)
        assert info["stopReason"] == {"reason": "MAX_DURATION"} and took < 2 + 1.5, (info["stopReason"], took)
        assert info["streams"] and all(t["stopped"] for s in info["streams"] for t in s["tracks"])
    finally:
        await alice.leave()

    quiet = Publisher(http, janus.url, room, display("quiet"))
    try:
        await quiet.join()
        await quiet.publish([Silent()])
        info, _ = await ended("conv-silent", 8, noMediaTimeoutSeconds=2)
        assert info["stopReason"] == {"reason": "NO_MEDIA"}, info["stopReason"]
    finally:
        await quiet.leave()


async def test_a_shutdown_that_stops_recordings_says_so(
    aiohttp_client: AiohttpClient, janus: JanusHost, http: aiohttp.ClientSession, room: int, tmp_path: Path
) -> None:
    settings = make_settings(tmp_path, janus.url, shutdown_recordings="stop")
    client = await make_client(aiohttp_client, settings)
    event = await client.start(room, "conv-shutdown")
    alice = Publisher(http, janus.url, room, display("alice"))
    try:
        await alice.join()
        await alice.publish()
        await client.wait_tracks(event, "alice", 2)
        await client.close()  # the service shuts down with `shutdown_recordings = stop`
    finally:
        await alice.leave()
    again = await make_client(aiohttp_client, settings)
    info = await again.json("GET", f"{API}/recordings/{ids(event)}")
    assert info["state"] == "STOPPED" and info["stopReason"] == {"reason": "SHUTDOWN"}, info["stopReason"]
