"""Several service instances as real processes on one PostgreSQL, recording through Janus from real aiortc
publishers: commands reach the owner, and a killed instance's recordings are recovered by the others."""

from __future__ import annotations

import asyncio
import itertools
import re
import shutil
import signal
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import pytest

from tests.builders import ROOMS
from tests.client import API, ids
from tests.eventually import eventually
from tests.instances import KEY, Client, Cluster, Instance, all_uploaded, parse_time, segments
from tests.janus_host import JanusHost
from tests.postgres import PostgresServer
from tests.processes import composer_parents
from tests.publisher import Publisher, display

LEASE = 4.0
_rooms = itertools.cycle(reversed(ROOMS))  # the other tests take rooms from the front


@pytest.fixture
def cluster(tmp_path: Path, postgres: PostgresServer, janus: JanusHost) -> Iterator[Cluster]:
    running = Cluster(tmp_path, "", janus.url, lease_seconds=LEASE)  # the database is made in the test's loop
    yield running
    running.stop_all()


@pytest.fixture
async def client() -> AsyncIterator[Client]:
    async with aiohttp.ClientSession() as http:
        yield Client(http)


async def _publishers(http: aiohttp.ClientSession, janus: JanusHost, room: int, users: list[str]) -> list[Publisher]:
    publishers = [Publisher(http, janus.url, room, display(user)) for user in users]
    for publisher in publishers:
        await publisher.join()
        await publisher.publish()
    return publishers


def _recovered_by_b(info: dict[str, Any]) -> bool:
    return info["state"] == "ACTIVE" and info["instanceId"] == "B" and info.get("recovered") is not None


async def _states(cluster: Cluster) -> dict[str, int]:
    """How many recordings are in each state, read from the shared database."""
    connection = await asyncpg.connect(cluster.database_url)
    try:
        rows = await connection.fetch("SELECT state, COUNT(*) AS n FROM recordings GROUP BY state")
    finally:
        await connection.close()
    return {row["state"]: row["n"] for row in rows}


async def test_a_stop_at_another_instance_and_a_killed_instance_recovered(
    cluster: Cluster, postgres: PostgresServer, janus: JanusHost, client: Client
) -> None:
    cluster.database_url = await postgres.new_database()
    a, b = cluster.start("A"), cluster.start("B")
    room = next(_rooms)
    publishers = await _publishers(client.http, janus, room, ["alice", "bob"])
    try:
        # a stop sent to B reaches A, which runs the recording
        first = await client.start(a, room, "c-stop")
        assert (first["state"], first["instanceId"]) == ("ACTIVE", "A")
        await asyncio.sleep(2)
        began = time.monotonic()
        stopped = await client.stop(b, first)
        took = time.monotonic() - began
        assert stopped["state"] == "STOPPED", stopped
        assert took < 3, f"the stop took {took:.2f} s"
        assert (await client.get(a, first))["state"] == "STOPPED"

        # A dies mid-recording: B takes the recording over
        second = await client.start(a, room, "c-kill")
        assert second["instanceId"] == "A"
        await client.wait(b, second, lambda i: len(i["streams"]) == 2 and all(s["tracks"] for s in i["streams"]), 10)
        await asyncio.sleep(3)
        a.kill()
        killed = time.monotonic()

        info = await client.wait(b, second, _recovered_by_b, LEASE + 5)  # (PENDING_RECOVERY lasts while B joins)
        takeover = time.monotonic() - killed
        assert takeover <= LEASE + 5
        # the ids with the old instance still find it; so do the new ones
        assert (await client.get(b, {**second, "instanceId": "B"}))["recorderId"] == second["recorderId"]
        await asyncio.sleep(3)
        final = await client.stop(b, second)
        assert final["state"] == "STOPPED"
        info = await client.wait(b, second, all_uploaded, 30, step=0.2)
        pieces = segments(cluster.storage, info)
        assert set(pieces) == {(u, k) for u in ("alice", "bob") for k in ("AUDIO", "VIDEO")}, pieces
        for key, tracks in pieces.items():
            assert len(tracks) == 2, (key, tracks)  # before the kill (finished by B) and after
            (start0, end0, frames0), (start1, _, frames1) = tracks
            assert frames0 > 0 and frames1 > 0
            assert end0 - start0 > 1, (key, tracks)  # what A wrote up to its last flush (~3 s recorded)
            gap = start1 - end0
            assert 0 <= gap <= LEASE + 5, (key, f"{gap:.2f} s missing")
        assert await _states(cluster) == {"STOPPED": 2}
        print(f"takeover {takeover:.2f} s")
    finally:
        for publisher in publishers:
            await publisher.leave()


