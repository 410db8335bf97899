"""RecordingService: starts, stops and reports recordings; owns every running RecordingSession."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from types import TracebackType
from typing import Any

import aiohttp

from recorder.artifacts import Artifacts
from recorder.compositions import CompositionOptions, Compositions
from recorder.conference.base import Conference
from recorder.conference.janus import JanusConference
from recorder.errors import NotFoundError, UnavailableError
from recorder.models import (
    ChatEntry,
    CobrowseEvent,
    CobrowseSession,
    Recording,
    RecordingState,
    UploadJob,
    UploadKind,
    UploadState,
)
from recorder.profiles import StorageProfiles
from recorder.repository import Repository
from recorder.session import RecordingSession, SessionOptions
from recorder.settings import ApplicationSettings, Settings
from recorder.uploads import Uploader, UploadOptions
from storage_providers.base import CheckResult, StorageError, StorageProvider, StoredObject, Verification
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


class RecordingService:
    def __init__(
        self, settings: Settings, repository: Repository, http: aiohttp.ClientSession, credentials_key: bytes
    ) -> None:
        self._settings = settings
        self._repo = repository
        self._http = http
        self.profiles = StorageProfiles(settings, repository, credentials_key)
        self._providers: dict[str, StorageProvider] = {}
        self._retired: list[StorageProvider] = []  # replaced providers, closed at the end (uploads may use them)
        self._sessions: dict[str, RecordingSession] = {}
        self._options = SessionOptions(settings.spool, settings.ice_servers, settings.flush_interval_ms)
        self.uploader = Uploader(
            repository,
            self.storage,
            UploadOptions(
                settings.upload_concurrency,
                settings.upload_max_attempts,
                settings.upload_backoff_seconds,
                settings.upload_backoff_max_seconds,
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
            ),
        )

    def _key_template(self, application_id: str) -> str:
        return self.profiles.get(application_id).key_template

    async def open(self) -> None:
        """Read the profiles set through the API and take up the uploads left unfinished."""
        await self.profiles.load()
        self.uploader.start()
        await self.compositions.start()

    def storage(self, application_id: str) -> StorageProvider:
        """The application's storage provider (made on first use; raises DestinationError when the profile's
        keys cannot even be read)."""
        provider = self._providers.get(application_id)
        if provider is None:
            provider = self._providers[application_id] = create_provider(self.profiles.get(application_id))
        return provider

    async def verify_storage(self, organization_id: str, application_id: str) -> Verification:
        app = self.application(organization_id, application_id)
        try:
            provider = self.storage(app.id)
        except StorageError as exc:
            not_run = CheckResult(False, "not run: the bucket test failed")
            return Verification(CheckResult(False, exc.message), not_run, not_run, not_run, not_run)
        return await provider.verify()

    async def set_profile(self, organization_id: str, application_id: str, body: dict[str, Any]) -> StorageSettings:
        """Set the application's profile through the API; uploads that failed are tried again with it."""
        app = self.application(organization_id, application_id)
        profile = await self.profiles.put(app.id, body)
        self._retire(app.id)
        await self.uploader.retry(application_id=app.id)
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
        jobs = await self.uploader.retry(recorder_id=recording.recorder_id)
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

    async def _check_spool(self) -> None:
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
            conference_id,
            api_secret=secret,
            request_timeout=self._settings.conference_request_timeout_seconds,
        )

    async def start(self, command: StartCommand) -> Recording:
        """Start recording a conversation; a retry while it is live returns the live recording."""
        self.forget_finished()
        app = self.application(command.organization_id, command.application_id)
        if await self._repo.get_live(app.organization_id, command.conversation_id) is None:
            await self._check_spool()
        recording, created = await self._repo.create_or_get_live(
            Recording(
                recorder_id=str(uuid.uuid4()),
                conversation_id=command.conversation_id,
                instance_id=self._settings.instance_id,
                organization_id=app.organization_id,
                application_id=app.id,
                conference_id=command.conference_id,
                audio=command.audio,
                video=command.video,
                state=RecordingState.INITIALISED,
                created=datetime.now(UTC),
            )
        )
        session = self._sessions.get(recording.recorder_id)
        if created:
            session = RecordingSession(
                recording,
                self._conference(app, command.conference_id),
                self._repo,
                self.uploader,
                self._key_template(app.id),
                self._options,
                on_finished=self.artifacts.store_all,
            )
            self._sessions[recording.recorder_id] = session
            session.start()
        if session is not None:
            with contextlib.suppress(TimeoutError):  # still joining: the answer says INITIALISED
                await asyncio.wait_for(asyncio.shield(session.joined), self._settings.start_timeout_seconds)
            return session.recording
        return recording

    async def stop(self, organization_id: str, conversation_id: str, recorder_id: str, instance_id: str) -> Recording:
        recording = await self.get(organization_id, conversation_id, recorder_id, instance_id)
        session = self._sessions.pop(recording.recorder_id, None)
        if session is None:
            return recording
        await session.stop()
        return session.recording

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
            if session.recording.state not in (RecordingState.INITIALISED, RecordingState.ACTIVE):
                self._sessions.pop(recorder_id, None)

    async def aclose(self) -> None:
        """Stop every recording this instance runs: files are closed and their uploads queued (an upload under
        way is taken up again at the next start)."""
        sessions, self._sessions = list(self._sessions.values()), {}
        await asyncio.gather(*(s.stop() for s in sessions), return_exceptions=True)
        await self.compositions.aclose()
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
