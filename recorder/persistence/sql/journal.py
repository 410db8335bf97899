"""The segment journal in SQL: a row per segment object a live track has in storage, fenced by the recording's
epoch (a stale owner's row is refused)."""

from __future__ import annotations

from recorder.clock import now
from recorder.persistence.database import Database
from recorder.persistence.ports import SegmentJournal, SegmentRecord
from recorder.persistence.sql.rows import time_text


class SqlSegmentJournal(SegmentJournal):
    def __init__(self, database: Database) -> None:
        self._db = database

    async def record(self, segment: SegmentRecord) -> bool:
        # one statement: the row exists only if the writer is the recording's owner of this epoch and the track
        # is still live (a track finalized by another instance takes no more segments)
        written = await self._db.execute(
            "INSERT INTO track_segments (track_id, seq, recorder_id, epoch, object_key, start_offset, size, sha256,"
            " media_end, stored) SELECT ?, CAST(? AS BIGINT), ?, CAST(? AS BIGINT), ?, CAST(? AS BIGINT),"
            " CAST(? AS BIGINT), ?, CAST(? AS DOUBLE PRECISION), ? WHERE EXISTS (SELECT 1 FROM recordings r"
            " JOIN tracks t ON t.recorder_id = r.recorder_id WHERE r.recorder_id = ? AND r.epoch = ? AND t.id = ?"
            " AND t.stopped IS NULL) ON CONFLICT DO NOTHING",
            segment.track_id,
            segment.seq,
            segment.recorder_id,
            segment.epoch,
            segment.key,
            segment.offset,
            segment.size,
            segment.sha256,
            segment.media_end,
            time_text(now()),
            segment.recorder_id,
            segment.epoch,
            segment.track_id,
        )
        return written == 1

    async def segments(self, track_id: str) -> list[SegmentRecord]:
        rows = await self._db.fetch("SELECT * FROM track_segments WHERE track_id = ? ORDER BY seq", track_id)
        return [
            SegmentRecord(
                r["recorder_id"],
                r["track_id"],
                r["epoch"],
                r["seq"],
                r["object_key"],
                r["start_offset"],
                r["size"],
                r["sha256"],
                r["media_end"],
            )
            for r in rows
        ]

    async def durable(self, recorder_id: str) -> dict[str, float]:
        rows = await self._db.fetch(
            "SELECT track_id, MAX(media_end) AS media_end FROM track_segments WHERE recorder_id = ? GROUP BY track_id",
            recorder_id,
        )
        return {r["track_id"]: float(r["media_end"]) for r in rows}

    async def forget(self, track_id: str) -> None:
        await self._db.execute("DELETE FROM track_segments WHERE track_id = ?", track_id)