async def test_twenty_recordings_over_three_instances_one_killed_all_stopped_and_uploaded(
    cluster: Cluster, postgres: PostgresServer, janus: JanusHost, client: Client
) -> None:
    cluster.database_url = await postgres.new_database()
    instances = [cluster.start(name) for name in ("A", "B", "C")]
    rooms = [next(_rooms), next(_rooms)]
    publishers = [
        *(await _publishers(client.http, janus, rooms[0], ["u0"])),
        *(await _publishers(client.http, janus, rooms[1], ["u1"])),
    ]
    try:
        recordings = [await client.start(instances[n % 3], rooms[n % 2], f"conversation-{n}") for n in range(20)]
        assert [r["instanceId"] for r in recordings] == [("A", "B", "C")[n % 3] for n in range(20)]
        assert {r["state"] for r in recordings} == {"ACTIVE"}
        await asyncio.sleep(3)
        instances[2].kill()  # C had 6 recordings
        survivors = instances[:2]
        for n, recording in enumerate(recordings):
            await client.wait(
                survivors[n % 2], recording, lambda i: i["state"] == "ACTIVE" and i["instanceId"] in "AB", LEASE + 15
            )
        await asyncio.sleep(2)
        for n, recording in enumerate(recordings):  # each stopped through an instance, the owner or not
            assert (await client.stop(survivors[n % 2], recording))["state"] == "STOPPED"
        for n, recording in enumerate(recordings):
            info = await client.wait(survivors[n % 2], recording, all_uploaded, 60, step=0.2)
            tracks = [t for s in info["streams"] for t in s["tracks"]]
            expected = 4 if recording["instanceId"] == "C" else 2  # C's were cut in two by the kill
            assert len(tracks) == expected, info
            for track in tracks:
                stored = cluster.storage / track["storage"]["objectStorage"]["location"]
                assert stored.stat().st_size == int(track["storage"]["objectStorage"]["size"]) > 0
        assert await _states(cluster) == {"STOPPED": 20}
    finally:
        for publisher in publishers:
            await publisher.leave()


async def test_sigterm_hands_recordings_over_and_exits_cleanly(
    cluster: Cluster, postgres: PostgresServer, janus: JanusHost, client: Client
) -> None:
    cluster.database_url = await postgres.new_database()
    a, b = cluster.start("A"), cluster.start("B")
    room = next(_rooms)
    publishers = await _publishers(client.http, janus, room, ["alice"])
    try:
        recording = await client.start(a, room, "c-term")
        await client.wait(b, recording, lambda i: len(i["streams"]) == 1 and i["streams"][0]["tracks"], 10)
        await asyncio.sleep(2)
        began = time.monotonic()
        assert await asyncio.to_thread(a.terminate) == 0
        exited = time.monotonic() - began
        info = await client.wait(b, recording, lambda i: i["state"] == "ACTIVE" and i["instanceId"] == "B", 5)
        handed = time.monotonic() - began
        assert info["recovered"] is not None
        await asyncio.sleep(2)
        await client.stop(b, recording)
        info = await client.wait(b, recording, all_uploaded, 30, step=0.2)
        pieces = segments(cluster.storage, info)
        for key, tracks in pieces.items():
            assert len(tracks) == 2, (key, tracks)  # A's closed at shutdown, B's after
            (_, end0, _), (start1, _, _) = tracks
            assert 0 <= start1 - end0 < 3, (key, tracks)  # handed over at once, not after the lease
        print(f"A exited in {exited:.2f} s; B recorded again after {handed:.2f} s")
    finally:
        for publisher in publishers:
            await publisher.leave()


