"""Compositions, as an auditor's client drives them: a recorded two-party call through Janus composed into one
MP4 (GRID, H.264 + AAC) and one MP3, in lip sync; the queue's order and a restart; bad input."""

from __future__ import annotations

import asyncio
import functools
import math
import os
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp
import av
import pytest
import pytest_asyncio
import yarl
from aiohttp.test_utils import TestClient, TestServer
from pytest_aiohttp import AiohttpClient

from api.app import create_app
from storage_providers.registry import create_provider
from tests.builders import CLIENT_ID, CLIENT_SECRET, Client, auth, make_client, make_settings, new_room
from tests.client import API, COMPOSITION_API, ApiClient, ids
from tests.eventually import eventually
from tests.flashbeep import BeepTrack, FlashTrack, Signal, beep_times, decode_audio, flash_times, offsets
from tests.janus_host import JanusHost
from tests.processes import composer_parents, composers
from tests.publisher import Publisher, display, publish_two_seconds
from tests.storage_servers import BUCKET, Servers, profile, profile_data

CALL_SECONDS = 12.0
LATE_JOIN = 3.0
ALICE, BOB = 880.0, 2000.0  # beep frequencies
SYNC_LIMIT = 0.010  # seconds between a flash and its beep in the composed file
HALF_FRAME = 0.5 / 30  # how far the MP4's 30 fps grid may move a picture, and the voice that follows it
STATES = ["QUEUED", "PREPROCESSING", "PROCESSING", "COMPLETED"]


