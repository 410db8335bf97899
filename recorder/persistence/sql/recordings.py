"""Recordings with their streams and tracks, in SQL."""

from __future__ import annotations

import copy
import json
from datetime import datetime

from recorder.events import Before, EventType, recording_changes, recording_event, track_changes, track_stored
from recorder.models import ErrorInfo, Recording, RecordingState, Stream, Track
from recorder.persistence.database import Connection, Database
from recorder.persistence.ports import AdmissionRefused, Admit, RecordingQuery, RecordingStore
from recorder.persistence.sql.outbox import changing
from recorder.persistence.sql.rows import (
    LIVE,
    error_text,
    limits_text,
    load_recording,
    load_recordings,
    marks,
    parse_pauses,
    parse_rules,
    pauses_text,
    reason_text,
    rules_text,
    time_text,
)

_ADMISSION_LOCK = 7204  # the advisory lock starts are admitted under (PostgreSQL)


class SqlRecordings(RecordingStore):
    def __init__(self, database: Database) -> None:
        self._db = database

    async def create_or_get_live(self, recording: Recording, limits: Admit | None = None) -> tuple[Recording, bool]:
        for _ in range(3):  # a live one that ends between our insert and our read: try again
            if await self._insert(recording, limits):
                return recording, True
            live = await self.get_live(recording.organization_id, recording.conversation_id)
            if live is not None:
                return live, False
        raise RuntimeError(f"cannot store recording {recording.recorder_id}: a constraint other than one-live")

    async def _insert(self, recording: Recording, limits: Admit | None) -> bool:
        async with self._db.transaction() as db:
            if limits is not None and not await self._live_here(db, recording):
                await self._admit(db, recording, limits)
            inserted = await db.execute(
                "INSERT INTO recordings (recorder_id, conversation_id, instance_id, organization_id, application_id,"
                " conference_id, audio, video, state, created, lease_until, screen, start_reason, pauses, rules,"
                " limits, key_template, facade) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?) ON CONFLICT DO NOTHING",
                recording.recorder_id,
                recording.conversation_id,
                recording.instance_id,
                recording.organization_id,
                recording.application_id,
                recording.conference_id,
                int(recording.audio),
                int(recording.video),
                recording.state.value,
                time_text(recording.created),
                recording.lease_until,
                int(recording.screen),
                reason_text(recording.start_reason),
                pauses_text(recording.pauses),
                rules_text(recording.rules),
                limits_text(recording.limits),
                recording.key_template,
                recording.facade,
            )
            if inserted:
                await db.execute(
                    "INSERT INTO recorder_instances (recorder_id, instance_id) VALUES (?, ?)",
                    recording.recorder_id,
                    recording.instance_id,
                )
        return inserted == 1

    async def get(
        self, organization_id: str | None, conversation_id: str, recorder_id: str, instance_id: str
    ) -> Recording | None:
        found = await load_recordings(
            self._db,
            "(CAST(? AS TEXT) IS NULL OR r.organization_id = ?) AND r.conversation_id = ? AND r.recorder_id = ?"
            " AND EXISTS (SELECT 1 FROM recorder_instances i WHERE i.recorder_id = r.recorder_id"
            " AND i.instance_id = ?)",
            organization_id,
            organization_id,
            conversation_id,
            recorder_id,
            instance_id,
        )
        return next(iter(found), None)

    async def get_live(self, organization_id: str, conversation_id: str) -> Recording | None:
        found = await load_recordings(
            self._db,
            f"r.organization_id = ? AND r.conversation_id = ? AND r.state IN ({LIVE})",
            organization_id,
            conversation_id,
        )
        return next(iter(found), None)

    async def for_conversation(self, organization_id: str, conversation_id: str) -> list[Recording]:
        return await load_recordings(
            self._db, "r.organization_id = ? AND r.conversation_id = ?", organization_id, conversation_id
        )

    async def page(self, query: RecordingQuery) -> tuple[list[Recording], int]:
        where, args = "application_id = ?", list[object]([query.application_id])
        for clause, value in (
            ("conversation_id = ?", query.conversation_id),
            (
                "EXISTS (SELECT 1 FROM streams s WHERE s.recorder_id = recordings.recorder_id AND s.user_id = ?)",
                query.user_id,
            ),
            ("created >= ?", time_text(query.since)),
            ("created < ?", time_text(query.until)),
        ):
            if value is not None:
                where += f" AND {clause}"
                args.append(value)
        if query.conversation_prefix:  # (the same on both databases: case-sensitive, no LIKE wildcards)
            where += " AND substr(conversation_id, 1, ?) = ?"
            args += [len(query.conversation_prefix), query.conversation_prefix]
        if query.states:
            where += f" AND state IN ({marks(list(query.states))})"
            args += query.states
        order = "ASC" if query.oldest_first else "DESC"
        async with self._db.transaction() as db:
            total = (await db.fetch(f"SELECT COUNT(*) AS n FROM recordings WHERE {where}", *args))[0]["n"]
            rows = await db.fetch(
                f"SELECT recorder_id FROM recordings WHERE {where} ORDER BY created {order}, recorder_id"
                " LIMIT ? OFFSET ?",
                *args,
                query.limit,
                query.offset,
            )
            ids = [row["recorder_id"] for row in rows]
            found = await load_recordings(db, f"r.recorder_id IN ({marks(ids)})", *ids) if ids else []
        by_id = {r.recorder_id: r for r in found}
        return [by_id[i] for i in ids if i in by_id], int(total)

    async def by_id(self, recorder_id: str) -> Recording | None:
        return next(iter(await load_recordings(self._db, "r.recorder_id = ?", recorder_id)), None)

    async def _live_here(self, db: Connection, recording: Recording) -> bool:
        """Whether the conversation is being recorded (then a start answers that recording: nothing to admit)."""
        rows = await db.fetch(
            f"SELECT 1 FROM recordings WHERE organization_id = ? AND conversation_id = ? AND state IN ({LIVE})",
            recording.organization_id,
            recording.conversation_id,
        )
        return bool(rows)

    async def _admit(self, db: Connection, recording: Recording, limits: Admit) -> None:
        """Count and insert as one: starts are admitted one at a time across the instances (PostgreSQL: a
        transaction lock; SQLite's transactions are one at a time already)."""
        if self._db.dialect == "postgresql":
            await db.execute("SELECT pg_advisory_xact_lock(CAST(? AS INTEGER), 0)", _ADMISSION_LOCK)
        for full, column, value, most in (
            ("instance", "instance_id", recording.instance_id, limits.instance),
            ("application", "application_id", recording.application_id, limits.application),
        ):
            if most is None:
                continue
            rows = await db.fetch(
                f"SELECT COUNT(*) AS n FROM recordings WHERE {column} = ? AND state IN ({LIVE})", value
            )
            if int(rows[0]["n"]) >= most:
                raise AdmissionRefused(full, int(rows[0]["n"]), most)

    async def save(self, recording: Recording) -> bool:
        # what is written, and told: the recording as it is now (its owner may change it while this waits)
        recording = copy.copy(recording)
        recording.pauses = [copy.copy(pause) for pause in recording.pauses]
        async with changing(self._db) as change:
            rows = await change.db.fetch(
                "SELECT state, pauses, rules FROM recordings WHERE recorder_id = ? AND instance_id = ?"
                + change.for_update,
                recording.recorder_id,
                recording.instance_id,
            )
            changed = await self._update(change.db, recording)
            if changed == 1 and rows:
                pauses = parse_pauses(rows[0]["pauses"])
                paused = bool(pauses) and not pauses[-1].resumed
                before = Before(RecordingState(rows[0]["state"]), len(pauses), paused, parse_rules(rows[0]["rules"]))
                change.events += recording_changes(before, recording)
        return changed == 1

    @staticmethod
    async def _update(db: Connection, recording: Recording) -> int:
        return await db.execute(
            "UPDATE recordings SET state = ?, started = ?, stopped = ?, recovered = ?, error = ?, stop_reason = ?,"
            " pauses = ?, rules = ?, limits = ?,"
            f" lease_until = CASE WHEN ? IN ({LIVE}) THEN lease_until END"
            " WHERE recorder_id = ? AND instance_id = ?",
            recording.state.value,
            time_text(recording.started),
            time_text(recording.stopped),
            time_text(recording.recovered),
            error_text(recording.error),
            reason_text(recording.stop_reason),
            pauses_text(recording.pauses),
            rules_text(recording.rules),
            limits_text(recording.limits),
            recording.state.value,
            recording.recorder_id,
            recording.instance_id,
        )

    async def save_stream(self, stream: Stream) -> None:
        await self._db.execute(
            "INSERT INTO streams (id, recorder_id, publication_id, type, user_id, state, started, stopped)"
            " VALUES (?,?,?,?,?,?,?,?) ON CONFLICT (id) DO UPDATE SET state = excluded.state,"
            " stopped = excluded.stopped",
            stream.id,
            stream.recorder_id,
            stream.publication_id,
            stream.type,
            stream.user_id,
            stream.state.value,
            time_text(stream.started),
            time_text(stream.stopped),
        )

    async def save_track(self, recorder_id: str, track: Track) -> None:
        track = copy.copy(track)  # (as `save`)
        async with changing(self._db) as change:
            rows = await change.db.fetch(f"SELECT stopped FROM tracks WHERE id = ?{change.for_update}", track.id)
            await self._upsert_track(change.db, recorder_id, track)
            recording = await load_recording(change.db, recorder_id)
            if recording is not None:
                was_stopped = bool(rows[0]["stopped"]) if rows else None
                change.events += track_changes(recording, track, was_stopped)

    @staticmethod
    async def _upsert_track(db: Connection, recorder_id: str, track: Track) -> None:
        await db.execute(
            "INSERT INTO tracks (id, stream_id, recorder_id, type, started, stopped, local_location, local_deleted,"
            " local_error, object_location, object_size, object_uploaded, object_error, frames, duration,"
            " media_start, writer, gaps, codec) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"
            " ON CONFLICT (id) DO UPDATE SET"
            " started = excluded.started, stopped = excluded.stopped, media_start = excluded.media_start,"
            " gaps = excluded.gaps,"
            " local_deleted = excluded.local_deleted, local_error = excluded.local_error,"
            " object_location = excluded.object_location, object_size = excluded.object_size,"
            " object_uploaded = excluded.object_uploaded, object_error = excluded.object_error,"
            " frames = excluded.frames, duration = excluded.duration",
            track.id,
            track.stream_id,
            recorder_id,
            track.kind.upper(),
            time_text(track.started),
            time_text(track.stopped),
            track.local_location,
            time_text(track.local_deleted),
            error_text(track.local_error),
            track.object_location,
            track.object_size,
            time_text(track.object_uploaded),
            error_text(track.object_error),
            track.frames,
            float(track.duration),
            time_text(track.media_start),
            track.writer,
            json.dumps(track.gaps) if track.gaps else None,
            track.codec,
        )

    async def set_track_object(
        self,
        track_id: str,
        location: str | None,
        size: int | None,
        uploaded: datetime | None,
        error: ErrorInfo | None,
    ) -> None:
        async with changing(self._db) as change:
            was = await change.db.fetch(f"SELECT object_location FROM tracks WHERE id = ?{change.for_update}", track_id)
            await change.db.execute(
                "UPDATE tracks SET object_location = ?, object_size = ?, object_uploaded = ?, object_error = ?"
                " WHERE id = ?",
                location,
                size,
                time_text(uploaded),
                error_text(error),
                track_id,
            )
            if location is None or uploaded is None or not was or was[0]["object_location"] == location:
                return  # a failure is told by the upload job's store (upload.failed); a retry, or again: no event
            rows = await change.db.fetch("SELECT recorder_id FROM tracks WHERE id = ?", track_id)
            recording = await load_recording(change.db, rows[0]["recorder_id"]) if rows else None
            tracks = [t for s in recording.streams for t in s.tracks if t.id == track_id] if recording else []
            if recording is not None and tracks:
                track = tracks[0]
                change.events += track_stored(recording, track, location, size)

    async def set_manifest(self, recorder_id: str, location: str | None, error: ErrorInfo | None = None) -> None:
        async with changing(self._db) as change:
            was = await change.db.fetch(
                f"SELECT manifest_location FROM recordings WHERE recorder_id = ?{change.for_update}", recorder_id
            )
            await change.db.execute(
                "UPDATE recordings SET manifest_location = ?, manifest_error = ? WHERE recorder_id = ?",
                location,
                error_text(error),
                recorder_id,
            )
            new = location is not None and bool(was) and was[0]["manifest_location"] != location
            recording = await load_recording(change.db, recorder_id) if new else None
            if recording is not None and location is not None:
                file = {"kind": "MANIFEST", "location": location}
                change.events.append(recording_event(EventType.MANIFEST_STORED, recording, file=file))

    async def set_track_local_deleted(self, track_id: str, deleted: datetime) -> None:
        await self._db.execute("UPDATE tracks SET local_deleted = ? WHERE id = ?", time_text(deleted), track_id)