async def test_one_instance_on_sqlite_killed_and_started_again_recovers_and_finishes_its_files(
    cluster: Cluster, janus: JanusHost, client: Client
) -> None:
    a = cluster.start("A")  # the embedded defaults: SQLite in A's data directory
    room = next(_rooms)
    publishers = await _publishers(client.http, janus, room, ["alice"])
    try:
        recording = await client.start(a, room, "c-restart")
        await client.wait(a, recording, lambda i: len(i["streams"]) == 1 and len(i["streams"][0]["tracks"]) == 2, 10)
        await asyncio.sleep(3)
        a.kill()
        a = cluster.start("A")  # the same instance again: its earlier run's files are its own leftovers
        info = await client.wait(a, recording, lambda i: i["state"] == "ACTIVE" and i.get("recovered"), LEASE + 5)
        await asyncio.sleep(2)
        await client.stop(a, recording)
        info = await client.wait(a, recording, all_uploaded, 30, step=0.2)
        for key, tracks in segments(cluster.storage, info).items():
            assert len(tracks) == 2, (key, tracks)
            (start0, end0, _), (start1, _, _) = tracks
            assert end0 - start0 > 1 and 0 <= start1 - end0 <= LEASE + 5, (key, tracks)
    finally:
        for publisher in publishers:
            await publisher.leave()


async def test_a_composition_is_cancelled_through_another_instance(
    cluster: Cluster, postgres: PostgresServer, janus: JanusHost, client: Client
) -> None:
    """The cancel reaches the instance whose worker composes (NOTIFY), which ends the worker at once."""
    cluster.database_url = await postgres.new_database()
    a, b = cluster.start("A"), cluster.start("B")
    room = next(_rooms)
    recording = await client.start(a, room, "c-compose")
    (carol,) = await _publishers(client.http, janus, room, ["carol"])
    try:
        await client.wait(a, recording, lambda i: len([t for s in i["streams"] for t in s["tracks"]]) == 2, 10)
        await asyncio.sleep(2)
    finally:
        await carol.leave()
    await client.stop(a, recording)
    headers = {"Authorization": f"Bearer {KEY}"}
    body = {"conversationId": "c-compose", "type": "video", "resolution": "3840x2160"}
    async with client.http.post(f"{a.url}/composition/api/request", json=body, headers=headers) as resp:
        assert resp.status == 200, await resp.text()
        composition = await resp.json()
    parents = await eventually(
        lambda: asyncio.to_thread(composer_parents, composition["id"]), within=60, what="the composition's worker"
    )
    owner = a if parents == [a.process.pid] else b
    assert parents == [owner.process.pid], parents
    other = b if owner is a else a
    path = f"/composition/api/c-compose/{composition['id']}/cancel"
    async with client.http.post(other.url + path, headers=headers) as resp:
        assert resp.status == 200, await resp.text()
        assert (await resp.json())["state"] == "CANCELLED"
    await eventually(
        lambda: asyncio.to_thread(composer_parents, composition["id"]),
        lambda found: not found,
        within=3,
        what=f"instance {owner.name} ending its worker",
    )
    await asyncio.sleep(1)  # the owner writes nothing more about it
    query = "/composition/api/query/conversation/c-compose"
    async with client.http.get(owner.url + query, headers=headers) as resp:
        (listed,) = (await resp.json())["compositions"]
    assert listed["state"] == "CANCELLED" and listed["size"] is None, listed
    assert list(cluster.storage.rglob(f"{composition['id']}*")) == []


