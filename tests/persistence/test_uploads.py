"""The UploadJobStore contract."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta

from recorder.models import ErrorInfo, UploadState
from recorder.persistence.store import Store
from tests.builders import T0, Opener, recording, upload

LEASE = 30.0


async def _jobs(store: Store, count: int, owner: str | None = "i1") -> tuple[str, list[int]]:
    r, _ = await store.recordings.create_or_get_live(recording())
    ids = []
    for n in range(count):
        job = await store.uploads.add(upload(r.recorder_id, f"k{n}", owner), time.time() + LEASE)
        assert job.id is not None
        ids.append(job.id)
    return r.recorder_id, ids


async def test_add_gives_increasing_ids(store: Store) -> None:
    _, ids = await _jobs(store, 4)
    assert ids == sorted(ids) and len(set(ids)) == 4


async def test_claim_takes_the_oldest_first_up_to_the_limit(store: Store) -> None:
    await _jobs(store, 4)
    claimed = await store.uploads.claim("i1", datetime.now(UTC), 2, set(), time.time() + LEASE)
    assert [j.key for j in claimed] == ["k0", "k1"] and all(j.owner == "i1" for j in claimed)


async def test_claim_skips_busy_keys(store: Store) -> None:
    await _jobs(store, 3)
    claimed = await store.uploads.claim("i1", datetime.now(UTC), 10, {"k0"}, time.time() + LEASE)
    assert [j.key for j in claimed] == ["k1", "k2"]


async def test_a_job_leased_to_another_instance_is_not_claimed(opener: Opener) -> None:
    a, b = await opener(), await opener()
    await _jobs(a, 2)
    assert await b.uploads.claim("i2", datetime.now(UTC), 10, set(), time.time() + LEASE) == []


async def test_jobs_whose_lease_ran_out_are_taken_over(opener: Opener) -> None:
    a, b = await opener(), await opener()
    await _jobs(a, 2)
    await a.database.execute("UPDATE upload_jobs SET lease_until = ?", time.time() - 1)  # i1 died
    taken = await b.uploads.claim("i2", datetime.now(UTC), 10, set(), time.time() + LEASE)
    assert [j.key for j in taken] == ["k0", "k1"] and {j.origin for j in taken} == {"i1"}
    assert await a.uploads.claim("i1", datetime.now(UTC), 10, set(), time.time() + LEASE) == []


async def test_a_job_not_due_is_not_claimed(store: Store) -> None:
    r, _ = await store.recordings.create_or_get_live(recording())
    later = datetime.now(UTC) + timedelta(hours=1)
    await store.uploads.add(upload(r.recorder_id, "k0", next_attempt=later), time.time() + LEASE)
    assert await store.uploads.claim("i1", datetime.now(UTC), 10, set(), time.time() + LEASE) == []


async def test_two_instances_claiming_at_once_never_share_a_job(opener: Opener) -> None:
    a, b = await opener(), await opener()
    await _jobs(a, 40, owner=None)
    now = datetime.now(UTC)

    async def claim_all(store: Store, owner: str) -> list[str]:
        keys: list[str] = []  # as the uploader does: what it runs is busy
        while batch := await store.uploads.claim(owner, now, 3, set(keys), time.time() + LEASE):
            keys += [j.key for j in batch]
            await asyncio.sleep(0)
        return keys

    first, second = await asyncio.gather(claim_all(a, "i1"), claim_all(b, "i2"))
    assert sorted(first + second, key=lambda k: int(k[1:])) == [f"k{n}" for n in range(40)]
    assert not set(first) & set(second)


async def test_release_one_job_frees_it_for_another_instance(opener: Opener) -> None:
    a, b = await opener(), await opener()
    _, ids = await _jobs(a, 2)
    assert await a.uploads.release("i1", ids[0]) == 1
    taken = await b.uploads.claim("i2", datetime.now(UTC), 10, set(), time.time() + LEASE)
    assert [j.id for j in taken] == [ids[0]]


async def test_release_all_of_an_owner(store: Store) -> None:
    await _jobs(store, 3)
    assert await store.uploads.release("i1") == 3
    assert await store.uploads.release("i1") == 0


async def test_unfinished_counts_an_owners_pending_and_uploaded_jobs(store: Store) -> None:
    recorder_id, _ = await _jobs(store, 3)
    jobs = await store.uploads.for_recording(recorder_id)
    jobs[0].state = UploadState.DONE
    jobs[1].state = UploadState.UPLOADED
    for job in jobs[:2]:
        await store.uploads.save(job)
    assert await store.uploads.unfinished("i1") == 2
    assert await store.uploads.unfinished("i2") == 0


async def test_save_writes_state_attempts_next_attempt_and_error(store: Store) -> None:
    recorder_id, _ = await _jobs(store, 1)
    (job,) = await store.uploads.for_recording(recorder_id)
    job.state, job.attempts, job.next_attempt = UploadState.FAILED, 8, T0 + timedelta(hours=1)
    job.error = ErrorInfo("REFUSED", "no bucket", T0)
    await store.uploads.save(job)
    (got,) = await store.uploads.for_recording(recorder_id)
    assert (got.state, got.attempts, got.next_attempt, got.error) == (job.state, 8, job.next_attempt, job.error)
    assert got.size == 5_000_000_000
    assert await store.uploads.counts() == {"FAILED": 1}
    rows = await store.database.fetch("SELECT type, data FROM events WHERE subject = ?", recorder_id)
    assert [r["type"] for r in rows] == ["upload.failed"]  # told once, with the change


async def test_failed_filters_by_application_and_recording(store: Store) -> None:
    recorder_id, _ = await _jobs(store, 2)
    job = (await store.uploads.for_recording(recorder_id))[1]
    job.state = UploadState.FAILED
    await store.uploads.save(job)
    assert [j.key for j in await store.uploads.failed("app1", None)] == ["k1"]
    assert [j.key for j in await store.uploads.failed(None, recorder_id)] == ["k1"]
    assert [j.key for j in await store.uploads.failed(None, None)] == ["k1"]
    assert await store.uploads.failed("other", None) == []


async def test_a_newer_job_to_the_same_key_supersedes_an_older(store: Store) -> None:
    recorder_id, _ = await _jobs(store, 1)
    (older,) = await store.uploads.for_recording(recorder_id)
    newer = await store.uploads.add(upload(recorder_id, "k0"), time.time() + LEASE)
    assert await store.uploads.superseded(older) and not await store.uploads.superseded(newer)


async def test_next_due_is_the_earliest_unfinished(store: Store) -> None:
    assert await store.uploads.next_due() is None
    await _jobs(store, 2)
    assert await store.uploads.next_due() == T0
