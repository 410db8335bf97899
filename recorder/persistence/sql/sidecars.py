"""Chat entries and transcripts, cobrowse events and sessions, in SQL."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime

from recorder.events import EventType, recording_event
from recorder.models import ChatEntry, ChatTranscript, CobrowseEvent, CobrowseSession
from recorder.persistence.database import Database
from recorder.persistence.ports import SidecarStore
from recorder.persistence.sql.outbox import changing
from recorder.persistence.sql.rows import load_recording, marks, parse_time, time_text


class SqlSidecars(SidecarStore):
    def __init__(self, database: Database) -> None:
        self._db = database

    async def add_chat_entries(self, recorder_id: str, entries: list[ChatEntry]) -> int:
        rows = [
            (recorder_id, entry_key(e), e.time_stamp.isoformat(), e.transcript, e.user_id, e.user_display_name)
            for e in entries
        ]
        count = "SELECT COUNT(*) FROM chat_entries WHERE recorder_id = ?"
        async with self._db.transaction() as db:
            before = (await db.fetch(count, recorder_id))[0][0]
            await db.execute_many(
                "INSERT INTO chat_entries (recorder_id, entry_key, time_stamp, transcript, user_id,"
                " user_display_name) VALUES (?,?,?,?,?,?) ON CONFLICT DO NOTHING",
                rows,
            )
            after = (await db.fetch(count, recorder_id))[0][0]
        return int(after - before)

    async def chat_entries(self, recorder_id: str) -> list[ChatEntry]:
        rows = await self._db.fetch(
            "SELECT * FROM chat_entries WHERE recorder_id = ? ORDER BY time_stamp, seq", recorder_id
        )
        return [
            ChatEntry(datetime.fromisoformat(r["time_stamp"]), r["transcript"], r["user_id"], r["user_display_name"])
            for r in rows
        ]

    async def save_chat_transcript(self, recorder_id: str, transcript: ChatTranscript) -> None:
        async with changing(self._db) as change:
            was = await change.db.fetch(
                f"SELECT location FROM chat_transcripts WHERE recorder_id = ?{change.for_update}", recorder_id
            )
            await change.db.execute(
                "INSERT INTO chat_transcripts (recorder_id, id, created, location) VALUES (?,?,?,?)"
                " ON CONFLICT (recorder_id) DO UPDATE SET location = excluded.location",
                recorder_id,
                transcript.id,
                time_text(transcript.created),
                transcript.location,
            )
            again = bool(was) and was[0]["location"] == transcript.location
            recording = None if again else await load_recording(change.db, recorder_id)
            if recording is not None and transcript.location is not None:
                file = {"kind": "CHAT", "location": transcript.location, "transcriptId": transcript.id}
                change.events.append(recording_event(EventType.CHAT_TRANSCRIPT_STORED, recording, file=file))

    async def add_cobrowse_event(self, recorder_id: str, instance_id: str, event: CobrowseEvent) -> bool:
        async with self._db.transaction() as db:
            rows = await db.fetch(
                "INSERT INTO cobrowse_events (recorder_id, session_id, sequence_id, timestamp, payload)"
                " VALUES (?,?,?,?,?) ON CONFLICT DO NOTHING RETURNING seq",
                recorder_id,
                event.session_id,
                event.sequence_id,
                event.timestamp,
                event.payload,
            )
            if rows:
                await db.execute(
                    "INSERT INTO cobrowse_sessions (recorder_id, session_id, instance_id, first_seq)"
                    " VALUES (?,?,?,?) ON CONFLICT DO NOTHING",
                    recorder_id,
                    event.session_id,
                    instance_id,
                    rows[0]["seq"],
                )
        return bool(rows)

    async def cobrowse_events(self, recorder_id: str, session_id: str) -> list[CobrowseEvent]:
        rows = await self._db.fetch(
            "SELECT * FROM cobrowse_events WHERE recorder_id = ? AND session_id = ? ORDER BY sequence_id",
            recorder_id,
            session_id,
        )
        return [CobrowseEvent(r["session_id"], r["sequence_id"], r["timestamp"], r["payload"]) for r in rows]

    async def cobrowse_sessions(self, recorder_ids: list[str]) -> list[CobrowseSession]:
        if not recorder_ids:
            return []
        rows = await self._db.fetch(
            f"SELECT * FROM cobrowse_sessions WHERE recorder_id IN ({marks(recorder_ids)}) ORDER BY first_seq",
            *recorder_ids,
        )
        return [
            CobrowseSession(
                r["recorder_id"], r["session_id"], r["instance_id"], r["location"], parse_time(r["uploaded"])
            )
            for r in rows
        ]

    async def save_cobrowse_session(self, session: CobrowseSession) -> None:
        async with changing(self._db) as change:
            was = await change.db.fetch(
                f"SELECT location FROM cobrowse_sessions WHERE recorder_id = ? AND session_id = ?{change.for_update}",
                session.recorder_id,
                session.session_id,
            )
            changed = await change.db.execute(
                "UPDATE cobrowse_sessions SET location = ?, uploaded = ? WHERE recorder_id = ? AND session_id = ?",
                session.location,
                time_text(session.uploaded),
                session.recorder_id,
                session.session_id,
            )
            new = changed and bool(was) and was[0]["location"] != session.location
            recording = await load_recording(change.db, session.recorder_id) if new else None
            if recording is not None and session.location is not None:
                file = {"kind": "COBROWSE", "location": session.location, "sessionId": session.session_id}
                change.events.append(recording_event(EventType.COBROWSE_SESSION_STORED, recording, file=file))


def entry_key(entry: ChatEntry) -> str:
    """What makes an entry the same one again (a retried request)."""
    fields = [entry.time_stamp.isoformat(), entry.user_id, entry.user_display_name, entry.transcript]
    return hashlib.sha256(json.dumps(fields).encode()).hexdigest()
