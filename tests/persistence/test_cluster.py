"""The ClusterStore contract."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta

from recorder.models import MediaKind, RecordingState
from recorder.persistence.ports import InstanceInfo
from recorder.persistence.store import Store
from tests.builders import T0, Opener, live_with_stream, recording, track


def _alive(instance: str) -> InstanceInfo:
    return InstanceInfo(instance, f"http://{instance}", "RUNNING", datetime.now(UTC))


async def _active(store: Store, conversation: str = "c1", **fields: object) -> str:
    new = recording(conversation)
    for name, value in fields.items():
        setattr(new, name, value)
    r, _ = await store.recordings.create_or_get_live(new)
    r.state = RecordingState.ACTIVE
    await store.recordings.save(r)
    return r.recorder_id


async def test_heartbeat_renews_and_names_the_live_recordings_held(store: Store) -> None:
    rid = await _active(store)
    assert await store.cluster.heartbeat(_alive("i1"), datetime.now(UTC), time.time() + 30) == {rid}


async def test_a_lease_that_ran_out_is_not_renewed(store: Store) -> None:
    await _active(store, lease_until=time.time() - 1)
    assert await store.cluster.heartbeat(_alive("i1"), datetime.now(UTC), time.time() + 30) == set()


async def test_instances_lists_those_that_beat(store: Store) -> None:
    for instance in ("i1", "i2"):
        await store.cluster.heartbeat(_alive(instance), datetime.now(UTC), time.time() + 30)
    assert {i.id for i in await store.cluster.instances()} == {"i1", "i2"}


async def test_recordings_whose_lease_ran_out_wait_for_recovery(store: Store) -> None:
    rid = await _active(store)
    assert await store.cluster.expire_recordings(time.time()) == []
    assert await store.cluster.expire_recordings(time.time() + 31) == [rid]
    got = await store.recordings.by_id(rid)
    assert got is not None and got.state is RecordingState.PENDING_RECOVERY


async def test_one_instance_wins_a_recovery(opener: Opener) -> None:
    a, b, c = await opener(), await opener(), await opener()
    rid = await _active(a)
    later = time.time() + 31
    await a.cluster.expire_recordings(later)
    won = await asyncio.gather(
        b.cluster.claim_recovery("i2", later + 1, later + 60), c.cluster.claim_recovery("i3", later + 1, later + 60)
    )
    winners = [w for w in won if w is not None]
    assert len(winners) == 1 and winners[0].recorder_id == rid and winners[0].instance_id in ("i2", "i3")


async def test_a_recovered_recording_is_found_by_either_instance_id_and_not_written_by_the_old(
    store: Store,
) -> None:
    rid = await _active(store)
    await store.cluster.expire_recordings(time.time() + 31)
    recovered = await store.cluster.claim_recovery("i2", time.time() + 32, time.time() + 60)
    assert recovered is not None
    for instance in ("i1", "i2"):
        assert await store.recordings.get("org1", "c1", rid, instance) is not None
    old = await store.recordings.get("org1", "c1", rid, "i1")
    assert old is not None
    old.instance_id, old.state = "i1", RecordingState.STOPPED
    assert not await store.recordings.save(old)


async def test_claim_recovery_is_none_when_none_waits(store: Store) -> None:
    await _active(store)
    assert await store.cluster.claim_recovery("i2", time.time(), time.time() + 30) is None


async def test_a_released_recording_is_claimable_at_once_and_by_name(store: Store) -> None:
    first = await _active(store, "c1")
    second = await _active(store, "c2", created=T0 + timedelta(seconds=1))
    assert await store.cluster.release_recordings("i1", second) == 1
    named = await store.cluster.claim_recovery("i2", time.time(), time.time() + 30, second)
    assert named is not None and named.recorder_id == second
    assert await store.cluster.release_recordings("i1") == 1
    rest = await store.cluster.claim_recovery("i2", time.time(), time.time() + 30)
    assert rest is not None and rest.recorder_id == first


async def test_leftover_tracks_are_those_of_writers_not_alive(opener: Opener) -> None:
    a, b = await opener(), await opener()
    r = await live_with_stream(a)
    for track_id, writer in (("dead", "i1"), ("alive", "i2")):
        await a.recordings.save_track(r.recorder_id, track(track_id, writer=writer, kind=MediaKind.AUDIO))
    await a.recordings.save_track(r.recorder_id, track("done", stopped=T0))
    now = datetime.now(UTC)
    await b.cluster.heartbeat(InstanceInfo("i2", None, "RUNNING", now), now, time.time() + 30)
    await a.cluster.heartbeat(InstanceInfo("i1", None, "RUNNING", now), now, time.time() - 1)  # i1's lease ended
    assert [t.id for _, t in await b.cluster.leftover_tracks(time.time(), None)] == ["dead"]


async def test_an_instance_at_its_start_counts_its_own_tracks_as_leftovers(store: Store) -> None:
    r = await live_with_stream(store)
    await store.recordings.save_track(r.recorder_id, track("mine", writer="i2"))
    now = datetime.now(UTC)
    await store.cluster.heartbeat(InstanceInfo("i2", None, "RUNNING", now), now, time.time() + 30)
    assert await store.cluster.leftover_tracks(time.time(), None) == []
    assert [t.id for _, t in await store.cluster.leftover_tracks(time.time(), "i2")] == ["mine"]


async def test_a_leftover_is_finished_once(opener: Opener) -> None:
    a, b = await opener(), await opener()
    r = await live_with_stream(a)
    await a.recordings.save_track(r.recorder_id, track("dead"))
    (recorder_id, left), *_ = await b.cluster.leftover_tracks(time.time(), None)
    left.stopped, left.frames, left.duration = T0 + timedelta(seconds=9), 450, 9.0
    assert await b.cluster.finish_leftover(recorder_id, left)
    assert not await a.cluster.finish_leftover(recorder_id, left)
    assert await b.cluster.leftover_tracks(time.time(), None) == []
