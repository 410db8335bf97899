"""Coaching sessions in SQL: the backend's document, and the recording claimed by one conditional update."""

from __future__ import annotations

from recorder.persistence.database import Database
from recorder.persistence.ports import SessionStore
from schemas.sessions import CoachingSession


class SqlSessions(SessionStore):
    def __init__(self, database: Database) -> None:
        self._db = database

    async def get(self, application_id: str, session_id: str) -> CoachingSession | None:
        rows = await self._db.fetch(
            "SELECT document, recorder_id FROM coaching_sessions WHERE application_id = ? AND session_id = ?",
            application_id,
            session_id,
        )
        if not rows:
            return None
        session = CoachingSession.model_validate_json(rows[0]["document"])
        return session.model_copy(update={"recorder_id": rows[0]["recorder_id"]})

    async def save(self, session: CoachingSession) -> None:
        await self._db.execute(
            "INSERT INTO coaching_sessions (application_id, session_id, document) VALUES (?,?,?)"
            " ON CONFLICT (application_id, session_id) DO UPDATE SET document = excluded.document",
            session.application_id,
            session.session_id,
            session.model_copy(update={"recorder_id": None}).model_dump_json(),
        )

    async def claim_recording(self, application_id: str, session_id: str, recorder_id: str) -> bool:
        claimed = await self._db.execute(
            "UPDATE coaching_sessions SET recorder_id = ?"
            " WHERE application_id = ? AND session_id = ? AND recorder_id IS NULL",
            recorder_id,
            application_id,
            session_id,
        )
        return claimed > 0

    async def replace_recording(
        self, application_id: str, session_id: str, claimed: str, recorder_id: str | None
    ) -> None:
        await self._db.execute(
            "UPDATE coaching_sessions SET recorder_id = ?"
            " WHERE application_id = ? AND session_id = ? AND recorder_id = ?",
            recorder_id,
            application_id,
            session_id,
            claimed,
        )
