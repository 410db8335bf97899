"""Fakes for the fast tests that run without servers."""

from __future__ import annotations

import asyncio

from recorder.conference.base import Conference, ConferenceError, ConferenceEvent, Publication
from recorder.models import MediaKind


class FakeConference(Conference):
    """A conference with no publications: joins (or refuses), then gives the events a test puts in."""

    def __init__(self, publications: list[Publication] | None = None, refuse: ConferenceError | None = None) -> None:
        self.publications = publications or []
        self.refuse = refuse
        self.events: asyncio.Queue[ConferenceEvent] = asyncio.Queue()
        self.joins = 0
        self.closed = False

    async def join(self) -> list[Publication]:
        self.joins += 1
        if self.refuse is not None:
            raise self.refuse
        return self.publications

    async def next_event(self) -> ConferenceEvent:
        return await self.events.get()

    async def subscribe(self, publication: Publication, kinds: frozenset[MediaKind]) -> tuple[str, str]:
        raise ConferenceError("CONFERENCE_ERROR", "no publications here")

    async def answer(self, subscription_id: str, sdp: str) -> None:
        pass

    async def unsubscribe(self, subscription_id: str) -> None:
        pass

    async def aclose(self) -> None:
        self.closed = True
