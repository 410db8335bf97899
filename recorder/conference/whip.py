"""WHIP ingest (RFC 9725): publishers that send to the recorder directly, as publications of a recording.

A WHIP publisher's offer arrives over HTTP (`api.facades.whip`); `Ingests` hands it to the recording's `WhipSource`,
which the recording's session reads as a conference (`WithWhip`, beside its Janus room if it has one). The
session subscribes as it does to a Janus publication: the "SFU offer" is the publisher's offer, and its answer
goes back to the HTTP request. So a WHIP publication is written by the same path as any other (files, manifest,
controls, webhooks, uploads), and one conversation may mix Janus participants and WHIP publishers.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections import Counter
from dataclasses import dataclass, field

from aiortc.sdp import SessionDescription

from recorder.conference.base import (
    Conference,
    ConferenceError,
    ConferenceEvent,
    Publication,
    PublicationAdded,
    PublicationRemoved,
)
from recorder.models import MediaKind

logger = logging.getLogger(__name__)
PREFIX = "whip-"  # WHIP publications' ids
RECORDABLE = {MediaKind.AUDIO: ("opus",), MediaKind.VIDEO: ("vp8", "h264")}  # written without re-encoding


class NotRecordable(ValueError):
    """The offer has a media section without a codec that can be written without re-encoding."""


def offered_kinds(offer: str) -> frozenset[MediaKind]:
    """The kinds an offer sends; NotRecordable (saying which codecs are taken) when one of its audio or video
    sections offers none of them, or when it is not SDP."""
    try:
        sections = SessionDescription.parse(offer).media
    except (ValueError, IndexError, KeyError) as exc:
        raise NotRecordable(f"the body is not an SDP offer: {exc}") from None
    kinds = set()
    for section in sections:
        if section.kind not in ("audio", "video"):
            raise NotRecordable(f"a {section.kind} section cannot be recorded: send audio and video only")
        kind = MediaKind(section.kind)
        names = {c.name.lower() for c in section.rtp.codecs}
        if not names & set(RECORDABLE[kind]):
            taken = ", ".join(n.upper() if n != "opus" else "Opus" for n in RECORDABLE[kind])
            raise NotRecordable(f"{kind.value} is recorded without re-encoding: offer {taken}")
        kinds.add(kind)
    if not kinds:
        raise NotRecordable("the offer has no audio or video")
    return frozenset(kinds)


def ice_ufrag(sdp: str) -> str:
    """The first `a=ice-ufrag:` of an SDP (or a trickle fragment); "" when it has none."""
    return next(
        (line[len("a=ice-ufrag:") :].strip() for line in sdp.splitlines() if line.startswith("a=ice-ufrag:")), ""
    )


@dataclass
class _Offer:
    publication: Publication
    sdp: str
    answered: asyncio.Future[str | None] = field(default_factory=lambda: asyncio.get_running_loop().create_future())


class IngestRefused(Exception):
    """An ingest may not open a publication now: REVOKED, BUSY (one at a time) or EXHAUSTED (its bound)."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class WhipSource:
    """One recording's WHIP publications, as conference events."""

    def __init__(self) -> None:
        self.events: asyncio.Queue[ConferenceEvent] = asyncio.Queue()
        self._offers: dict[str, _Offer] = {}
        self.live: set[str] = set()  # publications subscribed and not removed
        self._ufrags: dict[str, str] = {}  # publication -> the publisher's ICE ufrag (its WHIP session's ETag)
        self._ingests: dict[str, str] = {}  # publication -> the ingest that opened it
        self._opened: Counter[str] = Counter()  # publications each ingest opened
        self._revoked: set[str] = set()

    def _open(self, ingest: str) -> list[str]:
        """The publications of `ingest` that are there (offered or live)."""
        return [p for p, i in self._ingests.items() if i == ingest and (p in self.live or p in self._offers)]

    async def publish(
        self, user_id: str, stream_type: str, offer: str, ingest: str = "", most: int = 0
    ) -> tuple[str, str | None]:
        """Offer a publication to the recording; (publication id, our answer), None when the recording does
        not record it (its rules). Cancelled (a caller's timeout): the offer is withdrawn. An ingest opens one
        publication at a time and `most` in all (0: no bound); a revoked one none (IngestRefused)."""
        if ingest in self._revoked:
            raise IngestRefused("REVOKED", "the ingest was revoked")
        if ingest and self._open(ingest):
            raise IngestRefused("BUSY", "the ingest has a publication: end it (DELETE) before publishing again")
        if most and self._opened[ingest] >= most:
            raise IngestRefused("EXHAUSTED", f"the ingest opened its {most} publications: make another ingest")
        kinds = offered_kinds(offer)  # (an offer that cannot be recorded opens nothing)
        self._opened[ingest] += 1
        publication = Publication(f"{PREFIX}{uuid.uuid4()}", user_id, stream_type, kinds)
        pending = self._offers[publication.id] = _Offer(publication, offer)
        self._ufrags[publication.id] = ice_ufrag(offer)
        self._ingests[publication.id] = ingest
        self.events.put_nowait(PublicationAdded(publication))
        try:
            return publication.id, await pending.answered
        except BaseException:
            self.remove(publication.id)
            raise

    def revoke(self, ingest: str) -> int:
        """The ingest may publish no more; its publications end. How many ended."""
        self._revoked.add(ingest)
        ended = self._open(ingest)
        for publication_id in ended:
            self.remove(publication_id)
        return len(ended)

    def of_ingest(self, publication_id: str) -> str | None:
        return self._ingests.get(publication_id)

    def ufrag(self, publication_id: str) -> str | None:
        """The publisher's ICE ufrag of a publication that is there (None: it is not)."""
        return self._ufrags.get(publication_id) if publication_id in self.live else None

    def remove(self, publication_id: str) -> bool:
        """The publisher ended its publication (DELETE): False when it is not there."""
        self._ufrags.pop(publication_id, None)
        offer = self._offers.pop(publication_id, None)
        if offer is not None and not offer.answered.done():
            offer.answered.set_result(None)
        known = offer is not None or publication_id in self.live
        if known:
            self.live.discard(publication_id)
            self.events.put_nowait(PublicationRemoved(publication_id))
        return known

    def offer(self, publication_id: str) -> str:
        offer = self._offers.get(publication_id)
        if offer is None or offer.answered.done():
            # (re-subscribing after a rules change: a WHIP publisher offers once; it must publish again)
            raise ConferenceError("CONFERENCE_ERROR", f"{publication_id} has no offer: publish again")
        return offer.sdp

    def answer(self, publication_id: str, sdp: str | None) -> None:
        offer = self._offers.get(publication_id)
        if offer is not None and not offer.answered.done():
            offer.answered.set_result(sdp)
            if sdp is not None:
                self.live.add(publication_id)

    def close(self) -> None:
        """The recording ended: offers not yet answered are refused."""
        for offer in self._offers.values():
            if not offer.answered.done():
                offer.answered.set_result(None)
        self._offers.clear()
        self._ufrags.clear()
        self.live.clear()


