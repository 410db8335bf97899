"""The SidecarStore contract."""

from __future__ import annotations

from datetime import timedelta

from recorder.models import ChatEntry, ChatTranscript, CobrowseEvent, CobrowseSession
from recorder.persistence.store import Store
from tests.builders import T0, recording


async def _recorder(store: Store) -> str:
    r, _ = await store.recordings.create_or_get_live(recording())
    return r.recorder_id


async def test_chat_entries_read_in_time_order(store: Store) -> None:
    rid = await _recorder(store)
    late, early = ChatEntry(T0 + timedelta(seconds=2), "b", "u1"), ChatEntry(T0, "a", "u2", "Bob")
    assert await store.sidecars.add_chat_entries(rid, [late, early]) == 2
    assert await store.sidecars.chat_entries(rid) == [early, late]


async def test_a_retried_chat_entry_is_not_added_again(store: Store) -> None:
    rid = await _recorder(store)
    entry = ChatEntry(T0, "a", "u2", "Bob")
    await store.sidecars.add_chat_entries(rid, [entry])
    assert await store.sidecars.add_chat_entries(rid, [entry]) == 0
    assert await store.sidecars.chat_entries(rid) == [entry]


async def test_the_transcript_reads_with_its_recording_and_keeps_its_first_id(store: Store) -> None:
    rid = await _recorder(store)
    await store.sidecars.save_chat_transcript(rid, ChatTranscript("tr1", T0, "k/chat1.json"))
    await store.sidecars.save_chat_transcript(rid, ChatTranscript("tr2", T0, "k/chat2.json"))
    got = await store.recordings.by_id(rid)
    assert got is not None and got.chat_transcript == ChatTranscript("tr1", T0, "k/chat2.json")


async def test_cobrowse_events_read_by_sequence_id(store: Store) -> None:
    rid = await _recorder(store)
    for n in (3, 1, 2):
        assert await store.sidecars.add_cobrowse_event(rid, "i1", CobrowseEvent("x", n, 1_700_000_000_000 + n, "{}"))
    assert [e.sequence_id for e in await store.sidecars.cobrowse_events(rid, "x")] == [1, 2, 3]


async def test_a_duplicate_cobrowse_event_is_refused(store: Store) -> None:
    rid = await _recorder(store)
    event = CobrowseEvent("x", 1, 5, "{}")
    assert await store.sidecars.add_cobrowse_event(rid, "i1", event)
    assert not await store.sidecars.add_cobrowse_event(rid, "i1", event)


async def test_cobrowse_sessions_in_order_of_their_first_event(store: Store) -> None:
    rid = await _recorder(store)
    for session in ("y", "x", "y"):
        await store.sidecars.add_cobrowse_event(rid, "i1", CobrowseEvent(session, len(session) + 1, 5, "{}"))
    await store.sidecars.add_cobrowse_event(rid, "i1", CobrowseEvent("x", 9, 5, "{}"))
    assert [s.session_id for s in await store.sidecars.cobrowse_sessions([rid])] == ["y", "x"]
    assert await store.sidecars.cobrowse_sessions([]) == []


async def test_save_cobrowse_session_records_where_it_is_stored(store: Store) -> None:
    rid = await _recorder(store)
    await store.sidecars.add_cobrowse_event(rid, "i1", CobrowseEvent("x", 1, 5, "{}"))
    await store.sidecars.save_cobrowse_session(CobrowseSession(rid, "x", "", "k/x.json", T0))
    (session,) = await store.sidecars.cobrowse_sessions([rid])
    assert (session.instance_id, session.location, session.uploaded) == ("i1", "k/x.json", T0)