async def test_controls_reach_the_owner_and_a_paused_recording_stays_paused_across_a_takeover(
    cluster: Cluster, postgres: PostgresServer, janus: JanusHost, client: Client
) -> None:
    cluster.database_url = await postgres.new_database()
    a, b = cluster.start("A"), cluster.start("B")
    room = next(_rooms)
    publishers = await _publishers(client.http, janus, room, ["alice"])

    def tracks(info: dict[str, Any]) -> int:
        return sum(len(s["tracks"]) for s in info["streams"])

    try:
        recording = await client.start(a, room, "c-paused")
        await client.wait(b, recording, lambda i: tracks(i) == 2, 10)
        await asyncio.sleep(1)
        paused = await client.call(b, "POST", f"/recordings/{ids(recording)}/pause")  # A runs it: sent there
        assert paused["paused"] is True and paused["instanceId"] == "A", paused
        a.kill()

        info = await client.wait(b, recording, _recovered_by_b, LEASE + 5)
        assert info["paused"] is True, "recovered paused"
        await asyncio.sleep(2)
        assert tracks(await client.get(b, recording)) == 2, "nothing is written while paused, on either instance"
        resumed = await client.call(b, "POST", f"/recordings/{ids(recording)}/resume")
        assert resumed["paused"] is False
        await client.wait(b, recording, lambda i: tracks(i) == 4, 10)
        await asyncio.sleep(1)
        await client.stop(b, recording)
        info = await client.wait(b, recording, all_uploaded, 30, step=0.2)
        pause = info["pauses"][0]
        pieces = segments(cluster.storage, info)
        for key, (before, after) in pieces.items():
            assert before[2] > 0 and after[2] > 0, (key, pieces)
            assert before[1] <= parse_time(pause["paused"]) + 0.1, (key, "media after the pause", before)
            assert after[0] >= parse_time(pause["resumed"]) - 0.02, (key, "media inside the pause", after)
    finally:
        for publisher in publishers:
            await publisher.leave()


def _lose_machine(cluster: Cluster, name: str) -> float:
    """SIGKILL an instance and delete its data folder (its spool): its machine is gone. When (Unix time)."""
    cluster.instances[name].kill()
    lost = time.time()
    shutil.rmtree(cluster.directory / name)
    return lost


async def _journal_rows(cluster: Cluster) -> int:
    connection = await asyncpg.connect(cluster.database_url)
    try:
        return int(await connection.fetchval("SELECT COUNT(*) FROM track_segments"))
    finally:
        await connection.close()


async def test_a_lost_machine_costs_each_track_a_second_or_two_not_the_call(
    cluster: Cluster, postgres: PostgresServer, janus: JanusHost, client: Client
) -> None:
    """The owner is SIGKILLed and its spool deleted: what it copied to storage while recording (segments, in
    the journal) becomes each track's file, ending within about 2 s of the loss; B takes the recording over
    within a second or so (A's liveness lock went with its process, long before its lease ran out); the
    segments are gone once the files are stored."""
    cluster.database_url = await postgres.new_database()
    a, b = cluster.start("A"), cluster.start("B")
    room = next(_rooms)
    publishers = await _publishers(client.http, janus, room, ["alice", "bob"])
    try:
        recording = await client.start(a, room, "c-lost")
        await client.wait(b, recording, lambda i: sum(len(s["tracks"]) for s in i["streams"]) == 4, 10)
        await asyncio.sleep(5)
        for instance in (a, b):  # the owner's own record, and another instance's one query
            live = [t for s in (await client.get(instance, recording))["streams"] for t in s["tracks"]]
            durable = [parse_time(t["durableUntil"]) for t in live]
            assert len(durable) == 4 and all(time.time() - d < 3.5 for d in durable), (instance.name, live)
        async with client.http.get(f"{a.url}/metrics") as response:
            lag = re.search(r"^recorder_durability_lag_seconds (\S+)$", await response.text(), re.M)
        assert lag is not None and 0 < float(lag.group(1)) < 3.5, lag
        lost = _lose_machine(cluster, "A")
        await client.wait(b, recording, _recovered_by_b, LEASE + 5, step=0.02)
        takeover = time.time() - lost
        assert takeover < LEASE - 1, f"B took {takeover:.2f} s: the lease decided, not the lock"
        await asyncio.sleep(3)
        await client.stop(b, recording)
        info = await client.wait(b, recording, all_uploaded, 30, step=0.2)
        pieces = segments(cluster.storage, info)
        assert set(pieces) == {(u, k) for u in ("alice", "bob") for k in ("AUDIO", "VIDEO")}, pieces
        losses = []
        for key, tracks in pieces.items():
            assert len(tracks) == 2, (key, tracks)  # A's, put together from storage, and B's
            (start0, end0, frames0), (start1, _, frames1) = tracks
            assert frames0 > 0 and frames1 > 0 and end0 - start0 > 3, (key, tracks)
            losses.append(lost - end0)
            assert lost - end0 < 2.5, (key, f"{lost - end0:.2f} s before the loss are missing")
            assert 0 <= start1 - end0 < LEASE, (key, tracks)
        await eventually(lambda: _journal_rows(cluster), lambda n: n == 0, within=10, what="the journal emptied")
        assert not [p for p in cluster.storage.rglob("*") if ".segments" in p.name], "segments left in storage"
        print(f"takeover {takeover:.2f} s; media lost per track {', '.join(f'{x:.2f}' for x in sorted(losses))} s")
    finally:
        for publisher in publishers:
            await publisher.leave()


