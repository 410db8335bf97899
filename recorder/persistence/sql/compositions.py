"""Composition jobs in SQL: a queue leased to one instance at a time."""

from __future__ import annotations

from datetime import datetime

from recorder.events import composition_changes
from recorder.models import Composition, CompositionState
from recorder.persistence.database import Connection, Database
from recorder.persistence.ports import CompositionJobStore
from recorder.persistence.sql.outbox import changing
from recorder.persistence.sql.rows import RUNNING_COMPOSITION, composition, error_text, pauses_text, time_text


class SqlCompositionJobs(CompositionJobStore):
    def __init__(self, database: Database) -> None:
        self._db = database

    async def add(self, composition: Composition) -> None:
        c = composition
        await self._db.execute(
            "INSERT INTO compositions (id, organization_id, application_id, conversation_id, name, type, width,"
            " height, layout, priority, state, created, progress, keep_pauses) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            c.id,
            c.organization_id,
            c.application_id,
            c.conversation_id,
            c.name,
            c.type.value,
            c.width,
            c.height,
            c.layout.value,
            c.priority,
            c.state.value,
            time_text(c.created),
            c.progress,
            int(c.keep_pauses),
        )

    async def save(self, composition: Composition) -> None:
        c = composition
        async with changing(self._db) as change:
            rows = await change.db.fetch(f"SELECT state FROM compositions WHERE id = ?{change.for_update}", c.id)
            changed = await self._update(change.db, c)
            if changed and rows:
                change.events += composition_changes(CompositionState(rows[0]["state"]), c)

    @staticmethod
    async def _update(db: Connection, c: Composition) -> int:
        return await db.execute(
            "UPDATE compositions SET state = ?, progress = ?, completed = ?, duration = ?, size = ?, error = ?,"
            " local_location = ?, object_location = ?, object_uploaded = ?, deleted = ?, timeline_start = ?,"
            " pauses_left_out = ? WHERE id = ? AND (state <> 'CANCELLED' OR CAST(? AS TEXT) = 'CANCELLED')",
            c.state.value,
            c.progress,
            time_text(c.completed),
            c.duration,
            c.size,
            error_text(c.error),
            c.local_location,
            c.object_location,
            time_text(c.object_uploaded),
            time_text(c.deleted),
            time_text(c.timeline_start),
            pauses_text(c.pauses_left_out),
            c.id,
            c.state.value,
        )

    async def cancel(self, composition_id: str, now: datetime) -> bool:
        return (
            await self._db.execute(
                "UPDATE compositions SET state = 'CANCELLED', completed = ?, lease_until = NULL"
                f" WHERE id = ? AND deleted IS NULL AND (state = 'QUEUED' OR state IN {RUNNING_COMPOSITION})",
                time_text(now),
                composition_id,
            )
            == 1
        )

    async def requeue(self, composition_id: str) -> bool:
        return (
            await self._db.execute(
                "UPDATE compositions SET state = 'QUEUED', progress = 0, completed = NULL, duration = NULL,"
                " size = NULL, error = NULL, local_location = NULL, object_location = NULL, object_uploaded = NULL,"
                " owner = NULL, lease_until = NULL"
                " WHERE id = ? AND deleted IS NULL AND state IN ('FAILED', 'CANCELLED')",
                composition_id,
            )
            == 1
        )

    async def for_conversation(self, organization_id: str, conversation_id: str) -> list[Composition]:
        rows = await self._db.fetch(
            "SELECT * FROM compositions WHERE organization_id = ? AND conversation_id = ? AND deleted IS NULL"
            " ORDER BY created, id",
            organization_id,
            conversation_id,
        )
        return [composition(row) for row in rows]

    async def by_id(self, composition_id: str) -> Composition | None:
        rows = await self._db.fetch("SELECT * FROM compositions WHERE id = ?", composition_id)
        return next((composition(row) for row in rows), None)

    async def claim(self, owner: str, now: float, lease_until: float) -> Composition | None:
        free = (
            f"deleted IS NULL AND (state = 'QUEUED' OR (state IN {RUNNING_COMPOSITION}"
            " AND (lease_until IS NULL OR lease_until < ?)))"
        )
        rows = await self._db.fetch(
            "UPDATE compositions SET state = 'PREPROCESSING', progress = 0, owner = ?, lease_until = ?"
            f" WHERE id = (SELECT id FROM compositions WHERE {free} ORDER BY priority DESC, created, id LIMIT 1)"
            f" AND {free} RETURNING *",
            owner,
            lease_until,
            now,
            now,
        )
        return next((composition(row) for row in rows), None)

    async def counts(self) -> dict[str, int]:
        rows = await self._db.fetch(
            f"SELECT state, COUNT(*) AS n FROM compositions WHERE state = 'QUEUED' OR state IN {RUNNING_COMPOSITION}"
            " GROUP BY state"
        )
        return {row["state"]: int(row["n"]) for row in rows}

    async def release(self, owner: str) -> int:
        return await self._db.execute(
            "UPDATE compositions SET state = 'QUEUED', progress = 0, owner = NULL, lease_until = NULL"
            f" WHERE owner = ? AND state IN {RUNNING_COMPOSITION} AND deleted IS NULL",
            owner,
        )
