"""WithWhip: a recording's Janus room and its WHIP publishers read as one conference. A stop (a cancellation)
is never swallowed, and no event of either source is lost."""

from __future__ import annotations

import asyncio

import pytest

from recorder.conference.base import Publication, PublicationAdded, PublicationRemoved
from recorder.conference.whip import WhipSource, WithWhip
from recorder.models import MediaKind
from tests.fakes import FakeConference


async def test_a_stop_while_an_event_arrives_is_not_swallowed_and_the_event_is_kept() -> None:
    room, source = FakeConference(), WhipSource()
    conference = WithWhip(room, source)
    reading = asyncio.create_task(conference.next_event())
    await asyncio.sleep(0)  # it waits on both sources now
    room.events.put_nowait(PublicationRemoved("janus-1"))
    source.events.put_nowait(PublicationRemoved("whip-1"))
    reading.cancel()  # a stop, in the same turn as the events
    with pytest.raises(asyncio.CancelledError):
        await reading
    got = {await conference.next_event(), await conference.next_event()}
    assert got == {PublicationRemoved("janus-1"), PublicationRemoved("whip-1")}


async def test_a_whip_event_taken_before_the_conference_closes_goes_back_to_the_source() -> None:
    room, source = FakeConference(), WhipSource()
    conference = WithWhip(room, source)
    room.events.put_nowait(PublicationRemoved("janus-1"))
    assert await conference.next_event() == PublicationRemoved("janus-1")  # (the WHIP wait stays pending)
    added = PublicationAdded(Publication("whip-2", "bob", "CAM", frozenset({MediaKind.AUDIO})))
    source.events.put_nowait(added)
    await asyncio.sleep(0)  # the pending WHIP wait takes it
    await conference.aclose()
    assert room.closed
    rejoined = WithWhip(FakeConference(), source)  # a rejoin reads the same source
    assert await asyncio.wait_for(rejoined.next_event(), 1) == added
    await rejoined.aclose()
