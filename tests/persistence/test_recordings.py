"""The RecordingStore contract."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from recorder.models import (
    Caller,
    ErrorInfo,
    Limits,
    MediaKind,
    Pause,
    Reason,
    RecordingState,
    Rule,
    RuleKind,
    Rules,
    StopReason,
    StreamState,
)
from recorder.persistence.ports import AdmissionRefused, Admit, RecordingQuery
from recorder.persistence.store import Store
from tests.builders import T0, Opener, live_with_stream, recording, stream, track


async def test_a_second_start_of_a_live_conversation_gets_the_live_recording(store: Store) -> None:
    a, created = await store.recordings.create_or_get_live(recording())
    again, created_again = await store.recordings.create_or_get_live(recording())
    assert created and not created_again and again.recorder_id == a.recorder_id


async def test_concurrent_starts_make_one_recording(opener: Opener) -> None:
    a, b = await opener(), await opener()
    results = await asyncio.gather(*(s.recordings.create_or_get_live(recording()) for s in (a, b, a, b)))
    assert sum(created for _, created in results) == 1
    assert len({r.recorder_id for r, _ in results}) == 1


async def test_starts_at_once_on_two_stores_are_admitted_exactly_to_the_limit(opener: Opener) -> None:
    """Twelve starts at once over two connections to one database (two instances): an instance bound of 3
    admits exactly 3, then an application bound of 5 exactly 2 more; a start of a live conversation is never
    refused (it answers that recording)."""
    a, b = await opener(), await opener()

    async def starts(limits: Admit, first: int) -> list[object]:
        return await asyncio.gather(
            *(s.recordings.create_or_get_live(recording(f"c{first + n}"), limits) for n, s in enumerate([a, b] * 6)),
            return_exceptions=True,
        )

    results = await starts(Admit(3, None), 0)
    assert sum(isinstance(r, tuple) for r in results) == 3, results
    assert all(isinstance(r, AdmissionRefused) and r.full == "instance" for r in results if not isinstance(r, tuple))
    results = await starts(Admit(None, 5), 100)
    assert sum(isinstance(r, tuple) for r in results) == 2, results
    live = next(r for r in results if isinstance(r, tuple))
    again, created = await a.recordings.create_or_get_live(recording(live[0].conversation_id), Admit(0, 0))
    assert not created and again.recorder_id == live[0].recorder_id


async def test_another_organization_may_record_the_same_conversation(store: Store) -> None:
    a, _ = await store.recordings.create_or_get_live(recording())
    other, created = await store.recordings.create_or_get_live(recording(org="org2"))
    assert created and other.recorder_id != a.recorder_id


async def test_get_is_scoped_by_organization(store: Store) -> None:
    a, _ = await store.recordings.create_or_get_live(recording())
    assert await store.recordings.get("org2", "c1", a.recorder_id, "i1") is None
    assert await store.recordings.get("org1", "c1", a.recorder_id, "i1") is not None


async def test_get_without_organization_finds_any(store: Store) -> None:
    a, _ = await store.recordings.create_or_get_live(recording(org="org2"))
    assert await store.recordings.get(None, "c1", a.recorder_id, "i1") is not None


async def test_get_needs_the_right_conversation_and_instance(store: Store) -> None:
    a, _ = await store.recordings.create_or_get_live(recording())
    assert await store.recordings.get("org1", "c2", a.recorder_id, "i1") is None
    assert await store.recordings.get("org1", "c1", a.recorder_id, "i9") is None


async def test_a_stopped_recording_is_no_longer_live_and_loses_its_lease(store: Store) -> None:
    a, _ = await store.recordings.create_or_get_live(recording())
    a.state, a.stopped = RecordingState.STOPPED, T0 + timedelta(seconds=5)
    assert await store.recordings.save(a)
    assert await store.recordings.get_live("org1", "c1") is None
    got = await store.recordings.by_id(a.recorder_id)
    assert got is not None and got.state is RecordingState.STOPPED and got.lease_until is None


async def test_get_live_is_none_for_an_unknown_conversation(store: Store) -> None:
    assert await store.recordings.get_live("org1", "nobody") is None


async def test_for_conversation_lists_oldest_first(store: Store) -> None:
    a, _ = await store.recordings.create_or_get_live(recording())
    a.state = RecordingState.STOPPED
    await store.recordings.save(a)
    b, _ = await store.recordings.create_or_get_live(recording(created=T0 + timedelta(seconds=10)))
    listed = await store.recordings.for_conversation("org1", "c1")
    assert [r.recorder_id for r in listed] == [a.recorder_id, b.recorder_id]
    assert await store.recordings.for_conversation("org2", "c1") == []


async def test_save_is_refused_to_an_instance_that_no_longer_owns_it(store: Store) -> None:
    a, _ = await store.recordings.create_or_get_live(recording())
    a.instance_id, a.state = "i2", RecordingState.STOPPED
    assert not await store.recordings.save(a)
    assert (await store.recordings.by_id(a.recorder_id)).state is RecordingState.INITIALISED  # type: ignore[union-attr]


async def test_recording_fields_round_trip(store: Store) -> None:
    r, _ = await store.recordings.create_or_get_live(recording())
    error = ErrorInfo("UNREACHABLE", "no answer", T0 + timedelta(seconds=1))
    r.state, r.started, r.error = RecordingState.ACTIVE, T0, error
    await store.recordings.save(r)
    got = await store.recordings.by_id(r.recorder_id)
    assert got is not None and (got.state, got.started, got.error) == (RecordingState.ACTIVE, T0, error)


async def test_a_recording_reads_with_its_streams_and_tracks_in_order(store: Store) -> None:
    r = await live_with_stream(store)
    second = stream(r.recorder_id, "s2")
    second.started = T0 + timedelta(seconds=1)
    await store.recordings.save_stream(second)
    await store.recordings.save_track(r.recorder_id, track("t2", started=T0 + timedelta(seconds=2)))
    await store.recordings.save_track(r.recorder_id, track("t1"))
    await store.recordings.save_track(r.recorder_id, track("t3", "s2", kind=MediaKind.AUDIO))
    got = await store.recordings.get("org1", "c1", r.recorder_id, "i1")
    assert got is not None
    assert [(s.id, [t.id for t in s.tracks]) for s in got.streams] == [("s1", ["t1", "t2"]), ("s2", ["t3"])]
    assert got.streams[1].tracks[0].kind is MediaKind.AUDIO


async def test_a_stream_update_writes_its_state_and_end(store: Store) -> None:
    r = await live_with_stream(store)
    s = stream(r.recorder_id)
    s.state, s.stopped = StreamState.STOPPED, T0 + timedelta(seconds=4)
    await store.recordings.save_stream(s)
    got = await store.recordings.by_id(r.recorder_id)
    assert got is not None and (got.streams[0].state, got.streams[0].stopped) == (s.state, s.stopped)


async def test_a_track_update_writes_every_field_that_changes(store: Store) -> None:
    r = await live_with_stream(store)
    t = track()
    await store.recordings.save_track(r.recorder_id, t)
    t.stopped, t.frames, t.duration = T0 + timedelta(seconds=3), 90, 3.0333
    t.media_start, t.gaps = T0 - timedelta(milliseconds=20), [(1.0, 1.5)]
    t.local_error = ErrorInfo("WRITE_FAILED", "disk", T0)
    await store.recordings.save_track(r.recorder_id, t)
    got = (await store.recordings.by_id(r.recorder_id)).streams[0].tracks[0]  # type: ignore[union-attr]
    assert (got.frames, got.duration, got.writer, got.media_start) == (90, 3.0333, "i1", t.media_start)
    assert (got.stopped, got.gaps, got.local_error) == (t.stopped, [(1.0, 1.5)], t.local_error)


async def test_set_track_object_records_where_the_file_is_stored(store: Store) -> None:
    r = await live_with_stream(store)
    await store.recordings.save_track(r.recorder_id, track())
    await store.recordings.set_track_object("t1", "k/t1.webm", 5_000_000_000, T0, None)
    got = (await store.recordings.by_id(r.recorder_id)).streams[0].tracks[0]  # type: ignore[union-attr]
    assert (got.object_location, got.object_size, got.object_uploaded) == ("k/t1.webm", 5_000_000_000, T0)


async def test_set_track_object_with_nothing_clears_an_error(store: Store) -> None:
    r = await live_with_stream(store)
    await store.recordings.save_track(r.recorder_id, track())
    await store.recordings.set_track_object("t1", None, None, None, ErrorInfo("REFUSED", "no bucket", T0))
    failed = (await store.recordings.by_id(r.recorder_id)).streams[0].tracks[0]  # type: ignore[union-attr]
    assert failed.object_error is not None
    await store.recordings.set_track_object("t1", None, None, None, None)
    got = (await store.recordings.by_id(r.recorder_id)).streams[0].tracks[0]  # type: ignore[union-attr]
    assert got.object_error is None and got.object_location is None


async def test_set_track_local_deleted(store: Store) -> None:
    r = await live_with_stream(store)
    await store.recordings.save_track(r.recorder_id, track())
    await store.recordings.set_track_local_deleted("t1", T0)
    got = (await store.recordings.by_id(r.recorder_id)).streams[0].tracks[0]  # type: ignore[union-attr]
    assert got.local_deleted == T0


async def test_screen_is_kept(store: Store) -> None:
    without, _ = await store.recordings.create_or_get_live(recording("c-screen", video=True, screen=False))
    got = await store.recordings.by_id(without.recorder_id)
    assert got is not None and (got.video, got.screen) == (True, False)
    assert got.records("SCREEN") == frozenset() and got.records("CAM") == {MediaKind.AUDIO, MediaKind.VIDEO}


async def test_screen_reads_as_video_where_it_was_never_written(store: Store) -> None:
    old, _ = await store.recordings.create_or_get_live(recording("c-old", video=False))
    await store.database.execute("UPDATE recordings SET screen = NULL WHERE recorder_id = ?", old.recorder_id)
    got = await store.recordings.by_id(old.recorder_id)  # a row from before migration 3
    assert got is not None and got.screen is False and got.records("SCREEN") == frozenset()


async def test_by_id_is_none_for_an_unknown_recording(store: Store) -> None:
    assert await store.recordings.by_id("nobody") is None


async def test_controls_round_trip(store: Store) -> None:
    caller = Caller("backend", "CLIENT")
    rules = Rules(include=(Rule("alice"), Rule(kind=RuleKind.SCREEN_VIDEO)), exclude=(Rule("bob", RuleKind.AUDIO),))
    limits = Limits(3600.0, 60.0, 30.0, 7200.0)
    r, _ = await store.recordings.create_or_get_live(
        recording(start_reason=Reason(StopReason.API_CALL, caller), rules=rules, limits=limits)
    )
    r.pauses = [Pause(T0, T0 + timedelta(seconds=5)), Pause(T0 + timedelta(seconds=9))]
    r.state, r.stop_reason = RecordingState.STOPPED, Reason(StopReason.MAX_DURATION)
    await store.recordings.save(r)
    got = await store.recordings.by_id(r.recorder_id)
    assert got is not None
    assert (got.start_reason, got.stop_reason) == (Reason(StopReason.API_CALL, caller), Reason(StopReason.MAX_DURATION))
    assert (got.rules, got.limits, got.pauses) == (rules, limits, r.pauses) and got.paused


async def test_a_recording_from_before_the_controls_reads_with_none(store: Store) -> None:
    r, _ = await store.recordings.create_or_get_live(recording())
    await store.database.execute(
        "UPDATE recordings SET rules = NULL, pauses = NULL WHERE recorder_id = ?", r.recorder_id
    )
    got = await store.recordings.by_id(r.recorder_id)
    assert got is not None and (got.rules, got.pauses, got.limits, got.start_reason) == (Rules(), [], None, None)


async def test_a_page_of_an_applications_recordings_with_its_total(store: Store) -> None:
    made = []
    for n in range(5):
        r, _ = await store.recordings.create_or_get_live(recording(f"c{n}", created=T0 + timedelta(seconds=n)))
        made.append(r.recorder_id)
        if n % 2:
            r.state = RecordingState.STOPPED
            await store.recordings.save(r)
    page, total = await store.recordings.page(RecordingQuery("app1", offset=1, limit=2))
    assert total == 5 and [r.recorder_id for r in page] == [made[3], made[2]]  # newest first
    page, total = await store.recordings.page(RecordingQuery("app1", states=("STOPPED",), oldest_first=True))
    assert total == 2 and [r.recorder_id for r in page] == [made[1], made[3]]
    page, total = await store.recordings.page(
        RecordingQuery("app1", since=T0 + timedelta(seconds=1), until=T0 + timedelta(seconds=3), conversation_id="c2")
    )
    assert total == 1 and page[0].recorder_id == made[2]
    assert await store.recordings.page(RecordingQuery("app2")) == ([], 0)


async def test_a_page_found_by_a_conversation_ids_start_and_by_a_participant(store: Store) -> None:
    made = {}
    for n, conversation in enumerate(("sales-1", "sales_2", "support-1", "sal%")):
        r, _ = await store.recordings.create_or_get_live(recording(conversation, created=T0 + timedelta(seconds=n)))
        made[conversation] = r.recorder_id
    await store.recordings.save_stream(stream(made["support-1"]))  # user u1
    by_prefix, total = await store.recordings.page(
        RecordingQuery("app1", conversation_prefix="sales", oldest_first=True)
    )
    assert total == 2 and [r.conversation_id for r in by_prefix] == ["sales-1", "sales_2"]
    literal, _ = await store.recordings.page(RecordingQuery("app1", conversation_prefix="sal%"))
    assert [r.conversation_id for r in literal] == ["sal%"]  # % and _ are not wildcards
    underscore, _ = await store.recordings.page(RecordingQuery("app1", conversation_prefix="sales_"))
    assert [r.conversation_id for r in underscore] == ["sales_2"]
    by_user, total = await store.recordings.page(RecordingQuery("app1", user_id="u1"))
    assert total == 1 and by_user[0].recorder_id == made["support-1"]
    assert await store.recordings.page(RecordingQuery("app1", user_id="u2")) == ([], 0)