async def _token(client: Client) -> dict[str, str]:
    """A client's bearer token (client credentials), as Auvious clients get it."""
    form = {"grant_type": "client_credentials", "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET}
    async with client.post("/security/oauth/token", data=form, headers={"Authorization": ""}) as resp:
        assert resp.status == 200
        return {"Authorization": f"Bearer {(await resp.json())['access_token']}"}


async def _request(client: Client, headers: dict[str, str], **body: Any) -> Any:
    return await client.json("POST", f"{COMPOSITION_API}/request", json=body, headers=headers)


async def _until_done(client: Client, headers: dict[str, str], conversation: str, seconds: float = 90) -> Any:
    """Poll the query until no composition is waiting or running; every state seen follows the order."""
    seen: dict[str, list[str]] = {}

    async def query() -> list[dict[str, Any]]:
        answer = await client.json("GET", f"{COMPOSITION_API}/query/conversation/{conversation}", headers=headers)
        for c in answer["compositions"]:
            states = seen.setdefault(c["id"], [])
            if not states or states[-1] != c["state"]:
                states.append(c["state"])
        compositions: list[dict[str, Any]] = answer["compositions"]
        return compositions

    done = await eventually(
        query,
        lambda found: all(c["state"] in ("COMPLETED", "FAILED", "CANCELLED") for c in found),
        within=seconds,
        every=0.1,
        what=f"the compositions of {conversation} finished",
    )
    for composition_id, states in seen.items():
        if states[-1] == "COMPLETED":
            assert states == [s for s in STATES if s in states], (composition_id, states)
    return done


async def _fetch(client: Client, http: aiohttp.ClientSession, headers: dict[str, str], c: Any, path: Path) -> None:
    """The player URL, downloaded with a plain GET (no Authorization), and a byte range of it."""
    url_path = f"{COMPOSITION_API}/player/{c['conversationId']}/{c['id']}/url/attachment"
    answer = await client.json("GET", url_path, headers={**headers, "Referer": "https://app.example/"})
    assert set(answer) == {"url", "validUntil"}
    async with http.get(answer["url"]) as resp:
        assert resp.status == 200, await resp.text()
        path.write_bytes(await resp.read())
    assert path.stat().st_size == c["size"]
    async with http.get(answer["url"], headers={"Range": "bytes=4-11"}) as resp:
        assert resp.status == 206 and await resp.read() == path.read_bytes()[4:12]
    url = answer["url"]
    link = yarl.URL(url)
    signature = link.query["Signature"]
    async with http.get(link.update_query(Signature=("A" if signature[0] != "A" else "B") + signature[1:])) as resp:
        assert resp.status == 403, "an altered link is refused"


def _publisher_tracks(signal: Signal) -> tuple[FlashTrack, BeepTrack]:
    return FlashTrack(signal), BeepTrack(signal)


@dataclass
class ComposedCall:
    """A two-party call recorded through Janus (Bob joins `LATE_JOIN` s late), composed into an MP4 and an MP3
    with a client's token, both files fetched by their player URLs."""

    client: Client
    headers: dict[str, str]
    storage: Path
    call: float  # seconds from Alice's publish to the stop
    join: float  # when Bob published, on the composed timeline
    requested: dict[str, Any]  # the answer to the video request
    video: dict[str, Any]  # the compositions as listed once done
    audio: dict[str, Any]
    mp4: Path
    mp3: Path

    @functools.cached_property
    def flashes(self) -> dict[str, list[float]]:
        """Each tile's flashes inside the call: from 0.3 s after its publisher's picture appears (its voice may
        begin a few tens of ms after its picture, in the middle of a beep: a beep cut by the start has no onset
        of its own), and not in the last second (a publisher that leaves may take its last beep along before its
        last flash, or the other way round)."""
        left, right = (0.05, 0.3, 0.45, 0.7), (0.55, 0.3, 0.95, 0.7)
        inside = {"alice": (0.3, self.call - 1.0), "bob": (self.join + 0.3, self.call - 1.0)}
        return {
            user: [t for t in flash_times(self.mp4, region) if inside[user][0] < t < inside[user][1]]
            for user, region in (("alice", left), ("bob", right))
        }


EXPECTED = {"alice": CALL_SECONDS - 3, "bob": CALL_SECONDS - LATE_JOIN - 3}  # flashes and beeps at least


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def composed_call(janus: JanusHost, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[ComposedCall]:
    tmp_path = tmp_path_factory.mktemp("composed-call")
    room = new_room()
    raw = TestClient(TestServer(create_app(make_settings(tmp_path, janus.url))), headers=auth("all"))
    await raw.start_server()
    client = ApiClient(raw)
    try:
        async with aiohttp.ClientSession() as http:
            yield await _compose_a_call(client, http, janus, room, tmp_path)
    finally:
        await client.close()


async def _compose_a_call(
    client: Client, http: aiohttp.ClientSession, janus: JanusHost, room: int, tmp_path: Path
) -> ComposedCall:
    headers = await _token(client)
    event = await client.start(room, "conv-compose")
    epoch = math.floor(time.time())
    alice = Publisher(http, janus.url, room, display("alice"))
    bob = Publisher(http, janus.url, room, display("bob"))
    try:
        await alice.join()
        call_start = time.time()
        await alice.publish(list(_publisher_tracks(Signal(epoch, 0.0, ALICE))))
        await client.wait_tracks(event, "alice", 2)
        await asyncio.sleep(max(0.0, call_start + LATE_JOIN - time.time()))
        await bob.join()
        bob_start = time.time()
        await bob.publish(list(_publisher_tracks(Signal(epoch, 0.5, BOB))))
        await client.wait_tracks(event, "bob", 2)
        await asyncio.sleep(max(0.0, call_start + CALL_SECONDS - time.time()))
        call_end = time.time()
        await client.json("POST", f"{API}/recordings/{ids(event)}/stop")
    finally:
        await alice.leave()
        await bob.leave()
    video = await _request(
        client,
        headers,
        name="call video",
        conversationId="conv-compose",
        type="video",
        videoFormat="mp4",
        audioFormat="mp3",
        resolution="320x240",
        layout="GRID",
        priority="1",
    )
    audio = await _request(client, headers, name="call audio", conversationId="conv-compose", type="audio")
    compositions = {c["id"]: c for c in await _until_done(client, headers, "conv-compose")}
    assert set(compositions) == {video["id"], audio["id"]}
    mp4, mp3 = tmp_path / "call.mp4", tmp_path / "call.mp3"
    await _fetch(client, http, headers, compositions[video["id"]], mp4)
    await _fetch(client, http, headers, compositions[audio["id"]], mp3)
    # the call as recorded: from the composition's timeline start (Alice's first frame; publish to first frame
    # is ~0.1 s alone and was seen at 0.4 s on a loaded machine: start latency has tests of its own) to the stop
    recorded = await client.recording(event)
    call_start = _time(compositions[video["id"]]["timelineStart"]).timestamp()
    call_end = _time(recorded["stopped"]).timestamp()
    return ComposedCall(
        client,
        headers,
        tmp_path / "storage",
        call_end - call_start,
        bob_start - call_start,
        video,
        compositions[video["id"]],
        compositions[audio["id"]],
        mp4,
        mp3,
    )


def test_both_compositions_complete_with_the_calls_length(composed_call: ComposedCall) -> None:
    requested = composed_call.requested
    assert requested["state"] in STATES and requested["type"] == "VIDEO" and requested["name"] == "call video"
    call = composed_call.call
    for c in (composed_call.video, composed_call.audio):
        assert set(c) >= {"id", "name", "type", "state", "progress", "created", "completed", "duration", "size"}
        assert c["state"] == "COMPLETED" and c["progress"] == 100 and c["error"] is None, c
        assert abs(c["duration"] - call) <= 0.02 * call, (c["duration"], call)


def test_the_mp4_is_h264_and_aac_with_its_index_in_front(composed_call: ComposedCall) -> None:
    data = composed_call.mp4.read_bytes()
    assert data.index(b"moov") < data.index(b"mdat"), "the index is not in front (faststart)"
    call = composed_call.call
    with av.open(str(composed_call.mp4)) as container:
        v, a = container.streams.video[0], container.streams.audio[0]
        assert (v.codec_context.name, v.width, v.height) == ("h264", 320, 240)
        assert (a.codec_context.name, a.sample_rate, a.channels) == ("aac", 48000, 2)
        assert container.duration is not None and abs(container.duration / 1e6 - call) <= 0.02 * call


@pytest.mark.parametrize("user", ["alice", "bob"])
def test_each_tile_and_voice_of_the_mp4_are_in_lip_sync(composed_call: ComposedCall, user: str) -> None:
    flashes = composed_call.flashes[user]
    samples, _ = decode_audio(composed_call.mp4)
    beeps = beep_times(samples, 0.0, ALICE if user == "alice" else BOB)
    assert len(flashes) >= EXPECTED[user], (user, flashes)  # the tile is there, after the late join
    assert len(beeps) >= EXPECTED[user], (user, beeps)  # and the voice
    late = offsets(flashes, beeps)
    print(f"{user}: {len(late)} flashes, flash - beep ms: {[round(x * 1000) for x in late]}")
    assert max(abs(x) for x in late) < SYNC_LIMIT, f"{user}: flash - beep = {[round(x, 3) for x in late]}"


def test_the_mp3_holds_both_voices_in_sync(composed_call: ComposedCall) -> None:
    with av.open(str(composed_call.mp3)) as container:
        stream = container.streams.audio[0]
        assert (stream.codec_context.name, stream.sample_rate, stream.channels) == ("mp3float", 48000, 2)
    samples, first = decode_audio(composed_call.mp3)
    in_mp4, mp4_first = decode_audio(composed_call.mp4)
    call = composed_call.call
    assert abs(first + len(samples) / 48000 - call) <= 0.02 * call
    for user, frequency in (("alice", ALICE), ("bob", BOB)):
        heard = beep_times(samples, first, frequency)
        assert len(heard) >= EXPECTED[user], (user, heard)
        # the MP3 keeps every voice where it was recorded; the MP4 moves each voice to its picture, which the
        # frame grid displaces by up to half a frame (the worker's lip_sync_shifts)
        assert max(abs(x) for x in offsets(composed_call.flashes[user], heard)) < SYNC_LIMIT + HALF_FRAME
        # the same sound at the same time in both files (the MP3 encoder's delay is accounted for). Each file
        # starts at its own timelineStart: the MP4 at the first frame of any track, the MP3 at the first sound
        # (video may start a few ms earlier), so the times are compared on the wall clock
        later = (
            _time(composed_call.audio["timelineStart"]) - _time(composed_call.video["timelineStart"])
        ).total_seconds()
        whole = [t for t in heard if t - first > 0.3]  # (a beep cut by the start of the sound has no onset)
        apart = offsets([t + later for t in whole], beep_times(in_mp4, mp4_first, frequency))
        print(f"{user}: MP3 - MP4 beep ms: {[round(x * 1000, 1) for x in apart]}")
        assert max(abs(x) for x in apart) < HALF_FRAME + 0.001, (user, apart)


@pytest.mark.asyncio(loop_scope="module")
async def test_deleting_a_composition_deletes_its_file(composed_call: ComposedCall) -> None:
    client, headers, video = composed_call.client, composed_call.headers, composed_call.video
    stored = list(composed_call.storage.rglob(f"{video['id']}.mp4"))
    assert len(stored) == 1
    async with client.delete(f"{COMPOSITION_API}/conv-compose/{video['id']}/delete", headers=headers) as resp:
        assert resp.status == 204
    assert not stored[0].exists()
    left_over = await client.json("GET", f"{COMPOSITION_API}/query/conversation/conv-compose", headers=headers)
    assert [c["id"] for c in left_over["compositions"]] == [composed_call.audio["id"]]
    url_path = f"{COMPOSITION_API}/player/conv-compose/{video['id']}/url/attachment"
    assert (await client.json("GET", url_path, 404, headers=headers))["error"] == "NOT_FOUND"


@pytest.mark.timeout(180)
async def test_the_queue_survives_a_restart_and_runs_by_priority(
    aiohttp_client: AiohttpClient, janus: JanusHost, http: aiohttp.ClientSession, room: int, tmp_path: Path
) -> None:
    settings = make_settings(tmp_path, janus.url)
    client = await make_client(aiohttp_client, settings)
    event = await client.start(room, "conv-queue")
    await publish_two_seconds(client, janus, room, http, event)
    await client.json("POST", f"{API}/recordings/{ids(event)}/stop")
    requested = []
    for priority in (1, 5, 3):
        body = {"conversationId": "conv-queue", "type": "video", "resolution": "160x120", "priority": priority}
        requested.append((await _request(client, auth("all"), **body))["id"])
    await client.close()  # the worker of the first is stopped; the others have not started

    client = await make_client(aiohttp_client, settings)
    done = {c["id"]: c for c in await _until_done(client, auth("all"), "conv-queue")}
    assert [done[i]["state"] for i in requested] == ["COMPLETED"] * 3
    by_completion = sorted(requested, key=lambda i: done[i]["completed"])
    assert by_completion == [requested[1], requested[2], requested[0]], "priority 5, then 3, then 1 (requeued)"
    assert {done[i]["priority"] for i in requested} == {1, 3, 5}


async def test_bad_requests_are_refused_and_change_nothing(
    client: Client, janus: JanusHost, room: int, http: aiohttp.ClientSession
) -> None:
    live = await client.start(room, "conv-live")
    assert live["state"] == "ACTIVE"
    conflict = await client.json(
        "POST", f"{COMPOSITION_API}/request", 409, json={"conversationId": "conv-live", "type": "video"}
    )
    assert conflict["error"] == "CONFLICT"
    await client.json("POST", f"{API}/recordings/{ids(live)}/stop")
    good = {"conversationId": "conv-live", "type": "video", "resolution": "320x240", "layout": "GRID"}
    bad: list[dict[str, Any]] = [
        {**good, "resolution": "320"},
        {**good, "resolution": "321x240"},
        {**good, "resolution": "99999x240"},
        {**good, "resolution": "0x0"},
        {**good, "layout": "MOSAIC"},
        {**good, "videoFormat": "webm"},
        {**good, "audioFormat": "ogg"},
        {**good, "type": "film"},
        {**good, "priority": "urgent"},
        {**good, "resolution": "QQQVGA"},
        {**good, "priority": 1000},
        {k: v for k, v in good.items() if k != "conversationId"},
        {**good, "conversationId": "a/b"},
    ]
    for body in bad:
        answer = await client.json("POST", f"{COMPOSITION_API}/request", 400, json=body)
        assert answer["error"] == "INVALID_REQUEST" and answer["details"], (body, answer)
    malformed = await client.json(
        "POST", f"{COMPOSITION_API}/request", 400, data=b"{", headers={"Content-Type": "application/json"}
    )
    assert malformed["error"] in {"INVALID_REQUEST", "MALFORMED_JSON"} and malformed["message"]
    unknown = await client.json("POST", f"{COMPOSITION_API}/request", 404, json={**good, "conversationId": "nope"})
    assert unknown["error"] == "NOT_FOUND"
    await client.json("GET", f"{COMPOSITION_API}/query/conversation/nope", 404)
    assert (await client.json("GET", f"{COMPOSITION_API}/query/conversation/conv-live"))["compositions"] == []

    # a conversation whose recording holds no media: accepted, then FAILED with the reason
    nothing = await _request(client, auth("all"), **good)
    (failed,) = await _until_done(client, auth("all"), "conv-live")
    assert failed["id"] == nothing["id"] and failed["state"] == "FAILED", failed
    assert failed["error"]["code"] == "NO_MEDIA" and failed["error"]["message"]
    url_path = f"{COMPOSITION_API}/player/conv-live/{failed['id']}/url/attachment"
    assert (await client.json("GET", url_path, 409))["error"] == "CONFLICT"
    # another organization sees none of it
    await client.json("GET", f"{COMPOSITION_API}/query/conversation/conv-live", 404, headers=auth("other"))
    await client.json("DELETE", f"{COMPOSITION_API}/conv-live/{failed['id']}/delete", 404, headers=auth("other"))


@pytest.mark.timeout(180)
async def test_a_composition_is_stored_in_object_storage_and_deleted_from_it(
    aiohttp_client: AiohttpClient,
    janus: JanusHost,
    http: aiohttp.ClientSession,
    room: int,
    tmp_path: Path,
    servers: Servers,
) -> None:
    s3 = servers.targets["s3rver"]
    app = {"id": "app1", "organization_id": "org1", "janus": {"url": janus.url}, "storage": profile_data("s3rver", s3)}
    client = await make_client(aiohttp_client, make_settings(tmp_path, janus.url, applications=[app]))
    event = await client.start(room, "conv-s3")
    await publish_two_seconds(client, janus, room, http, event)
    await client.json("POST", f"{API}/recordings/{ids(event)}/stop")
    composition = await _request(client, auth("all"), conversationId="conv-s3", type="audio")
    (done,) = await _until_done(client, auth("all"), "conv-s3")
    assert done["state"] == "COMPLETED", done

    url_path = f"{COMPOSITION_API}/player/conv-s3/{composition['id']}/url/attachment"
    answer = await client.wait_for(url_path, lambda a: "X-Amz-Signature" in a["url"])  # first the service's own link
    url = answer["url"]
    link = yarl.URL(url)
    assert link.port == s3.port and link.path.startswith(f"/{BUCKET}/"), "a presigned URL of the storage"
    mp3 = tmp_path / "stored.mp3"
    async with http.get(url) as resp:  # no credentials
        assert resp.status == 200
        mp3.write_bytes(await resp.read())
    assert mp3.stat().st_size == done["size"]
    samples, _ = decode_audio(mp3)
    assert abs(len(samples) / 48000 - done["duration"]) < 0.05

    key = link.path.removeprefix(f"/{BUCKET}/")
    provider = create_provider(profile("s3rver", s3))
    try:
        assert (await provider.stat(key)) is not None
        async with client.delete(f"{COMPOSITION_API}/conv-s3/{composition['id']}/delete") as resp:
            assert resp.status == 204
        assert (await provider.stat(key)) is None, "the stored object is deleted with its composition"
    finally:
        await provider.aclose()


@pytest.mark.timeout(180)
async def test_named_sizes_cancel_and_run_again(
    client: Client, janus: JanusHost, http: aiohttp.ClientSession, room: int, tmp_path: Path
) -> None:
    """Auvious's newer request form (QVGA, LOW) from an AGENT and a SERVICE client; a running composition is
    cancelled (its worker ends, nothing is stored), then run again to the end."""
    event = await client.start(room, "conv-cancel")
    await publish_two_seconds(client, janus, room, http, event)
    await client.json("POST", f"{API}/recordings/{ids(event)}/stop")
    named = await _request(client, auth("AGENT"), conversationId="conv-cancel", type="VIDEO", resolution="QVGA")
    assert named["conversationId"] == "conv-cancel" and named["id"]
    assert (named["resolution"], named["priority"]) == ("320x240", 1)
    await _until_done(client, auth("AGENT"), "conv-cancel")

    # 4K at 1 thread: slow enough to be caught while it runs
    big = await _request(client, auth("SERVICE"), conversationId="conv-cancel", type="video", resolution="uhd")
    assert (big["resolution"], big["priority"]) == ("3840x2160", 1)
    query = f"{COMPOSITION_API}/query/conversation/conv-cancel"
    await eventually(lambda: asyncio.to_thread(composer_parents, big["id"]), within=60, what="the 4K worker")
    await eventually(lambda: client.json("GET", query), lambda a: a["compositions"][-1]["progress"] > 0, within=60)
    # it takes only CPU time nothing else wants: SCHED_IDLE (every thread), and niced
    [(worker, _)] = composers(big["id"])
    for thread in Path(f"/proc/{worker}/task").iterdir():
        assert os.sched_getscheduler(int(thread.name)) == os.SCHED_IDLE, thread
    assert os.getpriority(os.PRIO_PROCESS, worker) - os.getpriority(os.PRIO_PROCESS, 0) == 10
    began = time.monotonic()
    cancelled = await client.json("POST", f"{COMPOSITION_API}/conv-cancel/{big['id']}/cancel", headers=auth("SERVICE"))
    took = time.monotonic() - began
    assert cancelled["id"] == big["id"] and cancelled["state"] == "CANCELLED", cancelled
    assert composer_parents(big["id"]) == [], "the worker process is ended"
    assert took < 1.0, f"cancelling took {took:.2f} s"
    await asyncio.sleep(1)  # a worker that was not stopped would report progress or finish meanwhile
    listed = {c["id"]: c for c in (await client.json("GET", query))["compositions"]}
    assert listed[big["id"]]["state"] == "CANCELLED" and listed[big["id"]]["size"] is None
    assert list((tmp_path / "storage").rglob(f"{big['id']}*")) == [], "nothing of it is stored"
    assert list((tmp_path / "data").rglob(f"*{big['id']}*")) == [], "nothing of it is left on the spool"
    again = await client.json("POST", f"{COMPOSITION_API}/conv-cancel/{big['id']}/cancel")
    assert again["state"] == "CANCELLED"
    url_path = f"{COMPOSITION_API}/player/conv-cancel/{big['id']}/url/attachment"
    assert (await client.json("GET", url_path, 409))["error"] == "CONFLICT"

    # run again: the same composition, queued, then to the end (at a smaller size it cannot change)
    body = {"conversationId": "conv-cancel", "compositionId": big["id"]}
    requeued = await client.json("POST", f"{COMPOSITION_API}/reexecute", json=body, headers=auth("AGENT"))
    assert requeued["id"] == big["id"] and requeued["state"] in STATES and requeued["error"] is None, requeued
    done = {c["id"]: c for c in await _until_done(client, auth("all"), "conv-cancel", seconds=150)}
    assert done[big["id"]]["state"] == "COMPLETED", done[big["id"]]
    await _fetch(client, http, auth("all"), done[big["id"]], tmp_path / "big.mp4")
    with av.open(str(tmp_path / "big.mp4")) as container:
        assert (container.streams.video[0].width, container.streams.video[0].height) == (3840, 2160)

    # what cannot be: cancelling a COMPLETED one, running a COMPLETED one again, unknown or another's ids
    for path, kw in (
        (f"{COMPOSITION_API}/conv-cancel/{big['id']}/cancel", {}),
        (f"{COMPOSITION_API}/reexecute", {"json": body}),
    ):
        assert (await client.json("POST", path, 409, **kw))["error"] == "CONFLICT"
    await client.json("POST", f"{COMPOSITION_API}/conv-cancel/nope/cancel", 404)
    await client.json("POST", f"{COMPOSITION_API}/reexecute", 404, json={**body, "compositionId": "nope"})
    await client.json("POST", f"{COMPOSITION_API}/reexecute", 404, json=body, headers=auth("other"))
    await client.json("POST", f"{COMPOSITION_API}/reexecute", 400, json={"conversationId": "conv-cancel"})


def _time(iso: str) -> datetime:
    return datetime.fromisoformat(iso.replace("Z", "+00:00"))
