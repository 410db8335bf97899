"""The repository port: where recordings, streams and tracks are kept.

`SqliteRepository` is the embedded adapter; a PostgreSQL adapter implements the same methods.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from types import TracebackType

from recorder.models import Recording, Stream, Track


class Repository(ABC):
    @abstractmethod
    async def create_or_get_live(self, recording: Recording) -> tuple[Recording, bool]:
        """Store `recording` unless its conversation has a live one; return (the live one, created)."""

    @abstractmethod
    async def get(self, conversation_id: str, recorder_id: str, instance_id: str) -> Recording | None:
        """A recording by its three ids; `instance_id` may name any instance the recording ever had."""

    @abstractmethod
    async def get_live(self, conversation_id: str) -> Recording | None:
        """The conversation's INITIALISED, ACTIVE or PENDING_RECOVERY recording, if any."""

    @abstractmethod
    async def list_for_conversation(self, conversation_id: str) -> list[Recording]:
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
    async def aclose(self) -> None: ...

    async def __aenter__(self) -> Repository:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()
