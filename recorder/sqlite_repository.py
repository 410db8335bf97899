"""SqliteRepository: the embedded repository, one SQLite file (aiosqlite runs it on a thread of its own)."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from datetime import datetime
from pathlib import Path
from typing import Any

import aiosqlite

from recorder.models import LIVE_STATES, ErrorInfo, Recording, RecordingState, Stream, StreamState, Track
from recorder.repository import Repository

_LIVE = ", ".join(f"'{s.value}'" for s in sorted(LIVE_STATES))
SCHEMA = f"""
CREATE TABLE IF NOT EXISTS recordings (
    recorder_id TEXT PRIMARY KEY, conversation_id TEXT NOT NULL, instance_id TEXT NOT NULL,
    organization_id TEXT NOT NULL, application_id TEXT NOT NULL, conference_id TEXT NOT NULL,
    audio INTEGER NOT NULL, video INTEGER NOT NULL, state TEXT NOT NULL, created TEXT NOT NULL,
    started TEXT, stopped TEXT, recovered TEXT, error TEXT);
CREATE INDEX IF NOT EXISTS recordings_conversation ON recordings (conversation_id, created);
CREATE UNIQUE INDEX IF NOT EXISTS recordings_one_live ON recordings (conversation_id) WHERE state IN ({_LIVE});
CREATE TABLE IF NOT EXISTS recording_instances (
    instance_id TEXT PRIMARY KEY, recorder_id TEXT NOT NULL REFERENCES recordings (recorder_id));
CREATE TABLE IF NOT EXISTS streams (
    id TEXT PRIMARY KEY, recorder_id TEXT NOT NULL REFERENCES recordings (recorder_id),
    publication_id TEXT NOT NULL, type TEXT NOT NULL, user_id TEXT NOT NULL, state TEXT NOT NULL,
    started TEXT NOT NULL, stopped TEXT);
CREATE INDEX IF NOT EXISTS streams_recorder ON streams (recorder_id, started);
CREATE TABLE IF NOT EXISTS tracks (
    id TEXT PRIMARY KEY, stream_id TEXT NOT NULL REFERENCES streams (id), recorder_id TEXT NOT NULL,
    type TEXT NOT NULL, started TEXT NOT NULL, stopped TEXT, local_location TEXT NOT NULL,
    local_deleted TEXT, local_error TEXT, object_location TEXT, object_size INTEGER,
    object_uploaded TEXT, object_error TEXT, frames INTEGER NOT NULL, duration REAL NOT NULL);
CREATE INDEX IF NOT EXISTS tracks_recorder ON tracks (recorder_id, started);
"""


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
        await connection.commit()
        return cls(connection)

    async def aclose(self) -> None:
        await self._db.close()

    async def create_or_get_live(self, recording: Recording) -> tuple[Recording, bool]:
        async with self._writing:
            created = await self._insert(recording)
        if created:
            return recording, True
        live = await self.get_live(recording.conversation_id)
        if live is None:  # it ended between our insert and this read: try once more
            return await self.create_or_get_live(recording)
        return live, False

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
                "INSERT INTO recording_instances (instance_id, recorder_id) VALUES (?, ?)",
                (recording.instance_id, recording.recorder_id),
            )
            await self._db.commit()
        except sqlite3.IntegrityError:
            await self._db.rollback()
            return False
        return True

    async def get(self, conversation_id: str, recorder_id: str, instance_id: str) -> Recording | None:
        rows = await self._db.execute_fetchall(
            "SELECT r.* FROM recordings r JOIN recording_instances i ON i.recorder_id = r.recorder_id"
            " WHERE r.conversation_id = ? AND r.recorder_id = ? AND i.instance_id = ?",
            (conversation_id, recorder_id, instance_id),
        )
        return next(iter(await self._load(rows)), None)

    async def get_live(self, conversation_id: str) -> Recording | None:
        rows = await self._db.execute_fetchall(
            f"SELECT * FROM recordings WHERE conversation_id = ? AND state IN ({_LIVE})", (conversation_id,)
        )
        return next(iter(await self._load(rows)), None)

    async def list_for_conversation(self, conversation_id: str) -> list[Recording]:
        rows = await self._db.execute_fetchall(
            "SELECT * FROM recordings WHERE conversation_id = ? ORDER BY created", (conversation_id,)
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
        )
        await self._write(
            "INSERT INTO tracks (id, stream_id, recorder_id, type, started, stopped, local_location, local_deleted,"
            " local_error, object_location, object_size, object_uploaded, object_error, frames, duration)"
            " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?) ON CONFLICT (id) DO UPDATE SET stopped = excluded.stopped,"
            " local_deleted = excluded.local_deleted, local_error = excluded.local_error,"
            " object_location = excluded.object_location, object_size = excluded.object_size,"
            " object_uploaded = excluded.object_uploaded, object_error = excluded.object_error,"
            " frames = excluded.frames, duration = excluded.duration",
            values,
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
        return recordings
