"""Compositions: a conversation's tracks composed into one file, by worker processes.

A request is stored QUEUED. The scheduler claims the next one (highest priority, then oldest) while fewer
than `concurrency` run. PREPROCESSING gathers every track file of every recording of the conversation (a
hard link to the local file, so an upload that deletes it meanwhile does not pull it away, or a copy
fetched from the storage) and places each on one wall-clock timeline by the sender's time of its first
frame. PROCESSING runs `python -m recorder.compositions.worker` in a process of its own, niced and in
SCHED_IDLE, so that composing never takes the event loop or the cores from live recordings, and follows its
progress (one worker waits warm, loaded, for the next plan). The composed file gets an upload job like any
track, and the composition is COMPLETED; any failure makes it FAILED with the reason. Shutdown stops the
workers; the next start puts what they were doing back in the queue.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import shutil
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from recorder.clock import now as _now
from recorder.compositions.timeline import timeline
from recorder.compositions.worker import Plan
from recorder.errors import ConflictError, NotFoundError
from recorder.evidence.access import AccessLog, Action
from recorder.logcontext import bind
from recorder.models import (
    LIVE_STATES,
    Composition,
    CompositionState,
    CompositionType,
    ErrorInfo,
    Layout,
    MediaKind,
    Recording,
    Stream,
    Track,
    UploadJob,
    UploadKind,
    UploadState,
)
from recorder.naming import KeyParts, object_key, safe_name
from recorder.operations.metrics import Metrics
from recorder.persistence.ports import CompositionJobStore
from recorder.tasks import TaskSet
from recorder.uploads.uploader import Uploader
from storage_providers.base import StorageError, StorageProvider, StoredObject

logger = logging.getLogger(__name__)
_PROJECT = Path(__file__).resolve().parents[2]  # the folder that holds the package


@dataclass(frozen=True)
class CompositionOptions:
    directory: Path  # work folders and composed files, until uploaded
    concurrency: int = 1
    threads: int = 1
    nice: int = 10
    preset: str = "veryfast"
    instance_id: str = "local"
    lease_seconds: float = 10.0  # another instance takes a job over when its lease is not renewed
    idle: bool = True  # workers in SCHED_IDLE: only CPU time nothing else wants


@dataclass(frozen=True)
class CompositionCommand:
    organization_id: str
    conversation_id: str
    name: str
    type: CompositionType
    width: int
    height: int
    layout: Layout
    priority: int
    keep_pauses: bool = False


class CompositionFailed(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


class Compositions:
    def __init__(
        self,
        jobs: CompositionJobStore,
        recordings: Callable[[str, str], Awaitable[list[Recording]]],
        uploader: Uploader,
        storage: Callable[[str, str | None], Awaitable[StorageProvider]],
        key_template: Callable[[str], str],
        options: CompositionOptions,
        tell_owner: Callable[[str, str], Awaitable[None]] | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        self._jobs = jobs
        self._metrics = metrics or Metrics()
        self._recordings = recordings  # a conversation's recordings, oldest first; NotFoundError if none
        self._uploader = uploader
        self._storage = storage
        self._key_template = key_template
        self._options = options
        self._tell_owner = tell_owner  # (instance, composition id): another instance's worker is to stop
        self._wake = asyncio.Event()
        self._running: dict[str, asyncio.Task[None]] = {}
        self._waiting: asyncio.Future[asyncio.subprocess.Process] | None = None  # the warm worker
        self._tasks = TaskSet("compositions")
        uploader.on(UploadKind.COMPOSITION, self._uploaded)
        # (organization, conversation): raises unless its compositions may be deleted now (a legal hold)
        self.may_delete: Callable[[str, str], Awaitable[None]] | None = None
        self.access: AccessLog | None = None  # every composition requested is logged there

    async def start(self) -> None:
        requeued = await self._jobs.release(self._options.instance_id)  # an earlier run's
        if requeued:
            logger.info("%d interrupted compositions are queued again", requeued)
        self._tasks.spawn(self._loop(), name="compositions")

    async def request(self, command: CompositionCommand) -> Composition:
        recordings = await self._recordings(command.organization_id, command.conversation_id)
        if any(r.state in LIVE_STATES for r in recordings):
            raise ConflictError(f"conversation {command.conversation_id} is still being recorded: stop it first")
        composition = Composition(
            id=str(uuid.uuid4()),
            organization_id=command.organization_id,
            application_id=recordings[-1].application_id,
            conversation_id=command.conversation_id,
            name=command.name,
            type=command.type,
            width=command.width,
            height=command.height,
            layout=command.layout,
            priority=command.priority,
            keep_pauses=command.keep_pauses,
            state=CompositionState.QUEUED,
            created=_now(),
        )
        await self._jobs.add(composition)
        self._wake.set()
        if self.access is not None:
            self.access.record(
                Action.COMPOSITION_REQUESTED,
                composition.organization_id,
                application_id=composition.application_id,
                conversation_id=composition.conversation_id,
                object=composition.id,
                detail=f"{composition.type.value} {composition.width}x{composition.height}",
            )
        return composition

    async def query(self, organization_id: str, conversation_id: str) -> list[Composition]:
        compositions = await self._jobs.for_conversation(organization_id, conversation_id)
        if not compositions:
            await self._recordings(organization_id, conversation_id)  # an unknown conversation is a 404
        return compositions

    async def get(self, organization_id: str | None, conversation_id: str, composition_id: str) -> Composition:
        """A composition of the caller's organization (None: any, for signed links only)."""
        composition = await self._jobs.by_id(composition_id)
        if (
            composition is None
            or composition.deleted is not None
            or composition.conversation_id != conversation_id
            or organization_id not in (None, composition.organization_id)
        ):
            raise NotFoundError(f"conversation {conversation_id} has no composition {composition_id}")
        return composition

    async def get_completed(
        self, organization_id: str | None, conversation_id: str, composition_id: str
    ) -> Composition:
        """A COMPLETED composition (else 409): its file can be fetched."""
        composition = await self.get(organization_id, conversation_id, composition_id)
        if composition.state is not CompositionState.COMPLETED:
            raise ConflictError(f"composition {composition_id} is {composition.state.value}, not COMPLETED")
        return composition

    async def cancel(self, organization_id: str, conversation_id: str, composition_id: str) -> Composition:
        """A queued or running composition becomes CANCELLED: its worker process is ended wherever it runs and
        nothing of it is stored. Cancelling a cancelled one answers it as it is."""
        composition = await self.get(organization_id, conversation_id, composition_id)
        if composition.state is not CompositionState.CANCELLED:
            if not await self._jobs.cancel(composition.id, _now()):
                current = await self.get(organization_id, conversation_id, composition_id)
                if current.state is not CompositionState.CANCELLED:
                    raise ConflictError(
                        f"composition {composition_id} is {current.state.value}: only a queued or running"
                        " composition can be cancelled"
                    )
            logger.info("composition %s is CANCELLED", composition.id)
            await self.stop_worker(composition.id)
            owner = composition.owner
            if owner not in (None, self._options.instance_id) and self._tell_owner is not None:
                await self._tell_owner(owner, composition.id)
        return await self.get(organization_id, conversation_id, composition_id)

    async def stop_worker(self, composition_id: str) -> None:
        """End this instance's work on a composition (its worker process is killed, its work folder removed)."""
        task = self._running.get(composition_id)
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    async def reexecute(self, organization_id: str, conversation_id: str, composition_id: str) -> Composition:
        """A FAILED or CANCELLED composition is queued again (same id, its results cleared)."""
        composition = await self.get(organization_id, conversation_id, composition_id)
        if not await self._jobs.requeue(composition.id):
            raise ConflictError(
                f"composition {composition_id} is {composition.state.value}: only a FAILED or CANCELLED"
                " composition runs again"
            )
        logger.info("composition %s is QUEUED again", composition.id)
        self._wake.set()
        return await self.get(organization_id, conversation_id, composition_id)

    async def delete(self, organization_id: str, conversation_id: str, composition_id: str) -> None:
        """Delete the stored file first: when the storage fails, nothing has changed and the client retries.
        ConflictError (LEGAL_HOLD) while the conversation is held."""
        composition = await self.get(organization_id, conversation_id, composition_id)
        if self.may_delete is not None:
            await self.may_delete(organization_id, conversation_id)
        await self.remove(composition)

    async def remove(self, composition: Composition) -> None:
        """A composition's stored file, worker and local file gone, and it marked deleted."""
        if composition.object_location is not None:
            await (await self._storage(composition.application_id, None)).delete(composition.object_location)
        await self.stop_worker(composition.id)
        if composition.local_location is not None:
            await asyncio.to_thread(Path(composition.local_location).unlink, missing_ok=True)
        composition.deleted = _now()
        await self._jobs.save(composition)

    async def _uploaded(self, job: UploadJob, stored: StoredObject | None) -> None:
        """The uploader's progress with a composed file (UPLOADED: stored; DONE: the local file is gone)."""
        composition = await self._jobs.by_id(job.subject) if job.state is not UploadState.PENDING else None
        if composition is None:
            return
        if composition.deleted is not None or composition.state is CompositionState.CANCELLED:
            # deleted or cancelled while its upload ran: nothing of it is kept
            with contextlib.suppress(StorageError):
                await (await self._storage(job.application_id, None)).delete(job.key)
            await asyncio.to_thread(Path(job.source).unlink, missing_ok=True)
            return
        if job.state is UploadState.UPLOADED and stored is not None:
            composition.object_location, composition.object_uploaded = stored.location, _now()
        elif job.state is UploadState.DONE:
            composition.local_location = None
        else:
            return  # FAILED: the local file stays and is served from here
        await self._jobs.save(composition)

    # ------------------------------------------------------------ the queue

    async def _loop(self) -> None:
        while True:
            self._wake.clear()
            while len(self._running) < self._options.concurrency:
                now = time.time()
                composition = await self._jobs.claim(self._options.instance_id, now, now + self._options.lease_seconds)
                if composition is None:
                    break
                self._spawn(composition)
            # requests to other instances, and jobs whose instance died, are seen at the next look
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._options.lease_seconds / 2)

    def _spawn(self, composition: Composition) -> None:
        def finished(_: asyncio.Task[None], composition_id: str = composition.id) -> None:
            self._running.pop(composition_id, None)
            self._wake.set()

        task = self._tasks.spawn(self._run(composition), name=f"composition-{composition.id}", done=finished)
        self._running[composition.id] = task

    async def _run(self, composition: Composition) -> None:
        bind(compositionId=composition.id, conversationId=composition.conversation_id)
        work = self._options.directory / safe_name(composition.id)
        self._warm()  # it loads while the inputs are gathered
        try:
            logger.info("composition %s of conversation %s started", composition.id, composition.conversation_id)
            plan, recording = await self._prepare(composition, work)
            composition.state = CompositionState.PROCESSING
            await self._jobs.save(composition)
            began = time.monotonic()
            await self._compose(composition, plan, work / "plan.json")
            if composition.duration:
                self._metrics.composition_speed.observe(composition.duration / max(time.monotonic() - began, 1e-3))
            await self._store(composition, plan, recording)
            logger.info("composition %s is COMPLETED: %s s", composition.id, composition.duration)
        except CompositionFailed as exc:
            logger.warning("composition %s failed: %s", composition.id, exc.message)
            await self._fail(composition, exc.code, exc.message)
        except (StorageError, OSError) as exc:
            logger.warning("composition %s failed: %s", composition.id, exc)
            await self._fail(composition, "INPUT_UNAVAILABLE", f"a track file could not be read: {exc}")
        except Exception as exc:
            logger.exception("composition %s failed unexpectedly", composition.id)
            await self._fail(composition, "INTERNAL_ERROR", f"{type(exc).__name__}: {exc}")
        except asyncio.CancelledError:  # cancelled, deleted, or shut down: nothing half-written is kept
            await asyncio.to_thread((self._options.directory / composition.file_name).unlink, missing_ok=True)
            raise
        finally:
            await asyncio.to_thread(shutil.rmtree, work, ignore_errors=True)

    async def _fail(self, composition: Composition, code: str, message: str) -> None:
        composition.state, composition.error = CompositionState.FAILED, ErrorInfo(code, message, _now())
        composition.completed = _now()
        await self._jobs.save(composition)

    async def _prepare(self, composition: Composition, work: Path) -> tuple[Plan, Recording]:
        """PREPROCESSING: every track file of the conversation in the work folder, and the timeline."""
        recordings = await self._recordings(composition.organization_id, composition.conversation_id)
        kinds = {MediaKind.AUDIO} if composition.type is CompositionType.AUDIO else set(MediaKind)
        inputs = work / "inputs"
        await asyncio.to_thread(inputs.mkdir, parents=True, exist_ok=True)
        files: list[tuple[Stream, Track, Path]] = []
        for recording in recordings:
            for stream in recording.streams:
                for track in stream.tracks:
                    if track.kind in kinds and track.frames > 0:
                        path = await self._fetch(recording, track, inputs)
                        if path is not None:
                            files.append((stream, track, path))
        if not files:
            raise CompositionFailed("NO_MEDIA", f"conversation {composition.conversation_id} has no recorded media")
        output = work / f"composed.{composition.extension}"
        pauses = [] if composition.keep_pauses else [p for r in recordings for p in r.pauses if p.resumed]
        composition.timeline_start = min(track.timeline_start for _, track, _ in files)
        composition.pauses_left_out = pauses
        return timeline(composition, files, output, pauses), recordings[-1]

    async def _fetch(self, recording: Recording, track: Track, inputs: Path) -> Path | None:
        """A track's file in the work folder: a hard link to the local file, else a copy of the stored one."""
        local = Path(track.local_location)
        target = inputs / f"{safe_name(track.id)}{local.suffix}"
        if track.local_deleted is None:
            with contextlib.suppress(FileNotFoundError):
                await asyncio.to_thread(_link_or_copy, local, target)
                return target
        if track.object_location is None or track.object_uploaded is None:
            logger.warning("track %s of recording %s has no file left", track.id, recording.recorder_id)
            return None
        provider = await self._storage(recording.application_id, recording.recorder_id)
        stored = provider.local_path(track.object_location)
        if stored is not None:
            await asyncio.to_thread(_link_or_copy, stored, target)
            return target
        size = track.object_size
        if size is None:
            found = await provider.stat(track.object_location)
            if found is None:
                raise CompositionFailed("INPUT_UNAVAILABLE", f"{track.object_location} is not in the storage")
            size = found.size
        with target.open("wb") as file:
            async for piece in provider.read_range(track.object_location, 0, size):
                await asyncio.to_thread(file.write, piece)
        return target

    async def _compose(self, composition: Composition, plan: Plan, plan_path: Path) -> None:
        """PROCESSING: the worker process, its progress lines, its exit."""
        plan = plan.model_copy(
            update={
                "threads": self._options.threads,
                "nice": self._options.nice,
                "idle": self._options.idle,
                "preset": self._options.preset,
            }
        )
        await asyncio.to_thread(plan_path.write_text, plan.model_dump_json())
        process = await self._worker()
        assert process.stdin is not None
        process.stdin.write(f"{plan_path}\n".encode())
        with contextlib.suppress(ConnectionError):  # (a worker that died meanwhile says so by its exit)
            await process.stdin.drain()
        process.stdin.close()
        assert process.stdout is not None and process.stderr is not None
        errors = asyncio.create_task(process.stderr.read())
        try:
            async for line in process.stdout:
                try:
                    report = json.loads(line)
                except json.JSONDecodeError:
                    continue  # not one of ours (a library writing to stdout)
                if "progress" in report:
                    composition.progress = min(99, int(report["progress"] * 100))
                    await self._jobs.save(composition)
                elif "duration" in report:
                    composition.duration, composition.size = report["duration"], report["size"]
            code = await process.wait()
        except BaseException:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await process.wait()
            raise
        finally:
            stderr = (await errors).decode(errors="replace").strip()
        if code != 0:
            reason = stderr.splitlines()[-1] if stderr else f"the worker exited with {code}"
            raise CompositionFailed("COMPOSITION_FAILED", reason)

    async def _worker(self) -> asyncio.subprocess.Process:
        """A worker process for a plan: the warm one (it has loaded Python, NumPy and PyAV meanwhile), else a
        new one; another is made warm for the next composition."""
        waiting, self._waiting = self._waiting, None
        process = None
        if waiting is not None:
            with contextlib.suppress(OSError):  # (it could not be started: a new one is tried)
                process = await waiting
        if process is None or process.returncode is not None:
            process = await self._start_worker()
        self._warm()
        return process

    def _warm(self) -> None:
        """Start a worker that waits for its plan, unless one does already (one per instance at most, from its
        first composition on: about 30 MB of its own)."""
        if self._waiting is None:
            self._waiting = asyncio.ensure_future(self._start_worker())

    async def _start_worker(self) -> asyncio.subprocess.Process:
        environment = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join(filter(None, [str(_PROJECT), os.environ.get("PYTHONPATH")])),
        }
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "recorder.compositions.worker",
            "-",
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=environment,
        )
        with contextlib.suppress(OSError):  # (loading it, too, comes after live recordings)
            os.setpriority(os.PRIO_PROCESS, process.pid, os.getpriority(os.PRIO_PROCESS, 0) + self._options.nice)
        return process

    async def _stop_waiting(self) -> None:
        waiting, self._waiting = self._waiting, None
        if waiting is None:
            return
        try:
            process = await waiting
        except OSError:
            return
        if process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
        await process.communicate()

    async def _store(self, composition: Composition, plan: Plan, recording: Recording) -> None:
        """The composed file leaves the work folder and gets its upload job; then it is COMPLETED."""
        self._options.directory.mkdir(parents=True, exist_ok=True)
        local = self._options.directory / composition.file_name
        await asyncio.to_thread(os.replace, plan.output, local)
        parts = KeyParts(
            "compositions", "COMPOSITION", "composition", composition.id, composition.type.value, composition.extension
        )
        key = object_key(self._key_template(composition.application_id), recording, parts)
        await self._uploader.enqueue(
            composition.application_id, recording.recorder_id, UploadKind.COMPOSITION, composition.id, local, key
        )
        composition.state, composition.progress, composition.completed = CompositionState.COMPLETED, 100, _now()
        composition.local_location = str(local)
        await self._jobs.save(composition)

    async def aclose(self) -> None:
        """Stop the scheduler and the workers; what they were doing is queued again for any instance."""
        await self._tasks.aclose()
        await self._stop_waiting()
        await self._jobs.release(self._options.instance_id)


def _link_or_copy(source: Path, target: Path) -> None:
    try:
        os.link(source, target)
    except OSError as exc:
        if isinstance(exc, FileNotFoundError):
            raise
        shutil.copyfile(source, target)