class Ingests:
    """Every live recording's WHIP source on this instance, by recorder id."""

    def __init__(self) -> None:
        self._sources: dict[str, WhipSource] = {}

    def source(self, recorder_id: str) -> WhipSource:
        return self._sources.setdefault(recorder_id, WhipSource())

    def get(self, recorder_id: str) -> WhipSource | None:
        return self._sources.get(recorder_id)

    def drop(self, recorder_id: str) -> None:
        source = self._sources.pop(recorder_id, None)
        if source is not None:
            source.close()


class WithWhip(Conference):
    """A recording's conference: its Janus room (None: WHIP publishers only) and its WHIP publications."""

    def __init__(self, room: Conference | None, source: WhipSource) -> None:
        self._room = room
        self._source = source
        self._room_next: asyncio.Task[ConferenceEvent] | None = None
        self._whip_next: asyncio.Task[ConferenceEvent] | None = None

    async def join(self) -> list[Publication]:
        return await self._room.join() if self._room is not None else []

    async def next_event(self) -> ConferenceEvent:
        if self._room is None:
            return await self._source.events.get()
        # both waits outlive a call: nothing here cancels (a stop's cancellation must never be swallowed), and
        # an event taken from either source is never lost
        if self._room_next is None:
            self._room_next = asyncio.ensure_future(self._room.next_event())
        if self._whip_next is None:
            self._whip_next = asyncio.ensure_future(self._source.events.get())
        done, _ = await asyncio.wait({self._room_next, self._whip_next}, return_when=asyncio.FIRST_COMPLETED)
        if self._whip_next in done:
            event, self._whip_next = self._whip_next.result(), None
            return event
        event, self._room_next = self._room_next.result(), None
        return event

    async def subscribe(self, publication: Publication, kinds: frozenset[MediaKind]) -> tuple[str, str]:
        if publication.id.startswith(PREFIX):
            return publication.id, self._source.offer(publication.id)
        if self._room is None:
            raise ConferenceError("CONFERENCE_ERROR", f"no conference has {publication.id}")
        return await self._room.subscribe(publication, kinds)

    async def answer(self, subscription_id: str, sdp: str) -> None:
        if subscription_id.startswith(PREFIX):
            self._source.answer(subscription_id, sdp)
        elif self._room is not None:
            await self._room.answer(subscription_id, sdp)

    def declined(self, publication: Publication) -> None:
        if publication.id.startswith(PREFIX):
            self._source.answer(publication.id, None)

    async def unsubscribe(self, subscription_id: str) -> None:
        if subscription_id.startswith(PREFIX):
            self._source.live.discard(subscription_id)
        elif self._room is not None:
            await self._room.unsubscribe(subscription_id)

    async def aclose(self) -> None:
        whip = self._whip_next
        if whip is not None:  # a WHIP event taken and not handled goes back (a rejoin reads the same source)
            if whip.done() and not whip.cancelled():
                self._source.events.put_nowait(whip.result())
            whip.cancel()
        for task in (self._room_next, whip):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        if self._room is not None:
            await self._room.aclose()
