"""The repository's contract, run against both databases: SQLite (a file) and a real PostgreSQL server.

Two repositories opened on the same database stand for two instances."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from recorder.database import Database, PostgresDatabase, SqliteDatabase
from recorder.models import (
    ChatEntry,
    CobrowseEvent,
    Composition,
    CompositionState,
    CompositionType,
    ErrorInfo,
    Layout,
    Recording,
    RecordingState,
    Stream,
    StreamState,
    Track,
    UploadJob,
    UploadKind,
    UploadState,
)
from recorder.repository import InstanceInfo, StoredProfile
from recorder.sql_repository import MIGRATIONS, SqlRepository, migrate

Opener = Callable[[], Awaitable[SqlRepository]]
T0 = datetime(2026, 11, 21, 10, 0, 0, tzinfo=UTC)


@pytest.fixture(params=["sqlite", "postgresql"])
async def opener(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Opener]:
    """Opens repositories on one new database (each call: another instance's connection)."""
    opened: list[Database] = []
    if request.param == "sqlite":  # one process per SQLite file: instances there share its one connection
        shared = await SqliteDatabase.open(tmp_path / "recorder.sqlite3")
        opened.append(shared)

        async def database() -> Database:
            return shared
    else:
        url = await request.getfixturevalue("postgres").new_database()

        async def database() -> Database:
            opened.append(await PostgresDatabase.open(url))
            return opened[-1]

    async def open_one() -> SqlRepository:
        db = await database()
        await migrate(db)
        return SqlRepository(db)

    yield open_one
    for db in opened:
        await db.aclose()


@pytest.fixture
async def repo(opener: Opener) -> SqlRepository:
    return await opener()


def recording(conversation: str = "c1", org: str = "org1", instance: str = "i1", **fields: object) -> Recording:
    values: dict[str, object] = {
        "recorder_id": str(uuid.uuid4()),
        "conversation_id": conversation,
        "instance_id": instance,
        "organization_id": org,
        "application_id": "app1",
        "conference_id": "1234",
        "audio": True,
        "video": False,
        "state": RecordingState.INITIALISED,
        "created": T0,
        "lease_until": time.time() + 30,
        **fields,
    }
    return Recording(**values)  # type: ignore[arg-type]


def upload(recorder_id: str, key: str, owner: str | None = "i1", **fields: object) -> UploadJob:
    values: dict[str, object] = {
        "application_id": "app1",
        "recorder_id": recorder_id,
        "kind": UploadKind.TRACK,
        "subject": "t1",
        "source": f"/spool/{key}",
        "key": key,
        "size": 5_000_000_000,  # more than 32 bits
        "md5": "0" * 32,
        "created": T0,
        "next_attempt": T0,
        "origin": owner,
        "owner": owner,
        **fields,
    }
    return UploadJob(**values)  # type: ignore[arg-type]


def composition(priority: int, created: datetime, **fields: object) -> Composition:
    values: dict[str, object] = {
        "id": str(uuid.uuid4()),
        "organization_id": "org1",
        "application_id": "app1",
        "conversation_id": "c1",
        "name": "n",
        "type": CompositionType.VIDEO,
        "width": 640,
        "height": 480,
        "layout": Layout.GRID,
        "priority": priority,
        "state": CompositionState.QUEUED,
        "created": created,
        **fields,
    }
    return Composition(**values)  # type: ignore[arg-type]


async def test_migrations_run_once_and_concurrent_opens_agree(opener: Opener) -> None:
    first, second = await asyncio.gather(opener(), opener())  # two instances starting together
    assert await migrate(first.database) == []
    rows = await first.database.fetch("SELECT version FROM schema_migrations ORDER BY version")
    assert [row[0] for row in rows] == list(range(1, len(MIGRATIONS) + 1))
    assert second is not first


async def test_one_live_recording_per_conversation_and_organization(repo: SqlRepository) -> None:
    a, created = await repo.create_or_get_live(recording())
    assert created
    again, created = await repo.create_or_get_live(recording())
    assert not created and again.recorder_id == a.recorder_id
    other_org, created = await repo.create_or_get_live(recording(org="org2"))
    assert created and other_org.recorder_id != a.recorder_id
    assert await repo.get("org2", "c1", a.recorder_id, "i1") is None  # another organization's
    assert (await repo.get(None, "c1", a.recorder_id, "i1")) is not None  # a signed link: any organization
    a.state, a.stopped = RecordingState.STOPPED, T0 + timedelta(seconds=5)
    assert await repo.save_recording(a)
    b, created = await repo.create_or_get_live(recording(created=T0 + timedelta(seconds=10)))
    assert created
    listed = await repo.list_for_conversation("org1", "c1")
    assert [r.recorder_id for r in listed] == [a.recorder_id, b.recorder_id]
    assert listed[0].state is RecordingState.STOPPED and listed[0].lease_until is None
    assert (await repo.get_live("org1", "c1")) is not None


async def test_streams_tracks_and_every_field_round_trip(repo: SqlRepository) -> None:
    r, _ = await repo.create_or_get_live(recording())
    stream = Stream("s1", r.recorder_id, "pub1", "CAM", "u1", StreamState.RECORDING, T0)
    await repo.save_stream(stream)
    track = Track("t1", "s1", "VIDEO", T0, "/spool/t1.webm", writer="i1")
    await repo.save_track(r.recorder_id, track)
    track.stopped, track.frames, track.duration = T0 + timedelta(seconds=3), 90, 3.0333
    track.media_start = T0 - timedelta(milliseconds=20)
    track.local_error = ErrorInfo("WRITE_FAILED", "disk", T0)
    await repo.save_track(r.recorder_id, track)
    await repo.set_track_object("t1", "k/t1.webm", 5_000_000_000, T0, None)
    error = ErrorInfo("UNREACHABLE", "no answer", T0 + timedelta(seconds=1))
    r.state, r.started, r.error = RecordingState.ACTIVE, T0, error
    await repo.save_recording(r)
    got = await repo.recording_by_id(r.recorder_id)
    assert got is not None and got.state is RecordingState.ACTIVE and got.error == error and got.started == T0
    (s,) = got.streams
    (t,) = s.tracks
    assert (s.id, s.user_id, s.state) == ("s1", "u1", StreamState.RECORDING)
    assert (t.frames, t.duration, t.writer, t.media_start) == (90, 3.0333, "i1", T0 - timedelta(milliseconds=20))
    assert (t.object_location, t.object_size, t.object_uploaded) == ("k/t1.webm", 5_000_000_000, T0)
    assert t.local_error == ErrorInfo("WRITE_FAILED", "disk", T0)


async def test_chat_and_cobrowse_keep_order_and_ignore_retries(repo: SqlRepository) -> None:
    r, _ = await repo.create_or_get_live(recording())
    late, early = ChatEntry(T0 + timedelta(seconds=2), "b", "u1"), ChatEntry(T0, "a", "u2", "Bob")
    assert await repo.add_chat_entries(r.recorder_id, [late, early]) == 2
    assert await repo.add_chat_entries(r.recorder_id, [early]) == 0
    assert await repo.chat_entries(r.recorder_id) == [early, late]
    events = [CobrowseEvent("x", n, 1_700_000_000_000 + n, f'{{"n":{n}}}') for n in (3, 1, 2)]
    assert [await repo.add_cobrowse_event(r.recorder_id, "i1", e) for e in events] == [True, True, True]
    assert not await repo.add_cobrowse_event(r.recorder_id, "i1", events[0])
    assert [e.sequence_id for e in await repo.cobrowse_events(r.recorder_id, "x")] == [1, 2, 3]
    assert await repo.add_cobrowse_event(r.recorder_id, "i1", CobrowseEvent("y", 1, 5, "{}"))
    sessions = await repo.cobrowse_sessions([r.recorder_id])
    assert [s.session_id for s in sessions] == ["x", "y"]
    assert await repo.cobrowse_sessions([]) == []


async def test_storage_profiles(repo: SqlRepository) -> None:
    await repo.save_storage_profile(StoredProfile("app1", "{}", None))
    await repo.save_storage_profile(StoredProfile("app1", '{"a":1}', "token"))
    assert await repo.storage_profiles() == [StoredProfile("app1", '{"a":1}', "token")]
    assert await repo.delete_storage_profile("app1")
    assert not await repo.delete_storage_profile("app1")


async def test_upload_jobs_are_leased_to_one_instance_at_a_time(opener: Opener) -> None:
    a, b = await opener(), await opener()
    r, _ = await a.create_or_get_live(recording())
    now = datetime.now(UTC)
    lease = time.time() + 30
    jobs = [await a.add_upload(upload(r.recorder_id, f"k{n}"), lease) for n in range(4)]
    assert [j.id for j in jobs] == sorted(j.id for j in jobs if j.id is not None)
    assert await b.claim_uploads("i2", now, 10, set(), time.time() + 30) == []  # i1 holds them
    claimed = await a.claim_uploads("i1", now, 2, {"k0"}, lease)
    assert [j.key for j in claimed] == ["k1", "k2"] and all(j.owner == "i1" for j in claimed)
    assert await a.unfinished_uploads("i1") == 4
    # i1 dies: its leases run out, and i2 takes every job over
    await a.database.execute("UPDATE upload_jobs SET lease_until = ?", time.time() - 1)
    taken = await b.claim_uploads("i2", now, 10, set(), time.time() + 30)
    assert [j.key for j in taken] == ["k0", "k1", "k2", "k3"] and {j.origin for j in taken} == {"i1"}
    assert await a.claim_uploads("i1", now, 10, set(), lease) == []
    assert await b.release_uploads("i2", taken[0].id) == 1
    assert [j.key for j in await a.claim_uploads("i1", now, 10, set(), lease)] == ["k0"]
    assert await b.release_uploads("i2") == 3
    # not due yet; FAILED and superseded
    job = taken[1]
    job.state, job.attempts, job.next_attempt = UploadState.FAILED, 8, now + timedelta(hours=1)
    job.error = ErrorInfo("REFUSED", "no bucket", now)
    await b.save_upload(job)
    assert [j.key for j in await a.failed_uploads("app1", None)] == ["k1"]
    assert [j.key for j in await a.failed_uploads(None, r.recorder_id)] == ["k1"]
    assert await a.failed_uploads("other", None) == []
    newer = await a.add_upload(upload(r.recorder_id, "k2"), lease)
    assert await a.upload_superseded(taken[2]) and not await a.upload_superseded(newer)
    assert await a.next_upload_due() == T0
    assert len(await a.uploads(r.recorder_id)) == 5


async def test_two_instances_claiming_at_once_never_share_a_job(opener: Opener) -> None:
    a, b = await opener(), await opener()
    r, _ = await a.create_or_get_live(recording())
    for n in range(40):
        await a.add_upload(upload(r.recorder_id, f"k{n}", owner=None))
    now = datetime.now(UTC)

    async def claim_all(repo: SqlRepository, owner: str) -> list[str]:
        keys: list[str] = []  # as the uploader does: what it runs is busy
        while batch := await repo.claim_uploads(owner, now, 3, set(keys), time.time() + 30):
            keys += [j.key for j in batch]
            await asyncio.sleep(0)
        return keys

    first, second = await asyncio.gather(claim_all(a, "i1"), claim_all(b, "i2"))
    assert sorted(first + second, key=lambda k: int(k[1:])) == [f"k{n}" for n in range(40)]
    assert not set(first) & set(second)


async def test_compositions_run_by_priority_and_are_taken_over_when_their_lease_ends(opener: Opener) -> None:
    a, b = await opener(), await opener()
    low, high, mid = composition(1, T0), composition(9, T0 + timedelta(seconds=2)), composition(5, T0)
    for c in (low, high, mid):
        await a.add_composition(c)
    now = time.time()
    claimed = await a.claim_composition("i1", now, now + 30)
    assert claimed is not None and claimed.id == high.id and claimed.state is CompositionState.PREPROCESSING
    assert claimed.owner == "i1"
    second = await b.claim_composition("i2", now, now + 30)
    assert second is not None and second.id == mid.id
    # i1 dies: once its lease ends, its job is taken again (before the lower priority one)
    assert (await b.claim_composition("i2", now + 31, now + 60)).id == high.id  # type: ignore[union-attr]
    assert await b.release_compositions("i2") == 2
    got = await a.composition_by_id(high.id)
    assert got is not None and got.state is CompositionState.QUEUED and got.owner is None
    mid.deleted = datetime.now(UTC)
    await a.save_composition(mid)
    assert [c.id for c in await a.compositions("org1", "c1")] == [low.id, high.id]


async def test_a_cancelled_composition_stays_cancelled_until_it_is_run_again(opener: Opener) -> None:
    a, b = await opener(), await opener()
    running, done = composition(1, T0), composition(1, T0 + timedelta(seconds=1))
    for c in (running, done):
        await a.add_composition(c)
    now = time.time()
    claimed = await a.claim_composition("i1", now, now + 30)
    assert claimed is not None and claimed.id == running.id
    done.state = CompositionState.COMPLETED
    await a.save_composition(done)
    assert await b.cancel_composition(running.id, T0) is True  # another instance cancels it
    assert await b.cancel_composition(running.id, T0) is False  # already cancelled
    assert await b.cancel_composition(done.id, T0) is False  # finished: nothing to cancel
    claimed.progress = 60  # the owner's worker reports late: it is not brought back
    await a.save_composition(claimed)
    got = await a.composition_by_id(running.id)
    assert got is not None and (got.state, got.progress, got.completed) == (CompositionState.CANCELLED, 0, T0)
    assert await a.claim_composition("i1", now + 60, now + 90) is None, "a cancelled job is never claimed"
    assert await a.release_compositions("i1") == 0
    got.deleted = T0  # a save that keeps it CANCELLED applies
    await a.save_composition(got)
    assert [c.id for c in await a.compositions("org1", "c1")] == [done.id]
    assert await a.requeue_composition(done.id) is False  # COMPLETED does not run again
    assert await a.requeue_composition(running.id) is False  # deleted
    failed = composition(1, T0, state=CompositionState.FAILED, error=ErrorInfo("NO_MEDIA", "none", T0), size=5)
    await a.add_composition(failed)
    await a.save_composition(failed)
    assert await b.requeue_composition(failed.id) is True
    again = await a.claim_composition("i1", now + 60, now + 90)
    assert again is not None and again.id == failed.id and again.error is None and again.size is None


async def test_screen_is_kept_and_reads_as_video_where_it_was_never_written(opener: Opener) -> None:
    repo = await opener()
    without, _ = await repo.create_or_get_live(recording("c-screen", video=True, screen=False))
    got = await repo.recording_by_id(without.recorder_id)
    assert got is not None and (got.video, got.screen) == (True, False)
    assert got.records("SCREEN") == frozenset() and got.records("CAM") == {"audio", "video"}
    old, _ = await repo.create_or_get_live(recording("c-old", video=False))
    await repo.database.execute("UPDATE recordings SET screen = NULL WHERE recorder_id = ?", old.recorder_id)
    got = await repo.recording_by_id(old.recorder_id)  # a row from before migration 3
    assert got is not None and got.screen is False and got.records("SCREEN") == frozenset()


async def test_leases_expire_into_pending_recovery_and_one_instance_claims(opener: Opener) -> None:
    a, b, c = await opener(), await opener(), await opener()
    r, _ = await a.create_or_get_live(recording(instance="i1"))
    r.state = RecordingState.ACTIVE
    await a.save_recording(r)
    started = datetime.now(UTC)
    assert await a.heartbeat(InstanceInfo("i1", "http://a", "RUNNING", started), started, time.time() + 30) == {
        r.recorder_id
    }
    assert await b.expire_recordings(time.time()) == []
    # i1 stops beating: at the lease's end the recording waits for recovery
    later = time.time() + 31
    assert await b.expire_recordings(later) == [r.recorder_id]
    assert (await b.recording_by_id(r.recorder_id)).state is RecordingState.PENDING_RECOVERY  # type: ignore[union-attr]
    # i1 comes back too late: it holds nothing any more
    at_later = datetime.fromtimestamp(later, UTC)
    assert await a.heartbeat(InstanceInfo("i1", None, "RUNNING", started), at_later, later + 30) == set()
    won = await asyncio.gather(
        b.claim_recovery("i2", later + 1, later + 60), c.claim_recovery("i3", later + 1, later + 60)
    )
    winners = [w for w in won if w is not None]
    assert len(winners) == 1
    recovered = winners[0]
    assert recovered.instance_id in ("i2", "i3") and recovered.state is RecordingState.PENDING_RECOVERY
    # the old owner cannot write it any more; the URLs with either instance id still find it
    r.state = RecordingState.STOPPED
    assert not await a.save_recording(r)
    for instance in ("i1", recovered.instance_id):
        assert await a.get("org1", "c1", r.recorder_id, instance) is not None
    recovered.state, recovered.recovered = RecordingState.ACTIVE, datetime.now(UTC)
    assert await b.save_recording(recovered)
    # handing over: no lease at all, claimable at once (and only that recording, when named)
    assert await b.release_recordings(recovered.instance_id, r.recorder_id) == 1
    other, _ = await a.create_or_get_live(recording("c2", instance="i1", lease_until=0.0))
    await a.expire_recordings(time.time())
    named = await a.claim_recovery("i1", time.time(), time.time() + 30, other.recorder_id)
    assert named is not None and named.recorder_id == other.recorder_id
    assert (await a.claim_recovery("i1", time.time(), time.time() + 30)).recorder_id == r.recorder_id  # type: ignore[union-attr]
    assert [i.id for i in await a.instances()] == ["i1"]


async def test_leftover_tracks_are_those_of_writers_not_alive_and_finished_once(opener: Opener) -> None:
    a, b = await opener(), await opener()
    r, _ = await a.create_or_get_live(recording())
    await a.save_stream(Stream("s1", r.recorder_id, "pub1", "CAM", "u1", StreamState.RECORDING, T0))
    for track_id, writer in (("dead", "i1"), ("alive", "i2"), ("done", "i1")):
        await a.save_track(r.recorder_id, Track(track_id, "s1", "AUDIO", T0, f"/spool/{track_id}.webm", writer=writer))
    done = Track("done", "s1", "AUDIO", T0, "/spool/done.webm", stopped=T0, writer="i1")
    await a.save_track(r.recorder_id, done)
    now = datetime.now(UTC)
    await b.heartbeat(InstanceInfo("i2", None, "RUNNING", now), now, time.time() + 30)
    await a.heartbeat(InstanceInfo("i1", None, "RUNNING", now), now, time.time() - 1)  # i1's lease ended
    assert [t.id for _, t in await b.leftover_tracks(time.time(), None)] == ["dead"]
    # an instance starting again under its id counts its own earlier tracks as leftovers
    assert sorted(t.id for _, t in await b.leftover_tracks(time.time(), "i2")) == ["alive", "dead"]
    (recorder_id, track), *_ = await b.leftover_tracks(time.time(), None)
    track.stopped, track.frames, track.duration = T0 + timedelta(seconds=9), 450, 9.0
    assert await b.finish_leftover(recorder_id, track)
    assert not await a.finish_leftover(recorder_id, track)
    assert await b.leftover_tracks(time.time(), None) == []
