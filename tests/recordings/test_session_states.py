"""The session's state rules, fast (a fake conference, no media): INITIALISED until joined, then ACTIVE;
FAILED when the conference cannot be joined; ABORTED when it ends under the recording or its server stays
lost; STOPPED when stopped; nothing written when the recording is let go or was taken over."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from recorder.conference.base import (
    ConferenceEnded,
    ConferenceError,
    Publication,
)
from recorder.models import Caller, Limits, MediaKind, Reason, Recording, RecordingState, StopReason
from recorder.persistence.store import Store, open_store
from recorder.recordings.session import RecordingSession, SessionOptions
from recorder.uploads.uploader import Uploader, UploadOptions
from storage_providers.local import LocalStorage
from tests.builders import recording
from tests.eventually import eventually
from tests.fakes import FakeConference
from tests.storage_servers import fixed

BY_API = Reason(StopReason.API_CALL, Caller("backend", "CLIENT"))


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    async with await open_store(None, tmp_path / "db.sqlite3") as store:
        yield store


async def _session(
    store: Store,
    tmp_path: Path,
    conferences: list[FakeConference],
    rejoin: float = 1.0,
    limits: Limits | None = None,
    **fields: object,
) -> RecordingSession:
    new = recording(**fields)  # type: ignore[arg-type]
    new.limits = limits
    live, _ = await store.recordings.create_or_get_live(new)
    uploader = Uploader(store.uploads, fixed(LocalStorage(tmp_path / "storage")), UploadOptions())
    made = iter(conferences)
    session = RecordingSession(
        live,
        lambda: next(made),
        store.recordings,
        uploader,
        "{organizationId}/{recorderId}/{trackId}.{ext}",
        SessionOptions(tmp_path / "spool", [], 1000, rejoin_seconds=rejoin),
    )
    session.start()
    return session


async def _stored(store: Store, session: RecordingSession) -> Recording:
    got = await store.recordings.by_id(session.recording.recorder_id)
    assert got is not None
    return got


async def test_a_joined_recording_is_active(store: Store, tmp_path: Path) -> None:
    session = await _session(store, tmp_path, [FakeConference()])
    await session.joined
    got = await eventually(lambda: _stored(store, session), lambda r: r.state is RecordingState.ACTIVE, within=2)
    assert got.started is not None and got.error is None
    await session.stop(BY_API)


async def test_a_conference_that_cannot_be_joined_fails_the_recording(store: Store, tmp_path: Path) -> None:
    refused = FakeConference(refuse=ConferenceError("ROOM_NOT_FOUND", "no such room"))
    session = await _session(store, tmp_path, [refused])
    await session.joined
    got = await eventually(lambda: _stored(store, session), lambda r: r.state is RecordingState.FAILED, within=2)
    assert got.error is not None and got.error.code == "ROOM_NOT_FOUND" and got.stopped is not None
    assert got.stop_reason == Reason(StopReason.JOIN_FAILED)


async def test_a_recovered_recording_whose_conference_is_gone_is_aborted(store: Store, tmp_path: Path) -> None:
    refused = FakeConference(refuse=ConferenceError("ROOM_NOT_FOUND", "no such room"))
    session = await _session(store, tmp_path, [refused], state=RecordingState.PENDING_RECOVERY)
    await session.joined
    got = await eventually(lambda: _stored(store, session), lambda r: r.state is RecordingState.ABORTED, within=2)
    assert got.error is not None and got.error.code == "ROOM_NOT_FOUND"


async def test_a_recovered_recording_that_joins_is_active_and_marked_recovered(store: Store, tmp_path: Path) -> None:
    session = await _session(store, tmp_path, [FakeConference()], state=RecordingState.PENDING_RECOVERY)
    await session.joined
    got = await eventually(lambda: _stored(store, session), lambda r: r.state is RecordingState.ACTIVE, within=2)
    assert got.recovered is not None
    await session.stop(BY_API)


async def test_the_end_of_the_conference_aborts_the_recording(store: Store, tmp_path: Path) -> None:
    conference = FakeConference()
    session = await _session(store, tmp_path, [conference])
    await session.joined
    conference.events.put_nowait(ConferenceEnded("the room was destroyed"))
    got = await eventually(lambda: _stored(store, session), lambda r: r.state is RecordingState.ABORTED, within=2)
    assert got.error is not None and got.error.code == "CONFERENCE_ENDED" and conference.closed
    assert got.stop_reason == Reason(StopReason.CONFERENCE_ENDED)


async def test_a_lost_server_that_comes_back_is_joined_again(store: Store, tmp_path: Path) -> None:
    first, second = FakeConference(), FakeConference()
    session = await _session(store, tmp_path, [first, second])
    await session.joined
    first.events.put_nowait(ConferenceEnded("session lost", lost=True))
    await eventually(lambda: asyncio.sleep(0, second.joins), within=3, what="a second join")
    assert (await _stored(store, session)).state is RecordingState.ACTIVE
    await session.stop(BY_API)
    assert (await _stored(store, session)).state is RecordingState.STOPPED


async def test_a_lost_server_that_stays_away_aborts_the_recording(store: Store, tmp_path: Path) -> None:
    first = FakeConference()
    away = [FakeConference(refuse=ConferenceError("CONFERENCE_UNREACHABLE", "no answer")) for _ in range(5)]
    session = await _session(store, tmp_path, [first, *away], rejoin=0.6)
    await session.joined
    began = time.monotonic()
    first.events.put_nowait(ConferenceEnded("session lost", lost=True))
    got = await eventually(lambda: _stored(store, session), lambda r: r.state is RecordingState.ABORTED, within=4)
    assert got.error is not None and got.error.code == "CONFERENCE_ENDED"
    assert time.monotonic() - began >= 0.55, "the server is waited for `rejoin_seconds`"


async def test_stop_makes_it_stopped_and_leaves_the_conference(store: Store, tmp_path: Path) -> None:
    conference = FakeConference()
    session = await _session(store, tmp_path, [conference])
    await session.joined
    await session.stop(BY_API)
    got = await _stored(store, session)
    assert got.state is RecordingState.STOPPED and got.stopped is not None and conference.closed
    assert got.stop_reason == BY_API


async def test_a_recording_let_go_is_left_as_it_is(store: Store, tmp_path: Path) -> None:
    conference = FakeConference()
    session = await _session(store, tmp_path, [conference])
    await session.joined
    await eventually(lambda: _stored(store, session), lambda r: r.state is RecordingState.ACTIVE, within=2)
    await session.let_go()
    got = await _stored(store, session)
    assert got.state is RecordingState.ACTIVE and got.stopped is None and conference.closed


async def test_a_recording_taken_over_meanwhile_is_not_written(store: Store, tmp_path: Path) -> None:
    conference = FakeConference()
    session = await _session(store, tmp_path, [conference])
    await session.joined
    await eventually(lambda: _stored(store, session), lambda r: r.state is RecordingState.ACTIVE, within=2)
    await store.database.execute("UPDATE recordings SET instance_id = 'i2'")  # another instance took it
    await session.stop(BY_API)
    got = await _stored(store, session)
    assert got.state is RecordingState.ACTIVE and got.instance_id == "i2"


def _limits(**seconds: float) -> Limits:
    values = {"max_duration": 60.0, "empty_room": 60.0, "no_media": 60.0, "pause": 60.0, **seconds}
    return Limits(**values)


async def _ends_for(store: Store, session: RecordingSession, within: float) -> Recording:
    return await eventually(
        lambda: _stored(store, session), lambda r: r.state is not RecordingState.ACTIVE, within=within
    )


async def test_an_empty_room_stops_the_recording_after_its_limit(store: Store, tmp_path: Path) -> None:
    session = await _session(store, tmp_path, [FakeConference()], limits=_limits(empty_room=0.4))
    await session.joined
    got = await _ends_for(store, session, 2)
    assert got.state is RecordingState.STOPPED and got.stop_reason == Reason(StopReason.EMPTY_ROOM)


async def test_the_recorded_time_limit_stops_the_recording(store: Store, tmp_path: Path) -> None:
    session = await _session(store, tmp_path, [FakeConference()], limits=_limits(max_duration=0.4))
    await session.joined
    got = await _ends_for(store, session, 2)
    assert got.stop_reason == Reason(StopReason.MAX_DURATION)


async def test_publishers_without_media_stop_the_recording(store: Store, tmp_path: Path) -> None:
    conference = FakeConference([Publication("p1", "alice", "CAM", frozenset(MediaKind))])
    session = await _session(store, tmp_path, [conference], limits=_limits(no_media=0.4, empty_room=0.1))
    await session.joined
    got = await _ends_for(store, session, 2)
    assert got.stop_reason == Reason(StopReason.NO_MEDIA), "a publisher is there: the room is not empty"


async def test_pause_and_resume_are_recorded_and_idempotent(store: Store, tmp_path: Path) -> None:
    session = await _session(store, tmp_path, [FakeConference()])
    await session.joined
    assert await session.pause() and not await session.pause()
    stored = await _stored(store, session)
    assert stored.paused and len(stored.pauses) == 1
    assert await session.resume() and not await session.resume()
    stored = await _stored(store, session)
    assert not stored.paused and stored.pauses[0].resumed is not None
    await session.stop(BY_API)


async def test_a_pause_too_long_stops_the_recording_and_the_pause_ends_with_it(store: Store, tmp_path: Path) -> None:
    session = await _session(store, tmp_path, [FakeConference()], limits=_limits(pause=0.4))
    await session.joined
    await session.pause()
    got = await _ends_for(store, session, 2)
    assert got.stop_reason == Reason(StopReason.PAUSE_TIMEOUT)
    assert got.pauses[0].resumed == got.stopped and not got.paused


async def test_paused_time_is_not_recorded_time(store: Store, tmp_path: Path) -> None:
    session = await _session(store, tmp_path, [FakeConference()], limits=_limits(max_duration=0.6))
    await session.joined
    await session.pause()
    await asyncio.sleep(0.8)  # longer than the limit: paused time does not count
    assert (await _stored(store, session)).state is RecordingState.ACTIVE
    await session.resume()
    got = await _ends_for(store, session, 2)
    assert got.stop_reason == Reason(StopReason.MAX_DURATION)
