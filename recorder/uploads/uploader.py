"""Uploader: moves finished local files to the application's storage, and never loses one.

Every file gets a durable job (the repository's `upload_jobs`) before anything is sent. Workers take due jobs
oldest first; a job goes PENDING -> UPLOADED (stored, and the stored object checked against the local file's
size and, where the backend reports one, its MD5) -> DONE (local file deleted). A transient fault (the
destination did not answer) is retried with exponential backoff; a refusal of the destination (credentials,
a missing bucket) or too many attempts make it FAILED, with the error recorded and the local file kept, until
`retry` is asked (the upload endpoint, or a new storage profile). A restart takes up every unfinished job.
Each kind of file (track, chat, cobrowse, composition) registers its own handler of that progress (`on`),
which writes it where the API shows it.

Jobs are leased: an instance works only on jobs it holds (renewed by its heartbeat), and takes over those of
an instance whose lease ran out, when it can see the file (a file on another machine's disk stays for that
machine: the job is given back).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import random
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from recorder.clock import now as _now
from recorder.logcontext import bind
from recorder.models import ErrorInfo, UploadJob, UploadKind, UploadState
from recorder.operations.metrics import Metrics
from recorder.persistence.ports import UploadJobStore
from recorder.tasks import TaskSet
from storage_providers.base import StorageError, StorageProvider, StoredObject, TransientStorageError

logger = logging.getLogger(__name__)

# A kind's completion handler: called when one of its jobs is UPLOADED (with the stored object), DONE,
# FAILED, or PENDING again after a retry (with None). Each kind registers its own (`Uploader.on`).
ProgressHandler = Callable[[UploadJob, StoredObject | None], Awaitable[None]]


@dataclass(frozen=True)
class UploadOptions:
    concurrency: int = 4
    max_attempts: int = 8
    backoff_seconds: float = 2.0
    backoff_max_seconds: float = 60.0
    instance_id: str = "local"
    lease_seconds: float = 10.0
    share: int = 0  # jobs one application may run at once (0: concurrency): a silent storage holds no more
    attempt_timeout_seconds: float = 900.0  # one attempt ends (and is tried again) after this long


def _digest(path: Path) -> tuple[int, str, str]:
    """(size, MD5, SHA-256) of a file, in one pass: the MD5 checks the upload, the SHA-256 is its evidence."""
    md5, sha256 = hashlib.md5(usedforsecurity=False), hashlib.sha256()
    size = 0
    with path.open("rb") as file:
        while piece := file.read(1 << 20):
            md5.update(piece)
            sha256.update(piece)
            size += len(piece)
    return size, md5.hexdigest(), sha256.hexdigest()


def _destination(job: UploadJob) -> tuple[str, str | None]:
    """(application, recording) whose storage a job's file goes to: a composition goes to its application's,
    a recording's file to the recording's own destination if it has one."""
    return job.application_id, None if job.kind is UploadKind.COMPOSITION else job.recorder_id


class Uploader:
    def __init__(
        self,
        jobs: UploadJobStore,
        storage: Callable[[str, str | None], Awaitable[StorageProvider]],
        options: UploadOptions,
        metrics: Metrics | None = None,
    ) -> None:
        self._jobs = jobs
        self._metrics = metrics or Metrics()
        self._storage = storage
        self._options = options
        self._handlers: dict[UploadKind, ProgressHandler] = {}
        self._observers: list[ProgressHandler] = []
        self._wake = asyncio.Event()
        self._running: dict[int, str] = {}  # job id -> its key
        self._applications: dict[int, str] = {}  # job id -> its application (the fair share)
        self._tasks = TaskSet("uploader")
        self._elsewhere: set[str] = set()  # keys of jobs whose file is on another machine's disk

    def on(self, kind: UploadKind, handler: ProgressHandler) -> None:
        """Register the completion handler of a kind of upload (one per kind)."""
        self._handlers[kind] = handler

    def observe(self, handler: ProgressHandler) -> None:
        """Hear of every stored object of any kind (before its kind's handler): the evidence ledger."""
        self._observers.append(handler)

    async def _progress(self, job: UploadJob, stored: StoredObject | None) -> None:
        if stored is not None and job.state is UploadState.UPLOADED:
            for observer in self._observers:
                await observer(job, stored)
        handler = self._handlers.get(job.kind)
        if handler is not None:
            await handler(job, stored)

    def _lease(self) -> float:
        return time.time() + self._options.lease_seconds

    async def start(self) -> None:
        """Free the jobs an earlier run under this instance id held (any instance may take them), and start."""
        await self._jobs.release(self._options.instance_id)
        self._tasks.spawn(self._loop(), name="uploader")

    async def enqueue(
        self, application_id: str, recorder_id: str, kind: UploadKind, subject: str, source: Path, key: str
    ) -> UploadJob:
        size, md5, sha256 = await asyncio.to_thread(_digest, source)
        now = _now()
        me = self._options.instance_id
        job = UploadJob(application_id, recorder_id, kind, subject, str(source), key, size, md5, now, now)
        job.sha256 = sha256
        job.origin = job.owner = me
        job = await self._jobs.add(job, self._lease())
        self._wake.set()
        return job

    async def retry(self, application_id: str | None = None, recorder_id: str | None = None) -> list[UploadJob]:
        """Put FAILED jobs (of a recording, of an application, or all) back in the queue."""
        jobs = await self._jobs.failed(application_id, recorder_id)
        for job in jobs:
            job.state, job.attempts, job.next_attempt = UploadState.PENDING, 0, _now()
            await self._jobs.save(job)
            await self._progress(job, None)
        self._wake.set()
        return jobs

    async def _loop(self) -> None:
        while True:
            self._wake.clear()
            free = self._options.concurrency - len(self._running)
            if free > 0:
                busy = set(self._running.values()) | self._elsewhere
                me = self._options.instance_id
                share = self._options.share or self._options.concurrency
                running = Counter(self._applications.values())
                full = frozenset(a for a, n in running.items() if n >= share)
                for job in await self._jobs.claim(me, _now(), free, busy, self._lease(), full):
                    if job.id is None or job.id in self._running or job.key in busy:
                        continue
                    if running[job.application_id] >= share:  # its share is taken: another application's turn
                        await self._jobs.release(me, job.id)
                        continue
                    busy.add(job.key)
                    running[job.application_id] += 1
                    self._spawn(job)
            delay = 5.0
            due = await self._jobs.next_due()
            if due is not None:
                delay = min(delay, max(0.05, (due - _now()).total_seconds()))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), delay)

    def _spawn(self, job: UploadJob) -> None:
        assert job.id is not None
        self._running[job.id] = job.key
        self._applications[job.id] = job.application_id

        def finished(_: asyncio.Task[None], job_id: int = job.id) -> None:
            self._running.pop(job_id, None)
            self._applications.pop(job_id, None)
            self._wake.set()

        self._tasks.spawn(self._run(job), name=f"upload-{job.id}", done=finished)

    async def _run(self, job: UploadJob) -> None:
        bind(recorderId=job.recorder_id)
        seconds = self._options.attempt_timeout_seconds
        try:
            try:
                async with asyncio.timeout(seconds):
                    await self._advance(job)
            except TimeoutError:
                raise TransientStorageError(f"the storage did not finish the upload within {seconds:g} s") from None
        except StorageError as exc:
            await self._failed(job, exc)
        except Exception as exc:  # a bug must not lose the job: keep it, say why, retry later
            logger.exception("upload %s of recording %s failed unexpectedly", job.id, job.recorder_id)
            await self._failed(job, TransientStorageError(f"unexpected {type(exc).__name__}: {exc}"))
        else:
            logger.info("upload %s of recording %s (%s) is %s", job.id, job.recorder_id, job.key, job.state.value)

    async def _advance(self, job: UploadJob) -> None:
        source = Path(job.source)
        if job.state is UploadState.PENDING:
            if await self._jobs.superseded(job):
                job.state = UploadState.SUPERSEDED
                await self._jobs.save(job)
                await asyncio.to_thread(source.unlink, missing_ok=True)
                return
            provider = await self._storage(*_destination(job))
            here = await asyncio.to_thread(source.exists)
            if here:
                await provider.upload(source, job.key)
            stored = await provider.stat(job.key)
            if not here and stored is None and job.origin not in (None, self._options.instance_id):
                # taken over from another instance whose disk this one does not see: give it back
                logger.info("upload %s: %s is not on this machine; left to its own instance", job.id, source)
                self._elsewhere.add(job.key)
                await self._jobs.release(self._options.instance_id, job.id)
                return
            self._check(job, stored)
            assert stored is not None
            job.state, job.error = UploadState.UPLOADED, None
            await self._jobs.save(job)
            await self._progress(job, stored)
        elif job.state is UploadState.UPLOADED:
            # taken up again (the instance died after storing it): its handler may not have heard of it yet;
            # handlers are idempotent
            await self._progress(job, await (await self._storage(*_destination(job))).stat(job.key))
        await asyncio.to_thread(source.unlink, missing_ok=True)
        job.state = UploadState.DONE
        await self._progress(job, None)  # before the job is DONE: a death in between tells it again
        await self._jobs.save(job)
        self._metrics.upload_latency.observe(max(0.0, (_now() - job.created).total_seconds()))

    @staticmethod
    def _check(job: UploadJob, stored: StoredObject | None) -> None:
        """The stored object is the local file: same size, and same MD5 where the backend gives one."""
        if stored is None:
            raise StorageError(f"{job.key} is not stored and its local file {job.source} is gone")
        if stored.size != job.size or (stored.md5 is not None and stored.md5 != job.md5):
            raise TransientStorageError(
                f"{job.key} was stored with {stored.size} bytes (MD5 {stored.md5}), "
                f"the local file has {job.size} bytes (MD5 {job.md5})"
            )

    async def _failed(self, job: UploadJob, exc: StorageError) -> None:
        job.attempts += 1
        try:
            provider = type(await self._storage(*_destination(job))).__name__
        except Exception:  # no profile any more: the failure is counted all the same
            provider = "unknown"
        self._metrics.upload_failures.labels(provider, exc.code).inc()
        job.error = ErrorInfo(exc.code, exc.message, _now())
        if exc.retryable and job.attempts < self._options.max_attempts:
            wait = min(self._options.backoff_max_seconds, self._options.backoff_seconds * 2 ** (job.attempts - 1))
            wait *= random.uniform(0.8, 1.2)  # several jobs failing together do not come back together
            job.next_attempt = _now() + timedelta(seconds=wait)
            logger.warning(
                "upload %s of recording %s: attempt %d failed, next in %.1f s: %s",
                job.id,
                job.recorder_id,
                job.attempts,
                wait,
                exc.message,
            )
            await self._jobs.save(job)
            return
        job.state = UploadState.FAILED
        logger.error(
            "upload %s of recording %s failed after %d attempts; %s stays on local disk: %s",
            job.id,
            job.recorder_id,
            job.attempts,
            job.source,
            exc.message,
        )
        await self._jobs.save(job)
        await self._progress(job, None)

    async def drain(self, deadline: float) -> int:
        """Wait (up to `deadline` seconds) until this instance holds no unfinished job; how many it still holds."""
        end = time.monotonic() + deadline
        while (left := await self._jobs.unfinished(self._options.instance_id)) and time.monotonic() < end:
            self._wake.set()
            await asyncio.sleep(0.2)
        return left

    async def aclose(self) -> None:
        """Stop the workers and give up the leases: unfinished jobs stay in the repository for another instance,
        or for the next start."""
        await self._tasks.aclose()
        await self._jobs.release(self._options.instance_id)
