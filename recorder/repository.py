"""The repository port: where recordings, streams and tracks are kept.

`SqliteRepository` is the embedded adapter; a PostgreSQL adapter implements the same methods.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from types import TracebackType

from recorder.models import ChatEntry, ChatTranscript, CobrowseEvent, CobrowseSession, Recording, Stream, Track


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
    async def aclose(self) -> None: ...

    async def __aenter__(self) -> Repository:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()
