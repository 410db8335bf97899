"""The repository port: where recordings, streams and tracks are kept.

`SqliteRepository` is the embedded adapter; a PostgreSQL adapter implements the same methods.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType

from recorder.models import (
    ChatEntry,
    ChatTranscript,
    CobrowseEvent,
    CobrowseSession,
    Composition,
    ErrorInfo,
    Recording,
    Stream,
    Track,
    UploadJob,
)


@dataclass(frozen=True)
class StoredProfile:
    """A storage profile set through the admin API: its settings as JSON without secrets, and its
    credentials as an encrypted token (None: none given)."""

    application_id: str
    settings: str
    credentials: str | None


class Repository(ABC):
    """Conversations belong to organizations: every lookup is scoped by `organization_id`, so that two
    organizations may use the same conversation id and never see each other's recordings."""

    @abstractmethod
    async def create_or_get_live(self, recording: Recording) -> tuple[Recording, bool]:
        """Store `recording` unless its conversation has a live one; return (the live one, created)."""

    @abstractmethod
    async def get(
        self, organization_id: str | None, conversation_id: str, recorder_id: str, instance_id: str
    ) -> Recording | None:
        """A recording by its three ids; `instance_id` may name any instance the recording ever had.
        `organization_id` None looks in every organization (a signed link names the recording)."""

    @abstractmethod
    async def get_live(self, organization_id: str, conversation_id: str) -> Recording | None:
        """The conversation's INITIALISED, ACTIVE or PENDING_RECOVERY recording, if any."""

    @abstractmethod
    async def list_for_conversation(self, organization_id: str, conversation_id: str) -> list[Recording]:
        """Every recording of a conversation, oldest first."""

    @abstractmethod
    async def save_recording(self, recording: Recording) -> None:
        """Write the recording's own fields (not its streams)."""

    @abstractmethod
    async def save_stream(self, stream: Stream) -> None:
        """Insert or update a stream's own fields (not its tracks)."""

    @abstractmethod
    async def save_track(self, recorder_id: str, track: Track) -> None:
        """Insert or update a track."""

    @abstractmethod
    async def add_chat_entries(self, recorder_id: str, entries: list[ChatEntry]) -> int:
        """Append entries; one already there (same time, user, name and text: a retry) is not added again.
        Returns how many were new."""

    @abstractmethod
    async def chat_entries(self, recorder_id: str) -> list[ChatEntry]:
        """The recording's entries in time order (then arrival order)."""

    @abstractmethod
    async def save_chat_transcript(self, recorder_id: str, transcript: ChatTranscript) -> None: ...

    @abstractmethod
    async def add_cobrowse_event(self, recorder_id: str, instance_id: str, event: CobrowseEvent) -> bool:
        """Keep an event unless its (session, sequenceId) is there already; False for such a duplicate."""

    @abstractmethod
    async def cobrowse_events(self, recorder_id: str, session_id: str) -> list[CobrowseEvent]:
        """A session's events ordered by sequenceId."""

    @abstractmethod
    async def cobrowse_sessions(self, recorder_ids: list[str]) -> list[CobrowseSession]:
        """The cobrowse sessions of these recordings, in order of their first event."""

    @abstractmethod
    async def save_cobrowse_session(self, session: CobrowseSession) -> None:
        """Record where a session's file is stored."""

    @abstractmethod
    async def set_track_object(
        self,
        track_id: str,
        location: str | None,
        size: int | None,
        uploaded: datetime | None,
        error: ErrorInfo | None,
    ) -> None:
        """Record where a track's file is stored (or why it is not)."""

    @abstractmethod
    async def set_track_local_deleted(self, track_id: str, deleted: datetime) -> None: ...

    @abstractmethod
    async def recording_by_id(self, recorder_id: str) -> Recording | None:
        """For the service's own bookkeeping (uploads): not scoped by organization."""

    @abstractmethod
    async def add_upload(self, job: UploadJob) -> UploadJob:
        """Store a new upload job durably; it gets its id."""

    @abstractmethod
    async def save_upload(self, job: UploadJob) -> None: ...

    @abstractmethod
    async def due_uploads(self, now: datetime, limit: int, busy_keys: set[str]) -> list[UploadJob]:
        """PENDING and UPLOADED jobs whose time has come, oldest first, none with a key in `busy_keys`."""

    @abstractmethod
    async def next_upload_due(self) -> datetime | None:
        """When the earliest unfinished job is due."""

    @abstractmethod
    async def uploads(self, recorder_id: str) -> list[UploadJob]: ...

    @abstractmethod
    async def failed_uploads(self, application_id: str | None, recorder_id: str | None) -> list[UploadJob]:
        """FAILED jobs of one recording, or of one application, or all (None, None)."""

    @abstractmethod
    async def upload_superseded(self, job: UploadJob) -> bool:
        """Whether a newer, unfinished job goes to the same key of the same application."""

    @abstractmethod
    async def storage_profiles(self) -> list[StoredProfile]: ...

    @abstractmethod
    async def save_storage_profile(self, profile: StoredProfile) -> None: ...

    @abstractmethod
    async def delete_storage_profile(self, application_id: str) -> bool: ...

    @abstractmethod
    async def add_composition(self, composition: Composition) -> None: ...

    @abstractmethod
    async def save_composition(self, composition: Composition) -> None:
        """Write every field but the ids and the request."""

    @abstractmethod
    async def compositions(self, organization_id: str, conversation_id: str) -> list[Composition]:
        """A conversation's compositions, oldest first; deleted ones are left out."""

    @abstractmethod
    async def composition_by_id(self, composition_id: str) -> Composition | None:
        """For the service's own bookkeeping: not scoped by organization, deleted ones included."""

    @abstractmethod
    async def claim_composition(self) -> Composition | None:
        """The QUEUED composition to run next (highest priority, then oldest), made PREPROCESSING."""

    @abstractmethod
    async def requeue_compositions(self) -> int:
        """Compositions left PREPROCESSING or PROCESSING (their worker was stopped) go back to QUEUED."""

    @abstractmethod
    async def aclose(self) -> None: ...

    async def __aenter__(self) -> Repository:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()
