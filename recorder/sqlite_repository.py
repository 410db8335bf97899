"""SqliteRepository: the embedded repository, one SQLite file (aiosqlite runs it on a thread of its own)."""

from __future__ import annotations

import asyncio
import hashlib
import json
import sqlite3
from datetime import datetime
from pathlib import Path
from typing import Any

import aiosqlite

from recorder.models import (
    LIVE_STATES,
    ChatEntry,
    ChatTranscript,
    CobrowseEvent,
    CobrowseSession,
    Composition,
    CompositionState,
    CompositionType,
    ErrorInfo,
    Layout,
    Recording,
    RecordingState,
    Stream,
    StreamState,
    Track,
    UploadJob,
    UploadKind,
    UploadState,
)
from recorder.repository import Repository, StoredProfile

_LIVE = ", ".join(f"'{s.value}'" for s in sorted(LIVE_STATES))
SCHEMA = f"""
CREATE TABLE IF NOT EXISTS recordings (
    recorder_id TEXT PRIMARY KEY, conversation_id TEXT NOT NULL, instance_id TEXT NOT NULL,
    organization_id TEXT NOT NULL, application_id TEXT NOT NULL, conference_id TEXT NOT NULL,
    audio INTEGER NOT NULL, video INTEGER NOT NULL, state TEXT NOT NULL, created TEXT NOT NULL,
    started TEXT, stopped TEXT, recovered TEXT, error TEXT);
DROP INDEX IF EXISTS recordings_conversation;
DROP INDEX IF EXISTS recordings_one_live;
CREATE INDEX IF NOT EXISTS recordings_org_conversation ON recordings (organization_id, conversation_id, created);
CREATE UNIQUE INDEX IF NOT EXISTS recordings_one_live_per_conversation ON recordings (organization_id, conversation_id)
    WHERE state IN ({_LIVE});
CREATE TABLE IF NOT EXISTS recorder_instances (
    recorder_id TEXT NOT NULL REFERENCES recordings (recorder_id), instance_id TEXT NOT NULL,
    PRIMARY KEY (recorder_id, instance_id));
-- recording_instances (the first layout) keyed instances alone, allowing one recording per instance
CREATE TABLE IF NOT EXISTS recording_instances (instance_id TEXT PRIMARY KEY, recorder_id TEXT NOT NULL);
INSERT OR IGNORE INTO recorder_instances SELECT recorder_id, instance_id FROM recording_instances;
DROP TABLE recording_instances;
CREATE TABLE IF NOT EXISTS streams (
    id TEXT PRIMARY KEY, recorder_id TEXT NOT NULL REFERENCES recordings (recorder_id),
    publication_id TEXT NOT NULL, type TEXT NOT NULL, user_id TEXT NOT NULL, state TEXT NOT NULL,
    started TEXT NOT NULL, stopped TEXT);
CREATE INDEX IF NOT EXISTS streams_recorder ON streams (recorder_id, started);
CREATE TABLE IF NOT EXISTS tracks (
    id TEXT PRIMARY KEY, stream_id TEXT NOT NULL REFERENCES streams (id), recorder_id TEXT NOT NULL,
    type TEXT NOT NULL, started TEXT NOT NULL, stopped TEXT, local_location TEXT NOT NULL,
    local_deleted TEXT, local_error TEXT, object_location TEXT, object_size INTEGER,
    object_uploaded TEXT, object_error TEXT, frames INTEGER NOT NULL, duration REAL NOT NULL, media_start TEXT);
CREATE INDEX IF NOT EXISTS tracks_recorder ON tracks (recorder_id, started);
CREATE TABLE IF NOT EXISTS chat_entries (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, recorder_id TEXT NOT NULL REFERENCES recordings (recorder_id),
    entry_key TEXT NOT NULL, time_stamp TEXT NOT NULL, transcript TEXT NOT NULL, user_id TEXT NOT NULL,
    user_display_name TEXT, UNIQUE (recorder_id, entry_key));
CREATE TABLE IF NOT EXISTS chat_transcripts (
    recorder_id TEXT PRIMARY KEY REFERENCES recordings (recorder_id), id TEXT NOT NULL, created TEXT NOT NULL,
    location TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS cobrowse_sessions (
    recorder_id TEXT NOT NULL REFERENCES recordings (recorder_id), session_id TEXT NOT NULL,
    instance_id TEXT NOT NULL, first_seq INTEGER NOT NULL, location TEXT, uploaded TEXT,
    PRIMARY KEY (recorder_id, session_id));
CREATE TABLE IF NOT EXISTS cobrowse_events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, recorder_id TEXT NOT NULL, session_id TEXT NOT NULL,
    sequence_id INTEGER NOT NULL, timestamp INTEGER NOT NULL, payload TEXT NOT NULL,
    UNIQUE (recorder_id, session_id, sequence_id));
CREATE TABLE IF NOT EXISTS upload_jobs (
    id INTEGER PRIMARY KEY AUTOINCREMENT, application_id TEXT NOT NULL, recorder_id TEXT NOT NULL,
    kind TEXT NOT NULL, subject TEXT NOT NULL, source TEXT NOT NULL, key TEXT NOT NULL, size INTEGER NOT NULL,
    md5 TEXT NOT NULL, created TEXT NOT NULL, next_attempt TEXT NOT NULL, state TEXT NOT NULL,
    attempts INTEGER NOT NULL, error TEXT);
CREATE INDEX IF NOT EXISTS upload_jobs_due ON upload_jobs (state, next_attempt);
CREATE INDEX IF NOT EXISTS upload_jobs_recorder ON upload_jobs (recorder_id);
CREATE TABLE IF NOT EXISTS storage_profiles (
    application_id TEXT PRIMARY KEY, settings TEXT NOT NULL, credentials TEXT);
CREATE TABLE IF NOT EXISTS compositions (
    id TEXT PRIMARY KEY, organization_id TEXT NOT NULL, application_id TEXT NOT NULL,
    conversation_id TEXT NOT NULL, name TEXT NOT NULL, type TEXT NOT NULL, width INTEGER NOT NULL,
    height INTEGER NOT NULL, layout TEXT NOT NULL, priority INTEGER NOT NULL, state TEXT NOT NULL,
    created TEXT NOT NULL, progress INTEGER NOT NULL, completed TEXT, duration REAL, size INTEGER, error TEXT,
    local_location TEXT, object_location TEXT, object_uploaded TEXT, deleted TEXT);
CREATE INDEX IF NOT EXISTS compositions_conversation ON compositions (organization_id, conversation_id, created);
CREATE INDEX IF NOT EXISTS compositions_queue ON compositions (state, priority, created);
"""