async def test_a_track_nothing_of_which_reached_storage_says_its_media_was_lost(
    cluster: Cluster, postgres: PostgresServer, janus: JanusHost, client: Client
) -> None:
    """With no segments copied (A ships none), a lost machine's tracks cannot be put together: after
    media_lost_after_seconds each says MEDIA_LOST, ends where it began, and gets no link."""
    cluster.database_url = await postgres.new_database()
    a = cluster.start("A", segment_seconds="0")
    b = cluster.start("B", media_lost_after_seconds="1")
    room = next(_rooms)
    publishers = await _publishers(client.http, janus, room, ["alice"])
    try:
        recording = await client.start(a, room, "c-gone")
        await client.wait(b, recording, lambda i: sum(len(s["tracks"]) for s in i["streams"]) == 2, 10)
        await asyncio.sleep(2)
        _lose_machine(cluster, "A")
        await client.wait(b, recording, _recovered_by_b, LEASE + 5)
        await asyncio.sleep(2)
        await client.stop(b, recording)
        info = await client.wait(b, recording, all_uploaded, 30, step=0.2)
        tracks = [t for s in info["streams"] for t in s["tracks"]]
        gone = [t for t in tracks if t["storage"].get("objectStorage", {}).get("error")]
        assert len(gone) == 2 and len(tracks) == 4, tracks
        for track in gone:
            assert track["storage"]["objectStorage"]["error"]["code"] == "MEDIA_LOST", track
            assert track["stopped"] == track["started"] and "url" not in track, track
    finally:
        for publisher in publishers:
            await publisher.leave()


async def _capacity(client: Client, instance: Instance) -> dict[str, Any]:
    async with client.http.get(f"{instance.url}/capacity") as response:
        assert response.status == 200
        answer: dict[str, Any] = await response.json()
        return answer


