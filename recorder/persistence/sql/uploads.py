"""Upload jobs in SQL: leased to one instance at a time."""

from __future__ import annotations

from datetime import datetime

from recorder.events import upload_failed
from recorder.models import UploadJob, UploadKind, UploadState
from recorder.persistence.database import Database
from recorder.persistence.ports import UploadJobStore
from recorder.persistence.sql.outbox import changing
from recorder.persistence.sql.rows import (
    UNFINISHED_UPLOAD,
    error_text,
    load_recording,
    marks,
    parse_time,
    time_text,
    upload,
)


class SqlUploadJobs(UploadJobStore):
    def __init__(self, database: Database) -> None:
        self._db = database

    async def add(self, job: UploadJob, lease_until: float | None = None) -> UploadJob:
        rows = await self._db.fetch(
            "INSERT INTO upload_jobs (application_id, recorder_id, kind, subject, source, key, size, md5,"
            " created, next_attempt, state, attempts, error, origin, owner, lease_until, sha256)"
            " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?) RETURNING id",
            job.application_id,
            job.recorder_id,
            job.kind.value,
            job.subject,
            job.source,
            job.key,
            job.size,
            job.md5,
            time_text(job.created),
            time_text(job.next_attempt),
            job.state.value,
            job.attempts,
            error_text(job.error),
            job.origin,
            job.owner,
            lease_until,
            job.sha256,
        )
        job.id = rows[0]["id"]
        return job

    async def save(self, job: UploadJob) -> None:
        async with changing(self._db) as change:
            rows = await change.db.fetch(f"SELECT state FROM upload_jobs WHERE id = ?{change.for_update}", job.id)
            await change.db.execute(
                "UPDATE upload_jobs SET state = ?, attempts = ?, next_attempt = ?, error = ? WHERE id = ?",
                job.state.value,
                job.attempts,
                time_text(job.next_attempt),
                error_text(job.error),
                job.id,
            )
            if job.state is UploadState.FAILED and rows and rows[0]["state"] != UploadState.FAILED.value:
                recording = await load_recording(change.db, job.recorder_id)
                if recording is not None:
                    tracks = [(s, t) for s in recording.streams for t in s.tracks if t.id == job.subject]
                    track = tracks[0] if job.kind is UploadKind.TRACK and tracks else None
                    change.events.append(upload_failed(recording, job, track))

    async def claim(
        self,
        owner: str,
        now: datetime,
        limit: int,
        busy_keys: set[str],
        lease_until: float,
        full_applications: frozenset[str] = frozenset(),
    ) -> list[UploadJob]:
        free = (
            f"state IN {UNFINISHED_UPLOAD} AND next_attempt <= ?"
            " AND (owner IS NULL OR owner = ? OR lease_until IS NULL OR lease_until < ?)"
        )
        busy = f" AND key NOT IN ({marks(busy_keys)})" if busy_keys else ""
        if full_applications:  # applications whose uploads have their share of the workers
            busy += f" AND application_id NOT IN ({marks(set(full_applications))})"
        excluded = [*busy_keys, *full_applications]
        rows = await self._db.fetch(
            f"UPDATE upload_jobs SET owner = ?, lease_until = ? WHERE id IN (SELECT id FROM upload_jobs WHERE {free}"
            f"{busy} ORDER BY id LIMIT ?) AND {free} RETURNING *",
            owner,
            lease_until,
            time_text(now),
            owner,
            now.timestamp(),
            *excluded,
            limit,
            time_text(now),
            owner,
            now.timestamp(),
        )
        return sorted((upload(row) for row in rows), key=lambda job: job.id or 0)

    async def counts(self) -> dict[str, int]:
        rows = await self._db.fetch(
            "SELECT state, COUNT(*) AS n FROM upload_jobs WHERE state IN ('PENDING', 'UPLOADED', 'FAILED')"
            " GROUP BY state"
        )
        return {row["state"]: int(row["n"]) for row in rows}

    async def release(self, owner: str, job_id: int | None = None) -> int:
        return await self._db.execute(
            "UPDATE upload_jobs SET owner = NULL, lease_until = NULL WHERE owner = ?"
            f" AND state IN {UNFINISHED_UPLOAD} AND (CAST(? AS BIGINT) IS NULL OR id = ?)",
            owner,
            job_id,
            job_id,
        )

    async def unfinished(self, owner: str) -> int:
        rows = await self._db.fetch(
            f"SELECT COUNT(*) FROM upload_jobs WHERE owner = ? AND state IN {UNFINISHED_UPLOAD}", owner
        )
        return int(rows[0][0])

    async def next_due(self) -> datetime | None:
        rows = await self._db.fetch(f"SELECT MIN(next_attempt) FROM upload_jobs WHERE state IN {UNFINISHED_UPLOAD}")
        return parse_time(rows[0][0]) if rows else None

    async def for_recording(self, recorder_id: str) -> list[UploadJob]:
        rows = await self._db.fetch("SELECT * FROM upload_jobs WHERE recorder_id = ? ORDER BY id", recorder_id)
        return [upload(row) for row in rows]

    async def failed(self, application_id: str | None, recorder_id: str | None) -> list[UploadJob]:
        rows = await self._db.fetch(
            "SELECT * FROM upload_jobs WHERE state = 'FAILED' AND (CAST(? AS TEXT) IS NULL OR application_id = ?)"
            " AND (CAST(? AS TEXT) IS NULL OR recorder_id = ?) ORDER BY id",
            application_id,
            application_id,
            recorder_id,
            recorder_id,
        )
        return [upload(row) for row in rows]

    async def superseded(self, job: UploadJob) -> bool:
        rows = await self._db.fetch(
            "SELECT 1 FROM upload_jobs WHERE application_id = ? AND key = ? AND id > ?"
            " AND state IN ('PENDING', 'UPLOADED', 'DONE') LIMIT 1",
            job.application_id,
            job.key,
            job.id,
        )
        return bool(rows)