def _entry_key(entry: ChatEntry) -> str:
    """What makes an entry the same one again (a retried request)."""
    fields = [entry.time_stamp.isoformat(), entry.user_id, entry.user_display_name, entry.transcript]
    return hashlib.sha256(json.dumps(fields).encode()).hexdigest()


def _time(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _parse_time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _error(value: ErrorInfo | None) -> str | None:
    if value is None:
        return None
    return json.dumps({"code": value.code, "message": value.message, "occurred": value.occurred.isoformat()})


def _parse_error(value: str | None) -> ErrorInfo | None:
    if not value:
        return None
    data = json.loads(value)
    return ErrorInfo(data["code"], data["message"], datetime.fromisoformat(data["occurred"]))


def _recording(row: sqlite3.Row) -> Recording:
    return Recording(
        recorder_id=row["recorder_id"],
        conversation_id=row["conversation_id"],
        instance_id=row["instance_id"],
        organization_id=row["organization_id"],
        application_id=row["application_id"],
        conference_id=row["conference_id"],
        audio=bool(row["audio"]),
        video=bool(row["video"]),
        state=RecordingState(row["state"]),
        created=datetime.fromisoformat(row["created"]),
        started=_parse_time(row["started"]),
        stopped=_parse_time(row["stopped"]),
        recovered=_parse_time(row["recovered"]),
        error=_parse_error(row["error"]),
    )


def _stream(row: sqlite3.Row) -> Stream:
    return Stream(
        id=row["id"],
        recorder_id=row["recorder_id"],
        publication_id=row["publication_id"],
        type=row["type"],
        user_id=row["user_id"],
        state=StreamState(row["state"]),
        started=datetime.fromisoformat(row["started"]),
        stopped=_parse_time(row["stopped"]),
    )


def _track(row: sqlite3.Row) -> Track:
    return Track(
        id=row["id"],
        stream_id=row["stream_id"],
        type=row["type"],
        started=datetime.fromisoformat(row["started"]),
        local_location=row["local_location"],
        stopped=_parse_time(row["stopped"]),
        local_deleted=_parse_time(row["local_deleted"]),
        local_error=_parse_error(row["local_error"]),
        object_location=row["object_location"],
        object_size=row["object_size"],
        object_uploaded=_parse_time(row["object_uploaded"]),
        object_error=_parse_error(row["object_error"]),
        frames=row["frames"],
        duration=row["duration"],
        media_start=_parse_time(row["media_start"]),
    )


def _upload(row: sqlite3.Row) -> UploadJob:
    return UploadJob(
        application_id=row["application_id"],
        recorder_id=row["recorder_id"],
        kind=UploadKind(row["kind"]),
        subject=row["subject"],
        source=row["source"],
        key=row["key"],
        size=row["size"],
        md5=row["md5"],
        created=datetime.fromisoformat(row["created"]),
        next_attempt=datetime.fromisoformat(row["next_attempt"]),
        state=UploadState(row["state"]),
        attempts=row["attempts"],
        error=_parse_error(row["error"]),
        id=row["id"],
    )


# Columns added after a table's first layout: (table, column, definition)
_ADDED_COLUMNS = [("tracks", "media_start", "TEXT")]


async def _add_columns(connection: aiosqlite.Connection) -> None:
    for table, column, definition in _ADDED_COLUMNS:
        columns = {row[1] for row in await connection.execute_fetchall(f"PRAGMA table_info({table})")}
        if column not in columns:
            await connection.execute(f"ALTER TABLE {table} ADD COLUMN {column} {definition}")


def _composition(row: sqlite3.Row) -> Composition:
    return Composition(
        id=row["id"],
        organization_id=row["organization_id"],
        application_id=row["application_id"],
        conversation_id=row["conversation_id"],
        name=row["name"],
        type=CompositionType(row["type"]),
        width=row["width"],
        height=row["height"],
        layout=Layout(row["layout"]),
        priority=row["priority"],
        state=CompositionState(row["state"]),
        created=datetime.fromisoformat(row["created"]),
        progress=row["progress"],
        completed=_parse_time(row["completed"]),
        duration=row["duration"],
        size=row["size"],
        error=_parse_error(row["error"]),
        local_location=row["local_location"],
        object_location=row["object_location"],
        object_uploaded=_parse_time(row["object_uploaded"]),
        deleted=_parse_time(row["deleted"]),
    )


class SqliteRepository(Repository):
    def __init__(self, connection: aiosqlite.Connection) -> None:
        self._db = connection
        # One connection: a write and its commit must not interleave with another coroutine's write.
        self._writing = asyncio.Lock()

    @classmethod
    async def open(cls, path: Path) -> SqliteRepository:
        path.parent.mkdir(parents=True, exist_ok=True)
        connection = await aiosqlite.connect(path)
        connection.row_factory = sqlite3.Row
        await connection.execute("PRAGMA journal_mode=WAL")
        await connection.execute("PRAGMA foreign_keys=ON")
        await connection.executescript(SCHEMA)
        await _add_columns(connection)
        await connection.commit()
        return cls(connection)

    async def aclose(self) -> None:
        await self._db.close()

    async def create_or_get_live(self, recording: Recording) -> tuple[Recording, bool]:
        for _ in range(3):  # a live one that ends between our insert and our read: try again
            async with self._writing:
                if await self._insert(recording):
                    return recording, True
            live = await self.get_live(recording.organization_id, recording.conversation_id)
            if live is not None:
                return live, False
        raise RuntimeError(f"cannot store recording {recording.recorder_id}: a constraint other than one-live")

    async def _insert(self, recording: Recording) -> bool:
        try:
            await self._db.execute(
                "INSERT INTO recordings (recorder_id, conversation_id, instance_id, organization_id, application_id,"
                " conference_id, audio, video, state, created) VALUES (?,?,?,?,?,?,?,?,?,?)",
                (
                    recording.recorder_id,
                    recording.conversation_id,
                    recording.instance_id,
                    recording.organization_id,
                    recording.application_id,
                    recording.conference_id,
                    int(recording.audio),
                    int(recording.video),
                    recording.state.value,
                    _time(recording.created),
                ),
            )
            await self._db.execute(
                "INSERT INTO recorder_instances (recorder_id, instance_id) VALUES (?, ?)",
                (recording.recorder_id, recording.instance_id),
            )
            await self._db.commit()
        except sqlite3.IntegrityError:
            await self._db.rollback()
            return False
        return True

    async def get(
        self, organization_id: str | None, conversation_id: str, recorder_id: str, instance_id: str
    ) -> Recording | None:
        rows = await self._db.execute_fetchall(
            "SELECT r.* FROM recordings r JOIN recorder_instances i ON i.recorder_id = r.recorder_id"
            " WHERE (? IS NULL OR r.organization_id = ?) AND r.conversation_id = ? AND r.recorder_id = ?"
            " AND i.instance_id = ?",
            (organization_id, organization_id, conversation_id, recorder_id, instance_id),
        )
        return next(iter(await self._load(rows)), None)

    async def get_live(self, organization_id: str, conversation_id: str) -> Recording | None:
        rows = await self._db.execute_fetchall(
            f"SELECT * FROM recordings WHERE organization_id = ? AND conversation_id = ? AND state IN ({_LIVE})",
            (organization_id, conversation_id),
        )
        return next(iter(await self._load(rows)), None)

    async def list_for_conversation(self, organization_id: str, conversation_id: str) -> list[Recording]:
        rows = await self._db.execute_fetchall(
            "SELECT * FROM recordings WHERE organization_id = ? AND conversation_id = ? ORDER BY created",
            (organization_id, conversation_id),
        )
        return await self._load(rows)

    async def _write(self, sql: str, parameters: tuple[Any, ...]) -> None:
        async with self._writing:
            await self._db.execute(sql, parameters)
            await self._db.commit()

    async def save_recording(self, recording: Recording) -> None:
        await self._write(
            "UPDATE recordings SET instance_id = ?, state = ?, started = ?, stopped = ?, recovered = ?, error = ?"
            " WHERE recorder_id = ?",
            (
                recording.instance_id,
                recording.state.value,
                _time(recording.started),
                _time(recording.stopped),
                _time(recording.recovered),
                _error(recording.error),
                recording.recorder_id,
            ),
        )

    async def save_stream(self, stream: Stream) -> None:
        await self._write(
            "INSERT INTO streams (id, recorder_id, publication_id, type, user_id, state, started, stopped)"
            " VALUES (?,?,?,?,?,?,?,?) ON CONFLICT (id) DO UPDATE SET state = excluded.state,"
            " stopped = excluded.stopped",
            (
                stream.id,
                stream.recorder_id,
                stream.publication_id,
                stream.type,
                stream.user_id,
                stream.state.value,
                _time(stream.started),
                _time(stream.stopped),
            ),
        )

    async def save_track(self, recorder_id: str, track: Track) -> None:
        values: tuple[Any, ...] = (
            track.id,
            track.stream_id,
            recorder_id,
            track.type,
            _time(track.started),
            _time(track.stopped),
            track.local_location,
            _time(track.local_deleted),
            _error(track.local_error),
            track.object_location,
            track.object_size,
            _time(track.object_uploaded),
            _error(track.object_error),
            track.frames,
            track.duration,
            _time(track.media_start),
        )
        await self._write(
            "INSERT INTO tracks (id, stream_id, recorder_id, type, started, stopped, local_location, local_deleted,"
            " local_error, object_location, object_size, object_uploaded, object_error, frames, duration,"
            " media_start) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?) ON CONFLICT (id) DO UPDATE SET"
            " stopped = excluded.stopped, media_start = excluded.media_start,"
            " local_deleted = excluded.local_deleted, local_error = excluded.local_error,"
            " object_location = excluded.object_location, object_size = excluded.object_size,"
            " object_uploaded = excluded.object_uploaded, object_error = excluded.object_error,"
            " frames = excluded.frames, duration = excluded.duration",
            values,
        )

    async def add_chat_entries(self, recorder_id: str, entries: list[ChatEntry]) -> int:
        rows = [
            (recorder_id, _entry_key(e), e.time_stamp.isoformat(), e.transcript, e.user_id, e.user_display_name)
            for e in entries
        ]
        async with self._writing:
            before = self._db.total_changes
            await self._db.executemany(
                "INSERT OR IGNORE INTO chat_entries (recorder_id, entry_key, time_stamp, transcript, user_id,"
                " user_display_name) VALUES (?,?,?,?,?,?)",
                rows,
            )
            await self._db.commit()
            return self._db.total_changes - before

    async def chat_entries(self, recorder_id: str) -> list[ChatEntry]:
        rows = await self._db.execute_fetchall(
            "SELECT * FROM chat_entries WHERE recorder_id = ? ORDER BY time_stamp, seq", (recorder_id,)
        )
        return [
            ChatEntry(datetime.fromisoformat(r["time_stamp"]), r["transcript"], r["user_id"], r["user_display_name"])
            for r in rows
        ]

    async def save_chat_transcript(self, recorder_id: str, transcript: ChatTranscript) -> None:
        await self._write(
            "INSERT INTO chat_transcripts (recorder_id, id, created, location) VALUES (?,?,?,?)"
            " ON CONFLICT (recorder_id) DO UPDATE SET location = excluded.location",
            (recorder_id, transcript.id, _time(transcript.created), transcript.location),
        )

    async def add_cobrowse_event(self, recorder_id: str, instance_id: str, event: CobrowseEvent) -> bool:
        async with self._writing:
            cursor = await self._db.execute(
                "INSERT OR IGNORE INTO cobrowse_events (recorder_id, session_id, sequence_id, timestamp, payload)"
                " VALUES (?,?,?,?,?)",
                (recorder_id, event.session_id, event.sequence_id, event.timestamp, event.payload),
            )
            added = cursor.rowcount == 1
            if added:
                await self._db.execute(
                    "INSERT OR IGNORE INTO cobrowse_sessions (recorder_id, session_id, instance_id, first_seq)"
                    " VALUES (?,?,?,?)",
                    (recorder_id, event.session_id, instance_id, cursor.lastrowid),
                )
            await self._db.commit()
            return added

    async def cobrowse_events(self, recorder_id: str, session_id: str) -> list[CobrowseEvent]:
        rows = await self._db.execute_fetchall(
            "SELECT * FROM cobrowse_events WHERE recorder_id = ? AND session_id = ? ORDER BY sequence_id",
            (recorder_id, session_id),
        )
        return [CobrowseEvent(r["session_id"], r["sequence_id"], r["timestamp"], r["payload"]) for r in rows]

    async def cobrowse_sessions(self, recorder_ids: list[str]) -> list[CobrowseSession]:
        marks = ",".join("?" * len(recorder_ids))
        rows = await self._db.execute_fetchall(
            f"SELECT * FROM cobrowse_sessions WHERE recorder_id IN ({marks}) ORDER BY first_seq", recorder_ids
        )
        return [
            CobrowseSession(
                r["recorder_id"], r["session_id"], r["instance_id"], r["location"], _parse_time(r["uploaded"])
            )
            for r in rows
        ]

    async def save_cobrowse_session(self, session: CobrowseSession) -> None:
        await self._write(
            "UPDATE cobrowse_sessions SET location = ?, uploaded = ? WHERE recorder_id = ? AND session_id = ?",
            (session.location, _time(session.uploaded), session.recorder_id, session.session_id),
        )

    async def _load(self, rows: Any) -> list[Recording]:
        recordings = [_recording(row) for row in rows]
        for recording in recordings:
            streams = [
                _stream(r)
                for r in await self._db.execute_fetchall(
                    "SELECT * FROM streams WHERE recorder_id = ? ORDER BY started, id", (recording.recorder_id,)
                )
            ]
            by_id = {s.id: s for s in streams}
            for row in await self._db.execute_fetchall(
                "SELECT * FROM tracks WHERE recorder_id = ? ORDER BY started, id", (recording.recorder_id,)
            ):
                by_id[row["stream_id"]].tracks.append(_track(row))
            recording.streams = streams
            for row in await self._db.execute_fetchall(
                "SELECT * FROM chat_transcripts WHERE recorder_id = ?", (recording.recorder_id,)
            ):
                recording.chat_transcript = ChatTranscript(
                    row["id"], datetime.fromisoformat(row["created"]), row["location"]
                )
        return recordings

    async def set_track_object(
        self,
        track_id: str,
        location: str | None,
        size: int | None,
        uploaded: datetime | None,
        error: ErrorInfo | None,
    ) -> None:
        await self._write(
            "UPDATE tracks SET object_location = ?, object_size = ?, object_uploaded = ?, object_error = ?"
            " WHERE id = ?",
            (location, size, _time(uploaded), _error(error), track_id),
        )

    async def set_track_local_deleted(self, track_id: str, deleted: datetime) -> None:
        await self._write("UPDATE tracks SET local_deleted = ? WHERE id = ?", (_time(deleted), track_id))

    async def recording_by_id(self, recorder_id: str) -> Recording | None:
        rows = await self._db.execute_fetchall("SELECT * FROM recordings WHERE recorder_id = ?", (recorder_id,))
        return next(iter(await self._load(rows)), None)

    async def add_upload(self, job: UploadJob) -> UploadJob:
        async with self._writing:
            cursor = await self._db.execute(
                "INSERT INTO upload_jobs (application_id, recorder_id, kind, subject, source, key, size, md5,"
                " created, next_attempt, state, attempts, error) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (
                    job.application_id,
                    job.recorder_id,
                    job.kind.value,
                    job.subject,
                    job.source,
                    job.key,
                    job.size,
                    job.md5,
                    _time(job.created),
                    _time(job.next_attempt),
                    job.state.value,
                    job.attempts,
                    _error(job.error),
                ),
            )
            await self._db.commit()
        job.id = cursor.lastrowid
        return job

    async def save_upload(self, job: UploadJob) -> None:
        await self._write(
            "UPDATE upload_jobs SET state = ?, attempts = ?, next_attempt = ?, error = ? WHERE id = ?",
            (job.state.value, job.attempts, _time(job.next_attempt), _error(job.error), job.id),
        )

    async def due_uploads(self, now: datetime, limit: int, busy_keys: set[str]) -> list[UploadJob]:
        rows = await self._db.execute_fetchall(
            "SELECT * FROM upload_jobs WHERE state IN ('PENDING', 'UPLOADED') AND next_attempt <= ? ORDER BY id",
            (_time(now),),
        )
        jobs = [_upload(row) for row in rows if row["key"] not in busy_keys]
        return jobs[:limit]

    async def next_upload_due(self) -> datetime | None:
        rows = list(
            await self._db.execute_fetchall(
                "SELECT MIN(next_attempt) FROM upload_jobs WHERE state IN ('PENDING', 'UPLOADED')"
            )
        )
        return _parse_time(rows[0][0]) if rows else None

    async def uploads(self, recorder_id: str) -> list[UploadJob]:
        rows = await self._db.execute_fetchall(
            "SELECT * FROM upload_jobs WHERE recorder_id = ? ORDER BY id", (recorder_id,)
        )
        return [_upload(row) for row in rows]

    async def failed_uploads(self, application_id: str | None, recorder_id: str | None) -> list[UploadJob]:
        rows = await self._db.execute_fetchall(
            "SELECT * FROM upload_jobs WHERE state = 'FAILED' AND (? IS NULL OR application_id = ?)"
            " AND (? IS NULL OR recorder_id = ?) ORDER BY id",
            (application_id, application_id, recorder_id, recorder_id),
        )
        return [_upload(row) for row in rows]

    async def upload_superseded(self, job: UploadJob) -> bool:
        rows = list(
            await self._db.execute_fetchall(
                "SELECT 1 FROM upload_jobs WHERE application_id = ? AND key = ? AND id > ?"
                " AND state IN ('PENDING', 'UPLOADED', 'DONE') LIMIT 1",
                (job.application_id, job.key, job.id),
            )
        )
        return bool(rows)

    async def storage_profiles(self) -> list[StoredProfile]:
        rows = await self._db.execute_fetchall("SELECT * FROM storage_profiles ORDER BY application_id")
        return [StoredProfile(r["application_id"], r["settings"], r["credentials"]) for r in rows]

    async def save_storage_profile(self, profile: StoredProfile) -> None:
        await self._write(
            "INSERT INTO storage_profiles (application_id, settings, credentials) VALUES (?,?,?)"
            " ON CONFLICT (application_id) DO UPDATE SET settings = excluded.settings,"
            " credentials = excluded.credentials",
            (profile.application_id, profile.settings, profile.credentials),
        )

    async def delete_storage_profile(self, application_id: str) -> bool:
        async with self._writing:
            cursor = await self._db.execute("DELETE FROM storage_profiles WHERE application_id = ?", (application_id,))
            await self._db.commit()
        return cursor.rowcount > 0

    async def add_composition(self, composition: Composition) -> None:
        c = composition
        await self._write(
            "INSERT INTO compositions (id, organization_id, application_id, conversation_id, name, type, width,"
            " height, layout, priority, state, created, progress) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (
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
                _time(c.created),
                c.progress,
            ),
        )

    async def save_composition(self, composition: Composition) -> None:
        c = composition
        await self._write(
            "UPDATE compositions SET state = ?, progress = ?, completed = ?, duration = ?, size = ?, error = ?,"
            " local_location = ?, object_location = ?, object_uploaded = ?, deleted = ? WHERE id = ?",
            (
                c.state.value,
                c.progress,
                _time(c.completed),
                c.duration,
                c.size,
                _error(c.error),
                c.local_location,
                c.object_location,
                _time(c.object_uploaded),
                _time(c.deleted),
                c.id,
            ),
        )

    async def compositions(self, organization_id: str, conversation_id: str) -> list[Composition]:
        rows = await self._db.execute_fetchall(
            "SELECT * FROM compositions WHERE organization_id = ? AND conversation_id = ? AND deleted IS NULL"
            " ORDER BY created, id",
            (organization_id, conversation_id),
        )
        return [_composition(row) for row in rows]

    async def composition_by_id(self, composition_id: str) -> Composition | None:
        rows = await self._db.execute_fetchall("SELECT * FROM compositions WHERE id = ?", (composition_id,))
        return next((_composition(row) for row in rows), None)

    async def claim_composition(self) -> Composition | None:
        async with self._writing:
            rows = await self._db.execute_fetchall(
                "UPDATE compositions SET state = 'PREPROCESSING' WHERE id = (SELECT id FROM compositions"
                " WHERE state = 'QUEUED' AND deleted IS NULL ORDER BY priority DESC, created, id LIMIT 1)"
                " RETURNING *"
            )
            await self._db.commit()
        return next((_composition(row) for row in rows), None)

    async def requeue_compositions(self) -> int:
        async with self._writing:
            cursor = await self._db.execute(
                "UPDATE compositions SET state = 'QUEUED', progress = 0"
                " WHERE state IN ('PREPROCESSING', 'PROCESSING') AND deleted IS NULL"
            )
            await self._db.commit()
        return cursor.rowcount
