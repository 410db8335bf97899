"""RecordingService: starts, stops and reports recordings; owns every RecordingSession this instance runs.

With several instances on one database, any instance answers any request: reads come from the database, a
stop for a recording another instance runs is sent to that instance (and followed until it is stopped), and
recordings, uploads and compositions of an instance that died are taken over (recorder.cluster).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import shutil
import time
import uuid
from collections.abc import Coroutine
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any

import aiohttp

from recorder.artifacts import Artifacts
from recorder.cluster import EVERYONE, Cluster, ClusterOptions
from recorder.compositions import CompositionOptions, Compositions
from recorder.conference.base import Conference
from recorder.conference.janus import JanusConference, room_id
from recorder.database import Database
from recorder.errors import ConflictError, InvalidRequestError, NotFoundError, UnavailableError
from recorder.media.repair import repair
from recorder.models import (
    LIVE_STATES,
    ChatEntry,
    CobrowseEvent,
    CobrowseSession,
    ErrorInfo,
    Recording,
    RecordingState,
    StreamState,
    UploadJob,
    UploadKind,
    UploadState,
    media_end,
)
from recorder.naming import track_key
from recorder.profiles import StorageProfiles
from recorder.repository import Repository
from recorder.session import RecordingSession, SessionOptions
from recorder.settings import ApplicationSettings, Settings
from recorder.uploads import Uploader, UploadOptions
from storage_providers.base import (
    CheckResult,
    StorageError,
    StorageProvider,
    StoredObject,
    Throughput,
    Verification,
)
from storage_providers.registry import create_provider
from storage_providers.settings import StorageSettings

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class StartCommand:
    organization_id: str  # the caller's: an application of another organization is not found
    application_id: str
    conference_id: str
    conversation_id: str
    audio: bool = True
    video: bool = True
    screen: bool = True


class RecordingService:
    def __init__(
        self,
        settings: Settings,
        repository: Repository,
        database: Database,
        http: aiohttp.ClientSession,
        credentials_key: bytes,
    ) -> None:
        self._settings = settings
        self.instance_id = settings.instance_id
        self._repo = repository
        self._http = http
        self.profiles = StorageProfiles(settings, repository, credentials_key)
        self._providers: dict[str, StorageProvider] = {}
        self._retired: list[StorageProvider] = []  # replaced providers, closed at the end (uploads may use them)
        self._sessions: dict[str, RecordingSession] = {}
        self._options = SessionOptions(
            settings.spool, settings.ice_servers, settings.flush_interval_ms, settings.conference_rejoin_seconds
        )
        self.uploader = Uploader(
            repository,
            self.storage,
            UploadOptions(
                settings.upload_concurrency,
                settings.upload_max_attempts,
                settings.upload_backoff_seconds,
                settings.upload_backoff_max_seconds,
                settings.instance_id,
                settings.lease_seconds,
            ),
            self._record_upload,
        )
        self.artifacts = Artifacts(repository, self._key_template, self.uploader, settings.spool / "artifacts")
        self.compositions = Compositions(
            repository,
            self.recordings,
            self.uploader,
            self.storage,
            self._key_template,
            CompositionOptions(
                settings.spool / "compositions",
                settings.composition_concurrency,
                settings.composition_threads,
                settings.composition_nice,
                settings.composition_preset,
                settings.instance_id,
                settings.lease_seconds,
            ),
            tell_owner=lambda owner, composition_id: self.cluster.send(
                owner, "cancel-composition", compositionId=composition_id
            ),
        )
        address = settings.public_url or f"http://{settings.host}:{settings.port}"
        self.cluster = Cluster(
            repository,
            database,
            ClusterOptions(settings.instance_id, address, settings.lease_seconds, settings.heartbeat_seconds),
            self,
        )
        self._leftovers_elsewhere: set[str] = set()  # leftover tracks whose file is on another machine
        self._tasks: set[asyncio.Task[None]] = set()

    def _key_template(self, application_id: str) -> str:
        return self.profiles.get(application_id).key_template

    async def open(self) -> None:
        """Read the profiles set through the API, join the other instances (finishing what an earlier run
        left) and take up the work left unfinished."""
        await asyncio.to_thread(self._keep_reserve)
        await self.profiles.load()
        self.uploader.start()
        await self.cluster.start()
        await self.compositions.start()

    def storage(self, application_id: str) -> StorageProvider:
        """The application's storage provider (made on first use; raises DestinationError when the profile's
        keys cannot even be read)."""
        provider = self._providers.get(application_id)
        if provider is None:
            provider = self._providers[application_id] = create_provider(self.profiles.get(application_id))
        return provider

    def storage_location(self, application_id: str) -> tuple[str, str | None]:
        """The provider's wire name and where it points; no place when the profile's keys cannot be read
        (a recording's answer still shows, the storage's failure shows where it is used)."""
        try:
            provider = self.storage(application_id)
        except StorageError:
            return self.profiles.get(application_id).provider, None
        return provider.provider, provider.url

    async def verify_storage(self, organization_id: str, application_id: str) -> Verification:
        app = self.application(organization_id, application_id)
        try:
            provider = self.storage(app.id)
        except StorageError as exc:
            not_run = CheckResult(False, "not run: the bucket test failed")
            return Verification(
                CheckResult(False, exc.message), not_run, not_run, not_run, not_run, Throughput.not_run("bucket")
            )
        return await provider.verify(self._settings.storage_probe_bytes, self._settings.storage_min_throughput_mbps)

    async def confirm_storage(self, organization_id: str, application_id: str) -> None:
        """The administrator confirms the application's storage profile as verified: it is put in force (a
        provider is made from it) and the uploads that failed are tried again with it."""
        app = self.application(organization_id, application_id)
        try:
            self.storage(app.id)
        except StorageError as exc:  # its keys cannot even be read: it is not in force
            raise ConflictError(f"the storage profile in force cannot be used: {exc.message}") from None
        retried = await self._retry_failed(application_id=app.id)
        logger.info("storage of application %s confirmed; %d failed uploads are tried again", app.id, retried)

    async def set_profile(self, organization_id: str, application_id: str, body: dict[str, Any]) -> StorageSettings:
        """Set the application's profile through the API; uploads that failed are tried again with it."""
        app = self.application(organization_id, application_id)
        profile = await self.profiles.put(app.id, body)
        self._retire(app.id)
        await self._retry_failed(application_id=app.id)
        return profile

    async def delete_profile(self, organization_id: str, application_id: str) -> None:
        app = self.application(organization_id, application_id)
        await self.profiles.delete(app.id)
        self._retire(app.id)

    def _retire(self, application_id: str) -> None:
        provider = self._providers.pop(application_id, None)
        if provider is not None:
            self._retired.append(provider)

    async def retry_uploads(self, organization_id: str, ids: tuple[str, str, str]) -> int:
        """Try the recording's failed uploads again; how many there were."""
        recording = await self.get(organization_id, *ids)
        return await self._retry_failed(recorder_id=recording.recorder_id)

    async def _retry_failed(self, application_id: str | None = None, recorder_id: str | None = None) -> int:
        """Failed uploads (of an application or a recording) queued again; their tracks' errors cleared."""
        jobs = await self.uploader.retry(application_id=application_id, recorder_id=recorder_id)
        for job in jobs:
            if job.kind is UploadKind.TRACK:
                await self._repo.set_track_object(job.subject, None, None, None, None)
        return len(jobs)

    async def _record_upload(self, job: UploadJob, stored: StoredObject | None) -> None:
        """The uploader's progress, written where the API shows it."""
        now = datetime.now(UTC)
        if job.kind is UploadKind.COMPOSITION:
            await self.compositions.uploaded(job, stored)
        elif job.kind is not UploadKind.TRACK:
            if job.state is UploadState.UPLOADED and stored is not None:
                await self.artifacts.uploaded(job, stored)
        elif job.state is UploadState.UPLOADED and stored is not None:
            await self._repo.set_track_object(job.subject, stored.location, stored.size, now, None)
        elif job.state is UploadState.DONE:
            await self._repo.set_track_local_deleted(job.subject, now)
        elif job.state is UploadState.FAILED:
            await self._repo.set_track_object(job.subject, None, None, None, job.error)

    def _spool_room(self) -> int:
        """Bytes the spool may still take: the disk's free space, and the quota minus what the spool holds."""
        spool = self._settings.spool
        spool.mkdir(parents=True, exist_ok=True)
        room = shutil.disk_usage(spool).free
        if self._settings.spool_quota_bytes is not None:
            used = 0
            for directory, _, files in os.walk(spool):
                for name in files:
                    with contextlib.suppress(FileNotFoundError):  # uploaded and deleted meanwhile
                        used += os.stat(os.path.join(directory, name)).st_size
            room = min(room, self._settings.spool_quota_bytes - used)
        return room

    @property
    def _reserve(self) -> Path:
        return self._settings.spool / ".reserve"

    def _keep_reserve(self) -> None:
        """Allocate the spool's reserve (`spool_reserve_bytes`) when it is not there and the disk has room."""
        size = self._settings.spool_reserve_bytes
        if size == 0 or self._reserve.exists():
            return
        self._settings.spool.mkdir(parents=True, exist_ok=True)
        if shutil.disk_usage(self._settings.spool).free < size + self._settings.spool_headroom_bytes:
            return
        try:
            fd = os.open(self._reserve, os.O_WRONLY | os.O_CREAT, 0o600)
            try:
                os.posix_fallocate(fd, 0, size)
            finally:
                os.close(fd)
        except OSError as exc:
            logger.warning("the spool's reserve could not be made: %s", exc)
            self._reserve.unlink(missing_ok=True)

    def _release_reserve(self) -> None:
        """The disk is full: free the reserve so that the files being written can be closed and stored."""
        if self._reserve.exists():
            self._reserve.unlink(missing_ok=True)
            logger.warning(
                "the spool's disk is full: its reserve of %d bytes is freed", self._settings.spool_reserve_bytes
            )

    async def _check_spool(self) -> None:
        await asyncio.to_thread(self._keep_reserve)
        room = await asyncio.to_thread(self._spool_room)
        if room < self._settings.spool_headroom_bytes:
            logger.warning("refusing a recording: the spool has %d bytes left", room)
            raise UnavailableError(
                f"the recorder's local disk is nearly full ({max(room, 0)} bytes left, "
                f"{self._settings.spool_headroom_bytes} kept free); try again when uploads have freed space",
                retry_after=self._settings.spool_retry_after_seconds,
                code="SPOOL_FULL",
            )

    def application(self, organization_id: str, application_id: str) -> ApplicationSettings:
        """The caller's application; one of another organization is as unknown as one that does not exist."""
        app = self._settings.application(application_id)
        if app is None or app.organization_id != organization_id:
            raise NotFoundError(f"application {application_id!r} not found")
        return app

    def _conference(self, app: ApplicationSettings, conference_id: str) -> Conference:
        secret = app.janus.api_secret.get_secret_value() if app.janus.api_secret else None
        return JanusConference(
            self._http,
            app.janus.url,
            room_id(conference_id, app.janus.string_ids),
            api_secret=secret,
            request_timeout=self._settings.conference_request_timeout_seconds,
            string_ids=app.janus.string_ids,
        )

    def _session(self, recording: Recording, app: ApplicationSettings) -> RecordingSession:
        session = RecordingSession(
            recording,
            functools.partial(self._conference, app, recording.conference_id),
            self._repo,
            self.uploader,
            self._key_template(app.id),
            self._options,
            on_finished=self.artifacts.store_all,
            on_disk_full=self._release_reserve,
        )
        self._sessions[recording.recorder_id] = session
        session.start()
        return session

    async def start(self, command: StartCommand) -> Recording:
        """Start recording a conversation; a retry while it is live returns the live recording."""
        self.forget_finished()
        if self.cluster.draining:
            raise UnavailableError(
                "this instance is shutting down; send the request to another one",
                retry_after=1,
                code="SHUTTING_DOWN",
            )
        app = self.application(command.organization_id, command.application_id)
        try:
            room_id(command.conference_id, app.janus.string_ids)  # an id that can never be a room: nothing starts
        except ValueError as exc:
            raise InvalidRequestError(str(exc), code="INVALID_CONFERENCE_ID") from None
        if await self._repo.get_live(app.organization_id, command.conversation_id) is None:
            await self._check_spool()
        recording, created = await self._repo.create_or_get_live(
            Recording(
                recorder_id=str(uuid.uuid4()),
                conversation_id=command.conversation_id,
                instance_id=self.instance_id,
                organization_id=app.organization_id,
                application_id=app.id,
                conference_id=command.conference_id,
                audio=command.audio,
                video=command.video,
                screen=command.screen,
                state=RecordingState.INITIALISED,
                created=datetime.now(UTC),
                lease_until=self.cluster.lease(),
            )
        )
        session = self._sessions.get(recording.recorder_id)
        if created:
            try:
                session = self._session(recording, app)
            except Exception as exc:  # the recording was stored: it must not stay live
                recording.state, recording.stopped = RecordingState.FAILED, datetime.now(UTC)
                recording.error = ErrorInfo(
                    "INTERNAL_ERROR", f"it could not start: {type(exc).__name__}", recording.stopped
                )
                await self._repo.save_recording(recording)
                raise
        if session is not None:
            with contextlib.suppress(TimeoutError):  # still joining: the answer says INITIALISED
                await asyncio.wait_for(asyncio.shield(session.joined), self._settings.start_timeout_seconds)
            return session.recording
        return recording

    async def stop(self, organization_id: str, conversation_id: str, recorder_id: str, instance_id: str) -> Recording:
        """Stop a recording wherever it runs: here, on its owner (sent as a command, followed until it is
        stopped, at most `command_timeout_seconds`), or nowhere (left by a dead instance: stopped here)."""
        ids = (conversation_id, recorder_id, instance_id)
        recording = await self.get(organization_id, *ids)
        deadline = time.monotonic() + self._settings.command_timeout_seconds
        sent_to: str | None = None
        while True:
            session = self._sessions.pop(recording.recorder_id, None)
            if session is not None:
                await session.stop()
                return session.recording
            if recording.state not in LIVE_STATES:
                return recording
            if recording.state is RecordingState.PENDING_RECOVERY and (recording.lease_until or 0) < time.time():
                stopped = await self._stop_unowned(recording.recorder_id)
                if stopped is not None:
                    return stopped
            elif recording.instance_id not in (sent_to, self.instance_id):
                sent_to = recording.instance_id
                await self.cluster.send(sent_to, "stop", recorderId=recording.recorder_id)
            if time.monotonic() > deadline:
                logger.warning("recording %s: its instance did not stop it in time", recording.recorder_id)
                return recording
            await asyncio.sleep(0.05)
            recording = await self.get(organization_id, *ids)

    async def stop_by_ids(
        self, organization_id: str, application_id: str, recorder_id: str, instance_id: str, conversation_id: str | None
    ) -> Recording:
        """Stop a recording named by its application, recorder and instance (its conversation optional)."""
        recording = await self._repo.recording_by_id(recorder_id)
        if (
            recording is None
            or recording.organization_id != organization_id
            or recording.application_id != application_id
            or conversation_id not in (None, recording.conversation_id)
        ):
            raise NotFoundError(f"application {application_id} has no recording {recorder_id}/{instance_id}")
        return await self.stop(organization_id, recording.conversation_id, recorder_id, instance_id)

    async def _stop_unowned(self, recorder_id: str) -> Recording | None:
        """Stop a recording nobody records (PENDING_RECOVERY, unclaimed): its files are finished and stored."""
        now = time.time()
        recording = await self._repo.claim_recovery(self.instance_id, now, self.cluster.lease(), recorder_id)
        if recording is None:
            return None
        stopped = datetime.now(UTC)
        for stream in recording.streams:
            if stream.state is StreamState.RECORDING:
                stream.state, stream.stopped = StreamState.STOPPED, stopped
                await self._repo.save_stream(stream)
        recording.state, recording.stopped = RecordingState.STOPPED, stopped
        await self._repo.save_recording(recording)
        await self.finalize_leftovers(alive_but=None)
        await self.artifacts.store_all(recording)
        return await self._repo.recording_by_id(recorder_id)

    # ------------------------------------------------------------ the cluster's calls (recorder.cluster.Member)

    async def holding(self, recorder_ids: set[str], since: float) -> None:
        for recorder_id, session in list(self._sessions.items()):
            if recorder_id in recorder_ids or session.created > since:
                continue
            if session.recording.state in LIVE_STATES:
                logger.warning("recording %s: this instance lost its lease; another one takes over", recorder_id)
                self._sessions.pop(recorder_id, None)
                self._spawn(session.stop(None))

    async def recover(self, recording: Recording) -> None:
        app = self._settings.application(recording.application_id)
        if app is None:  # not configured on this instance: it cannot join
            logger.error(
                "recording %s: application %s is not configured here", recording.recorder_id, recording.application_id
            )
            recording.state, recording.stopped = RecordingState.ABORTED, datetime.now(UTC)
            recording.error = ErrorInfo(
                "APPLICATION_UNKNOWN", "the recovering instance does not know the application", recording.stopped
            )
            await self._repo.save_recording(recording)
            return
        self._session(recording, app)

    async def finalize_leftovers(self, alive_but: str | None) -> None:
        for recorder_id, track in await self._repo.leftover_tracks(time.time(), alive_but):
            if track.id in self._leftovers_elsewhere:
                continue
            path = Path(track.local_location)
            if not await asyncio.to_thread(path.is_file):
                logger.info("track %s: %s is not on this machine; left to its own instance", track.id, path)
                self._leftovers_elsewhere.add(track.id)
                continue
            result = await asyncio.to_thread(repair, path)
            track.frames, track.duration = result.frames, result.duration
            track.stopped = media_end(track, track.started)
            if not result.frames:
                track.local_error = ErrorInfo(
                    "UNREADABLE", "the file left by a dead instance does not read", track.stopped
                )
            if not await self._repo.finish_leftover(recorder_id, track):
                continue  # another instance finished it
            recording = await self._repo.recording_by_id(recorder_id)
            stream = next((s for s in recording.streams if s.id == track.stream_id), None) if recording else None
            if recording is None or stream is None:
                continue
            logger.info(
                "track %s left by instance %s: %d frames, %.1f s, stored",
                track.id,
                track.writer,
                track.frames,
                track.duration,
            )
            key = track_key(self._key_template(recording.application_id), recording, stream, track)
            await self.uploader.enqueue(recording.application_id, recorder_id, UploadKind.TRACK, track.id, path, key)

    async def command(self, message: dict[str, Any]) -> None:
        if message.get("op") == "cancel-composition":
            await self.compositions.stop_worker(str(message.get("compositionId")))
        elif message.get("op") == "stop":
            session = self._sessions.pop(str(message.get("recorderId")), None)
            if session is not None:
                logger.info("recording %s: stopped at another instance's request", session.recording.recorder_id)
                await session.stop()

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def get(
        self, organization_id: str | None, conversation_id: str, recorder_id: str, instance_id: str
    ) -> Recording:
        """A recording of the caller's organization (None: any, for signed links only)."""
        recording = await self._repo.get(organization_id, conversation_id, recorder_id, instance_id)
        if recording is None:
            raise NotFoundError(f"no recording {conversation_id}/{recorder_id}/{instance_id}")
        return recording

    async def get_live(self, organization_id: str, conversation_id: str) -> Recording:
        recording = await self._repo.get_live(organization_id, conversation_id)
        if recording is None:
            raise NotFoundError(f"conversation {conversation_id} has no active recording")
        return recording

    async def recordings(self, organization_id: str, conversation_id: str) -> list[Recording]:
        recordings = await self._repo.list_for_conversation(organization_id, conversation_id)
        if not recordings:
            raise NotFoundError(f"conversation {conversation_id} has no recordings")
        return recordings

    async def add_chat(self, organization_id: str, ids: tuple[str, str, str], entries: list[ChatEntry]) -> int:
        return await self.artifacts.add_chat(await self.get(organization_id, *ids), entries)

    async def add_cobrowse(self, organization_id: str, ids: tuple[str, str, str], event: CobrowseEvent) -> bool:
        return await self.artifacts.add_cobrowse(await self.get(organization_id, *ids), event)

    async def cobrowse_sessions(self, organization_id: str, conversation_id: str) -> list[CobrowseSession]:
        recordings = await self.recordings(organization_id, conversation_id)
        return await self._repo.cobrowse_sessions([r.recorder_id for r in recordings])

    async def cobrowse_session(
        self, organization_id: str | None, ids: tuple[str, str, str], session_id: str
    ) -> tuple[Recording, CobrowseSession]:
        recording = await self.get(organization_id, *ids)
        sessions = await self._repo.cobrowse_sessions([recording.recorder_id])
        session = next((s for s in sessions if s.session_id == session_id), None)
        if session is None:
            raise NotFoundError(f"recording {recording.recorder_id} has no cobrowse session {session_id!r}")
        return recording, session

    def forget_finished(self) -> None:
        """Drop sessions that ended by themselves (FAILED, ABORTED)."""
        for recorder_id, session in list(self._sessions.items()):
            if session.recording.state not in LIVE_STATES:
                self._sessions.pop(recorder_id, None)

    async def aclose(self) -> None:
        """Shut down: take no new work; hand every recording this instance runs over to the others (or stop
        it: `shutdown_recordings`), its files closed and queued for upload; give uploads under way
        `shutdown_upload_deadline_seconds`; leave the rest (leases given up) to the others or the next start."""
        self.cluster.draining = True
        sessions, self._sessions = list(self._sessions.values()), {}
        handover = self._settings.shutdown_recordings == "handover"
        await asyncio.gather(
            *(s.stop(None if handover else RecordingState.STOPPED) for s in sessions), return_exceptions=True
        )
        if handover:
            handed = [s.recording.recorder_id for s in sessions if s.recording.state in LIVE_STATES]
            for recorder_id in handed:
                await self._repo.release_recordings(self.instance_id, recorder_id)
            if handed:
                logger.info("recordings %s are handed over", ", ".join(handed))
                await self.cluster.send(EVERYONE, "recover")
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.compositions.aclose()
        left = await self.uploader.drain(self._settings.shutdown_upload_deadline_seconds)
        if left:
            logger.warning("%d uploads are left to the other instances (or the next start)", left)
        await self.cluster.aclose()
        await self.uploader.aclose()
        for provider in [*self._providers.values(), *self._retired]:
            await provider.aclose()

    async def __aenter__(self) -> RecordingService:
        await self.open()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()
