"""The uploader's rules, fast (no servers): a transient fault is retried with growing, jittered waits; a
refusal or too many attempts fail the job with its error, keeping the local file; a stored file is checked,
then its local copy deleted; each kind's handler hears every step; `retry` queues failed jobs again."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from recorder.models import UploadJob, UploadKind, UploadState
from recorder.persistence.store import Store, open_store
from recorder.uploads.uploader import Uploader, UploadOptions
from storage_providers.base import DestinationError, StoredObject, TransientStorageError
from storage_providers.local import LocalStorage
from tests.eventually import eventually
from tests.storage_servers import fixed

T = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)


class FlakyStorage(LocalStorage):
    """Local storage whose uploads fail with `fault` the first `failures` times."""

    def __init__(self, root: Path, failures: int, fault: type[Exception] = TransientStorageError) -> None:
        super().__init__(root)
        self.failures, self.fault = failures, fault
        self.attempts: list[float] = []

    async def upload(self, source: Path, key: str) -> None:
        self.attempts.append(time.monotonic())
        if len(self.attempts) <= self.failures:
            raise self.fault("injected")
        await super().upload(source, key)


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    async with await open_store(None, tmp_path / "db.sqlite3") as store:
        yield store


async def _run(
    store: Store, storage: FlakyStorage, source: Path, max_attempts: int = 4
) -> tuple[Uploader, list[tuple[UploadState, StoredObject | None]]]:
    heard: list[tuple[UploadState, StoredObject | None]] = []

    async def handler(job: UploadJob, stored: StoredObject | None) -> None:
        heard.append((job.state, stored))

    options = UploadOptions(
        concurrency=2, max_attempts=max_attempts, backoff_seconds=0.02, backoff_max_seconds=0.08, instance_id="i1"
    )
    uploader = Uploader(store.uploads, fixed(storage), options)
    uploader.on(UploadKind.TRACK, handler)
    await uploader.start()
    await uploader.enqueue("app1", "r1", UploadKind.TRACK, "t1", source, "k/t1.webm")
    return uploader, heard


def _file(tmp_path: Path) -> Path:
    source = tmp_path / "spool" / "t1.webm"
    source.parent.mkdir(parents=True, exist_ok=True)
    source.write_bytes(b"x" * 1000)
    return source


async def _job(store: Store) -> UploadJob:
    (job,) = await store.uploads.for_recording("r1")
    return job


async def _finished(store: Store) -> UploadJob:
    return await eventually(
        lambda: _job(store), lambda j: j.state in (UploadState.DONE, UploadState.FAILED), within=5, what="the job"
    )


async def test_a_stored_file_is_checked_then_its_local_copy_deleted(store: Store, tmp_path: Path) -> None:
    source = _file(tmp_path)
    storage = FlakyStorage(tmp_path / "storage", failures=0)
    uploader, heard = await _run(store, storage, source)
    job = await _finished(store)
    await uploader.aclose()
    assert job.state is UploadState.DONE and not source.exists()
    assert (tmp_path / "storage" / "k/t1.webm").read_bytes() == b"x" * 1000
    assert [state for state, _ in heard] == [UploadState.UPLOADED, UploadState.DONE]
    assert heard[0][1] is not None and heard[0][1].size == 1000


async def test_transient_faults_are_retried_with_growing_waits(store: Store, tmp_path: Path) -> None:
    source = _file(tmp_path)
    storage = FlakyStorage(tmp_path / "storage", failures=3)
    uploader, _ = await _run(store, storage, source, max_attempts=10)
    job = await _finished(store)
    await uploader.aclose()
    assert job.state is UploadState.DONE and job.attempts == 3 and len(storage.attempts) == 4
    waits = [b - a for a, b in zip(storage.attempts, storage.attempts[1:], strict=False)]
    # 0.02, 0.04, 0.08 s (each +-20 %): doubling up to the maximum
    assert waits[0] >= 0.015 and waits[1] >= 0.03 and waits[2] >= 0.06, waits
    assert waits[2] > waits[0], waits


async def test_too_many_transient_faults_fail_the_job_and_keep_the_file(store: Store, tmp_path: Path) -> None:
    source = _file(tmp_path)
    storage = FlakyStorage(tmp_path / "storage", failures=100)
    uploader, heard = await _run(store, storage, source, max_attempts=3)
    job = await _finished(store)
    await uploader.aclose()
    assert job.state is UploadState.FAILED and job.attempts == 3 and len(storage.attempts) == 3
    assert job.error is not None and job.error.message == "injected"
    assert source.exists(), "a failed upload keeps its local file"
    assert [state for state, _ in heard] == [UploadState.FAILED]


async def test_a_refusal_fails_at_once(store: Store, tmp_path: Path) -> None:
    source = _file(tmp_path)
    storage = FlakyStorage(tmp_path / "storage", failures=100, fault=DestinationError)
    uploader, _ = await _run(store, storage, source, max_attempts=10)
    job = await _finished(store)
    await uploader.aclose()
    assert job.state is UploadState.FAILED and job.attempts == 1 and len(storage.attempts) == 1
    assert source.exists()


async def test_retry_queues_a_failed_job_again(store: Store, tmp_path: Path) -> None:
    source = _file(tmp_path)
    storage = FlakyStorage(tmp_path / "storage", failures=1, fault=DestinationError)
    uploader, heard = await _run(store, storage, source)
    assert (await _finished(store)).state is UploadState.FAILED
    (retried,) = await uploader.retry(recorder_id="r1")
    assert retried.attempts == 0
    job = await eventually(lambda: _job(store), lambda j: j.state is UploadState.DONE, within=5, what="the retry")
    await uploader.aclose()
    assert job.state is UploadState.DONE and not source.exists()
    states = [state for state, _ in heard]
    assert states == [UploadState.FAILED, UploadState.PENDING, UploadState.UPLOADED, UploadState.DONE]


async def test_an_unexpected_error_is_retried_not_lost(store: Store, tmp_path: Path) -> None:
    source = _file(tmp_path)
    storage = FlakyStorage(tmp_path / "storage", failures=1, fault=KeyError)
    uploader, _ = await _run(store, storage, source)
    job = await _finished(store)
    await uploader.aclose()
    assert job.state is UploadState.DONE and job.attempts == 1


async def test_a_job_left_uploaded_by_a_dead_run_tells_its_handler_again(store: Store, tmp_path: Path) -> None:
    """An instance that died after storing a file, before its handler wrote where (or before the local copy
    was deleted and the job DONE): the next run tells the handler the stored object, then DONE."""
    source = _file(tmp_path)
    storage = FlakyStorage(tmp_path / "storage", failures=0)
    await storage.upload(source, "k/t1.webm")  # what the dead run stored
    job = UploadJob("app1", "r1", UploadKind.TRACK, "t1", str(source), "k/t1.webm", 1000, "", T, T)
    job.state, job.owner = UploadState.UPLOADED, "i1"
    await store.uploads.add(job, time.time() - 1)
    heard: list[tuple[UploadState, StoredObject | None]] = []

    async def handler(job: UploadJob, stored: StoredObject | None) -> None:
        heard.append((job.state, stored))

    options = UploadOptions(2, 4, 0.02, 0.08, "i1")
    uploader = Uploader(store.uploads, fixed(storage), options)
    uploader.on(UploadKind.TRACK, handler)
    await uploader.start()
    try:
        assert (await _finished(store)).state is UploadState.DONE
    finally:
        await uploader.aclose()
    (first, stored), (last, none) = heard
    assert (first, last, none) == (UploadState.UPLOADED, UploadState.DONE, None)
    assert stored is not None and stored.size == 1000 and not source.exists()
