"""Instances, their heartbeats and leases, and what a dead instance left, in SQL."""

from __future__ import annotations

from datetime import datetime

from recorder.events import recovered, track_changes
from recorder.models import Recording, Track
from recorder.persistence.database import Database
from recorder.persistence.ports import Capacity, ClusterStore, InstanceInfo
from recorder.persistence.sql.outbox import changing
from recorder.persistence.sql.rows import (
    LIVE,
    RUNNING_COMPOSITION,
    UNFINISHED_UPLOAD,
    error_text,
    load_recording,
    parse_time,
    time_text,
    track,
)


class SqlCluster(ClusterStore):
    def __init__(self, database: Database) -> None:
        self._db = database

    async def heartbeat(self, instance: InstanceInfo, now: datetime, lease_until: float) -> set[str]:
        """Say the instance is alive and renew the leases it still holds; the live recordings it owns."""
        epoch = now.timestamp()
        async with self._db.transaction() as db:
            await db.execute(
                "INSERT INTO instances (id, address, state, started, heartbeat, lease_until, locked, capacity)"
                " VALUES (?,?,?,?,?,?,?,?) ON CONFLICT (id) DO UPDATE SET address = excluded.address,"
                " state = excluded.state, heartbeat = excluded.heartbeat, lease_until = excluded.lease_until,"
                " locked = excluded.locked, capacity = excluded.capacity",
                instance.id,
                instance.address,
                instance.state,
                time_text(instance.started),
                time_text(now),
                lease_until,
                int(instance.locked),
                instance.capacity,
            )
            rows = await db.fetch(
                f"UPDATE recordings SET lease_until = ? WHERE instance_id = ? AND state IN ({LIVE})"
                " AND lease_until >= ? RETURNING recorder_id",
                lease_until,
                instance.id,
                epoch,
            )
            await db.execute(
                "UPDATE upload_jobs SET lease_until = ? WHERE owner = ?"
                f" AND state IN {UNFINISHED_UPLOAD} AND lease_until >= ?",
                lease_until,
                instance.id,
                epoch,
            )
            await db.execute(
                "UPDATE compositions SET lease_until = ? WHERE owner = ?"
                f" AND state IN {RUNNING_COMPOSITION} AND lease_until >= ?",
                lease_until,
                instance.id,
                epoch,
            )
        return {row["recorder_id"] for row in rows}

    async def watched(self, instance_id: str, now: float) -> list[str]:
        rows = await self._db.fetch(
            "SELECT id FROM instances WHERE locked = 1 AND lease_until >= ? AND id <> ?", now, instance_id
        )
        return [row["id"] for row in rows]

    async def capacity(self, now: float, instance_id: str) -> Capacity:
        rows = await self._db.fetch(
            "SELECT COUNT(*) AS n, SUM(capacity) AS total FROM instances WHERE lease_until >= ? AND state = 'RUNNING'",
            now,
        )
        live = await self._db.fetch(
            "SELECT COUNT(*) AS n, SUM(CASE WHEN instance_id = ? THEN 1 ELSE 0 END) AS here FROM recordings"
            f" WHERE state IN ({LIVE})",
            instance_id,
        )
        return Capacity(int(rows[0]["n"]), int(rows[0]["total"] or 0), int(live[0]["n"]), int(live[0]["here"] or 0))

    async def fence(self, instance_id: str) -> int:
        async with self._db.transaction() as db:
            await db.execute("UPDATE instances SET lease_until = 0 WHERE id = ?", instance_id)
            await db.execute(
                f"UPDATE upload_jobs SET lease_until = 0 WHERE owner = ? AND state IN {UNFINISHED_UPLOAD}", instance_id
            )
            await db.execute(
                f"UPDATE compositions SET lease_until = 0 WHERE owner = ? AND state IN {RUNNING_COMPOSITION}",
                instance_id,
            )
            return await db.execute(
                f"UPDATE recordings SET lease_until = 0 WHERE instance_id = ? AND state IN ({LIVE})", instance_id
            )

    async def instances(self) -> list[InstanceInfo]:
        rows = await self._db.fetch("SELECT * FROM instances ORDER BY started, id")
        return [
            InstanceInfo(
                r["id"], r["address"], r["state"], datetime.fromisoformat(r["started"]), parse_time(r["heartbeat"])
            )
            for r in rows
        ]

    async def expire_recordings(self, now: float) -> list[str]:
        """Live recordings whose owner's lease ran out become PENDING_RECOVERY."""
        rows = await self._db.fetch(
            "UPDATE recordings SET state = 'PENDING_RECOVERY'"
            " WHERE state IN ('INITIALISED', 'ACTIVE') AND lease_until < ? RETURNING recorder_id",
            now,
        )
        return [row["recorder_id"] for row in rows]

    async def claim_recovery(
        self, instance_id: str, now: float, lease_until: float, recorder_id: str | None = None
    ) -> Recording | None:
        free = "state = 'PENDING_RECOVERY' AND (lease_until IS NULL OR lease_until < ?)"
        async with changing(self._db) as change:
            db = change.db
            pick = f"SELECT recorder_id, instance_id FROM recordings WHERE {free} AND (CAST(? AS TEXT) IS NULL OR"
            skip = f"{change.for_update} SKIP LOCKED" if change.for_update else ""  # instances claiming at once
            found = await db.fetch(
                f"{pick} recorder_id = ?) ORDER BY created LIMIT 1{skip}", now, recorder_id, recorder_id
            )
            if not found:
                return None
            rows = await db.fetch(
                f"UPDATE recordings SET instance_id = ?, lease_until = ?, epoch = epoch + 1 WHERE recorder_id = ?"
                f" AND {free}"
                " RETURNING recorder_id",
                instance_id,
                lease_until,
                found[0]["recorder_id"],
                now,
            )
            if not rows:
                return None
            await db.execute(
                "INSERT INTO recorder_instances (recorder_id, instance_id) VALUES (?, ?) ON CONFLICT DO NOTHING",
                rows[0]["recorder_id"],
                instance_id,
            )
            recording = await load_recording(db, rows[0]["recorder_id"])
            if recording is not None:
                change.events.append(recovered(recording, found[0]["instance_id"]))
        return recording

    async def release_recordings(self, instance_id: str, recorder_id: str | None = None) -> int:
        return await self._db.execute(
            "UPDATE recordings SET state = 'PENDING_RECOVERY', lease_until = 0 WHERE instance_id = ?"
            f" AND state IN ({LIVE}) AND (CAST(? AS TEXT) IS NULL OR recorder_id = ?)",
            instance_id,
            recorder_id,
            recorder_id,
        )

    async def leftover_tracks(self, now: float, alive_but: str | None) -> list[tuple[str, Track]]:
        """Tracks never finished whose writer is not alive (a lease not renewed); `alive_but` is counted as not
        alive (an instance at start: what its earlier run left)."""
        rows = await self._db.fetch(
            "SELECT * FROM tracks WHERE stopped IS NULL AND (writer IS NULL OR writer NOT IN"
            " (SELECT id FROM instances WHERE lease_until >= ? AND id <> ?)) ORDER BY started, id",
            now,
            alive_but or "",
        )
        return [(row["recorder_id"], track(row)) for row in rows]

    async def finish_leftover(self, recorder_id: str, track: Track) -> bool:
        """Record a leftover track as finished, unless another instance did it first."""
        async with changing(self._db) as change:
            changed = await change.db.execute(
                "UPDATE tracks SET stopped = ?, frames = ?, duration = ?, local_error = ?, local_location = ?,"
                " local_deleted = ?, object_error = ? WHERE id = ? AND recorder_id = ? AND stopped IS NULL",
                time_text(track.stopped),
                track.frames,
                float(track.duration),
                error_text(track.local_error),
                track.local_location,
                time_text(track.local_deleted),
                error_text(track.object_error),
                track.id,
                recorder_id,
            )
            recording = await load_recording(change.db, recorder_id) if changed == 1 else None
            if recording is not None:
                change.events += track_changes(recording, track, False)
        return changed == 1
