"""The CompositionJobStore contract."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from recorder.models import CompositionState, ErrorInfo, Pause
from recorder.persistence.store import Store
from tests.builders import T0, Opener, composition


async def test_claim_takes_the_highest_priority_then_the_oldest(store: Store) -> None:
    low, high, mid = composition(1, T0), composition(9, T0 + timedelta(seconds=2)), composition(5, T0)
    for c in (low, high, mid):
        await store.compositions.add(c)
    now = time.time()
    order = [await store.compositions.claim("i1", now, now + 30) for _ in range(3)]
    assert [c.id for c in order if c] == [high.id, mid.id, low.id]
    assert all(c is not None and c.state is CompositionState.PREPROCESSING and c.owner == "i1" for c in order)


async def test_claim_is_none_when_nothing_waits(store: Store) -> None:
    assert await store.compositions.claim("i1", time.time(), time.time() + 30) is None


async def test_a_running_composition_is_taken_over_when_its_lease_ends(opener: Opener) -> None:
    a, b = await opener(), await opener()
    c = composition()
    await a.compositions.add(c)
    now = time.time()
    assert await a.compositions.claim("i1", now, now + 30) is not None
    assert await b.compositions.claim("i2", now, now + 30) is None  # i1 holds it
    taken = await b.compositions.claim("i2", now + 31, now + 60)  # i1 died
    assert taken is not None and taken.id == c.id and taken.owner == "i2"


async def test_release_queues_an_owners_running_compositions_again(store: Store) -> None:
    c = composition()
    await store.compositions.add(c)
    await store.compositions.claim("i1", time.time(), time.time() + 30)
    assert await store.compositions.counts() == {"PREPROCESSING": 1}
    assert await store.compositions.release("i1") == 1
    assert await store.compositions.counts() == {"QUEUED": 1}
    got = await store.compositions.by_id(c.id)
    assert got is not None and got.state is CompositionState.QUEUED and got.owner is None


async def test_for_conversation_leaves_deleted_ones_out(store: Store) -> None:
    kept, deleted = composition(), composition(created=T0 + timedelta(seconds=1))
    for c in (kept, deleted):
        await store.compositions.add(c)
    deleted.deleted = datetime.now(UTC)
    await store.compositions.save(deleted)
    assert [c.id for c in await store.compositions.for_conversation("org1", "c1")] == [kept.id]
    assert await store.compositions.for_conversation("org2", "c1") == []
    assert await store.compositions.by_id(deleted.id) is not None


async def test_cancel_a_running_composition_once(opener: Opener) -> None:
    a, b = await opener(), await opener()
    c = composition()
    await a.compositions.add(c)
    await a.compositions.claim("i1", time.time(), time.time() + 30)
    assert await b.compositions.cancel(c.id, T0) is True  # another instance cancels it
    assert await b.compositions.cancel(c.id, T0) is False  # already cancelled


async def test_a_finished_composition_cannot_be_cancelled(store: Store) -> None:
    done = composition(state=CompositionState.COMPLETED)
    await store.compositions.add(done)
    assert await store.compositions.cancel(done.id, T0) is False


async def test_late_progress_does_not_bring_a_cancelled_composition_back(store: Store) -> None:
    c = composition()
    await store.compositions.add(c)
    claimed = await store.compositions.claim("i1", time.time(), time.time() + 30)
    assert claimed is not None
    await store.compositions.cancel(c.id, T0)
    claimed.progress = 60
    await store.compositions.save(claimed)
    got = await store.compositions.by_id(c.id)
    assert got is not None and (got.state, got.progress, got.completed) == (CompositionState.CANCELLED, 0, T0)


async def test_a_cancelled_composition_is_never_claimed(store: Store) -> None:
    c = composition()
    await store.compositions.add(c)
    await store.compositions.cancel(c.id, T0)
    assert await store.compositions.claim("i1", time.time() + 60, time.time() + 90) is None


async def test_requeue_runs_a_failed_composition_again_with_its_results_cleared(store: Store) -> None:
    failed = composition(state=CompositionState.FAILED, error=ErrorInfo("NO_MEDIA", "none", T0), size=5)
    await store.compositions.add(failed)
    await store.compositions.save(failed)
    assert await store.compositions.requeue(failed.id) is True
    again = await store.compositions.claim("i1", time.time(), time.time() + 30)
    assert again is not None and again.id == failed.id and again.error is None and again.size is None


async def test_requeue_refuses_completed_and_deleted(store: Store) -> None:
    done, gone = composition(state=CompositionState.COMPLETED), composition(state=CompositionState.FAILED)
    for c in (done, gone):
        await store.compositions.add(c)
    gone.deleted = T0
    await store.compositions.save(gone)
    assert await store.compositions.requeue(done.id) is False
    assert await store.compositions.requeue(gone.id) is False


async def test_the_timeline_of_a_composition_round_trips(store: Store) -> None:
    c = composition()
    await store.compositions.add(c)
    c.timeline_start, c.pauses_left_out = T0, [Pause(T0 + timedelta(seconds=3), T0 + timedelta(seconds=5))]
    await store.compositions.save(c)
    got = await store.compositions.by_id(c.id)
    assert got is not None and (got.timeline_start, got.pauses_left_out) == (T0, c.pauses_left_out)