async def test_a_thirty_way_start_burst_across_two_instances_admits_exactly_their_capacity(
    cluster: Cluster, postgres: PostgresServer, janus: JanusHost, client: Client
) -> None:
    """Two instances of capacity 4 each: 30 starts at once, 15 at each, admit exactly 8 (counted in each
    start's own transaction); every other answers 503 CAPACITY with Retry-After, at once. /capacity and
    /metrics say how much room is left."""
    cluster.database_url = await postgres.new_database()
    a, b = cluster.start("A", max_recordings="4"), cluster.start("B", max_recordings="4")
    room = next(_rooms)

    async def start(n: int) -> tuple[int, float, dict[str, Any], str | None]:
        instance = (a, b)[n % 2]
        body = {"applicationId": "app1", "conferenceId": str(room), "conversationId": f"c-burst-{n}"}
        began = time.monotonic()
        async with client.on(instance).request("POST", f"{API}/recordings/start", json=body) as response:
            answer = await response.json()
            return response.status, time.monotonic() - began, answer, response.headers.get("Retry-After")

    results = await asyncio.gather(*(start(n) for n in range(30)))
    admitted = [r for r in results if r[0] == 200]
    refused = [r for r in results if r[0] != 200]
    assert len(admitted) == 8, [(r[0], r[2]) for r in results]
    assert {r[2]["instanceId"] for r in admitted} == {"A", "B"}
    assert all(r[0] == 503 and r[2]["error"] == "CAPACITY" and r[3] == "1" for r in refused), refused[:2]
    room_left = await _capacity(client, a)
    assert room_left["instance"] == {"capacity": 4, "live": 4, "free": 0}, room_left
    assert room_left["cluster"] == {"instances": 2, "capacity": 8, "live": 8, "free": 0}, room_left
    async with client.http.get(f"{b.url}/metrics") as response:
        metrics = await response.text()
    assert 'recorder_capacity_recordings{kind="free",scope="cluster"} 0.0' in metrics, metrics
    slowest = max(r[1] for r in refused)
    alone = [await start(100 + n) for n in range(5)]  # refused with nothing else going on
    assert all(r[0] == 503 for r in alone), alone
    assert slowest < 1, f"a refusal took {slowest:.2f} s: it must never wait for a timeout"
    for _, _, answer, _ in admitted:
        await client.stop((a, b)[answer["instanceId"] == "B"], answer)
    room_left = await _capacity(client, a)
    assert room_left["cluster"]["free"] == 8, room_left
    print(
        f"refusals answered within {slowest * 1000:.0f} ms in the burst (slowest of {len(refused)}),"
        f" {max(r[1] for r in alone) * 1000:.0f} ms alone (slowest of 5)"
    )


async def test_an_instance_paused_for_15_s_is_fenced_cleanly_and_lets_go_when_it_wakes(
    cluster: Cluster, postgres: PostgresServer, janus: JanusHost, client: Client
) -> None:
    """SIGSTOP of the owner for 15 s (the process frozen, its database session up: its liveness lock held):
    its lease runs out and B takes the recording over; woken, A finds it no longer holds it and lets it go
    (its late segments are refused by the epoch); every file is stored once and decodes."""
    cluster.database_url = await postgres.new_database()
    a, b = cluster.start("A"), cluster.start("B")
    room = next(_rooms)
    publishers = await _publishers(client.http, janus, room, ["alice"])
    try:
        recording = await client.start(a, room, "c-stop-15")
        await client.wait(b, recording, lambda i: sum(len(s["tracks"]) for s in i["streams"]) == 2, 10)
        await asyncio.sleep(2)
        a.process.send_signal(signal.SIGSTOP)
        try:
            await client.wait(b, recording, _recovered_by_b, LEASE + 5)
            await asyncio.sleep(15 - LEASE)
        finally:
            a.process.send_signal(signal.SIGCONT)
        await eventually(
            lambda: asyncio.to_thread(a.log.read_text),
            lambda text: "lost its lease" in text,
            within=10,
            what="A letting the recording go",
        )
        assert (await client.get(a, recording))["instanceId"] == "B"
        await asyncio.sleep(1)
        await client.stop(b, recording)
        info = await client.wait(b, recording, all_uploaded, 30, step=0.2)
        pieces = segments(cluster.storage, info)
        for key, tracks in pieces.items():
            assert len(tracks) == 2, (key, tracks)  # A's, ended by A when it woke, and B's
            assert all(frames > 0 for _, _, frames in tracks), (key, tracks)
        assert a.process.poll() is None, "A died"
    finally:
        for publisher in publishers:
            await publisher.leave()
