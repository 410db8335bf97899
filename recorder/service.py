"""RecordingService: starts, stops and reports recordings; owns every running RecordingSession."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from types import TracebackType

import aiohttp

from recorder.artifacts import Artifacts
from recorder.conference.base import Conference
from recorder.conference.janus import JanusConference
from recorder.errors import NotFoundError
from recorder.models import ChatEntry, CobrowseEvent, CobrowseSession, Recording, RecordingState
from recorder.repository import Repository
from recorder.session import RecordingSession, SessionOptions
from recorder.settings import ApplicationSettings, Settings
from storage_providers.base import StorageProvider
from storage_providers.registry import create_provider

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
    def __init__(self, settings: Settings, repository: Repository, http: aiohttp.ClientSession) -> None:
        self._settings = settings
        self._repo = repository
        self._http = http
        self._storage: dict[str, StorageProvider] = {
            app.id: create_provider(app.storage) for app in settings.applications
        }
        self._sessions: dict[str, RecordingSession] = {}
        self._options = SessionOptions(settings.spool, settings.ice_servers, settings.flush_interval_ms)
        self.artifacts = Artifacts(repository, self.storage, settings.spool / "artifacts")

    def storage(self, application_id: str) -> StorageProvider:
        try:
            return self._storage[application_id]
        except KeyError:
            raise NotFoundError(f"application {application_id!r} is not configured") from None

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
                self.storage(app.id),
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
        """Stop every recording this instance runs: files are closed and stored."""
        sessions, self._sessions = list(self._sessions.values()), {}
        await asyncio.gather(*(s.stop() for s in sessions), return_exceptions=True)
        for provider in self._storage.values():
            await provider.aclose()

    async def __aenter__(self) -> RecordingService:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()
