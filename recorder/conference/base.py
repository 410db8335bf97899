"""The conference connector port: signalling only, never media.

A connector joins a conference as a silent participant, reports publications coming and going, and
negotiates one subscription per publication: it hands out the SFU's SDP offer and takes our answer.
The media side (`recorder.media.subscription`) owns the peer connections.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from types import TracebackType

from recorder.models import MediaKind


class ConferenceError(Exception):
    """A conference could not be joined or followed.

    code: ROOM_NOT_FOUND (the conference does not exist), CONFERENCE_UNREACHABLE (the server does not
    answer), CONFERENCE_ERROR (the server refused a request).
    """

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Publication:
    """One participant's publication: `kinds` are the media it carries."""

    id: str
    user_id: str
    stream_type: str  # CAM, MIC, SCREEN, VIDEO, HOLD, UNKNOWN
    kinds: frozenset[MediaKind] = field(default_factory=frozenset)
    mids: tuple[tuple[str, MediaKind], ...] = ()  # (SFU stream id, kind), where the SFU names them


@dataclass(frozen=True)
class PublicationAdded:
    publication: Publication


@dataclass(frozen=True)
class PublicationRemoved:
    publication_id: str


@dataclass(frozen=True)
class ConferenceEnded:
    reason: str
    lost: bool = False  # the connection to the server was lost (it may come back); else the conference ended


ConferenceEvent = PublicationAdded | PublicationRemoved | ConferenceEnded


class Conference(ABC):
    """One joined conference. `next_event()` gives its changes until it ends (ConferenceEnded, last)."""

    @abstractmethod
    async def join(self) -> list[Publication]:
        """Join; return the publications already there. Raises ConferenceError."""

    @abstractmethod
    async def next_event(self) -> ConferenceEvent:
        """Wait for the next change in the conference."""

    @abstractmethod
    async def subscribe(self, publication: Publication, kinds: frozenset[MediaKind]) -> tuple[str, str]:
        """Ask the SFU for a subscription; return (subscription id, SDP offer)."""

    @abstractmethod
    async def answer(self, subscription_id: str, sdp: str) -> None:
        """Send our SDP answer; media starts flowing."""

    def declined(self, publication: Publication) -> None:  # noqa: B027 - a hook: most conferences ignore it
        """The recording does not record this publication (its rules): nothing is subscribed."""

    @abstractmethod
    async def unsubscribe(self, subscription_id: str) -> None:
        """End one subscription (best effort)."""

    @abstractmethod
    async def aclose(self) -> None:
        """Leave the conference (best effort)."""

    async def __aenter__(self) -> Conference:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()
