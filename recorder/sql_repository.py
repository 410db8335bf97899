"""SqlRepository: the repository on SQLite (embedded default) or PostgreSQL (shared by several instances).

One SQL text serves both (`recorder.database` adapts the parameters). Writes that must not be lost between
instances (claiming a recording to recover, an upload, a composition) are single `UPDATE ... RETURNING`
statements whose conditions are checked again on the row, so two instances never both win.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any

from recorder.database import Connection, Database, Row
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
from recorder.repository import InstanceInfo, Repository, StoredProfile


def _utcnow() -> datetime:
    return datetime.now(UTC)


_LIVE = ", ".join(f"'{s.value}'" for s in sorted(LIVE_STATES))
_RUNNING_COMPOSITION = "('PREPROCESSING', 'PROCESSING')"
_UNFINISHED_UPLOAD = "('PENDING', 'UPLOADED')"

# Schema migrations, applied in order, each once (table schema_migrations). One text serves both databases:
# `{serial}` is the auto-numbered key of each. Times are ISO 8601 text in UTC (they sort as they read); leases
# are epoch seconds.
MIGRATIONS = [
    f"""
CREATE TABLE IF NOT EXISTS recordings (
    recorder_id TEXT PRIMARY KEY, conversation_id TEXT NOT NULL, instance_id TEXT NOT NULL,
    organization_id TEXT NOT NULL, application_id TEXT NOT NULL, conference_id TEXT NOT NULL,
    audio INTEGER NOT NULL, video INTEGER NOT NULL, state TEXT NOT NULL, created TEXT NOT NULL,
    started TEXT, stopped TEXT, recovered TEXT, error TEXT);
CREATE INDEX IF NOT EXISTS recordings_org_conversation ON recordings (organization_id, conversation_id, created);
CREATE UNIQUE INDEX IF NOT EXISTS recordings_one_live_per_conversation ON recordings (organization_id, conversation_id)
    WHERE state IN ({_LIVE});
CREATE TABLE IF NOT EXISTS recorder_instances (
    recorder_id TEXT NOT NULL REFERENCES recordings (recorder_id), instance_id TEXT NOT NULL,
    PRIMARY KEY (recorder_id, instance_id));
CREATE TABLE IF NOT EXISTS streams (
    id TEXT PRIMARY KEY, recorder_id TEXT NOT NULL REFERENCES recordings (recorder_id),
    publication_id TEXT NOT NULL, type TEXT NOT NULL, user_id TEXT NOT NULL, state TEXT NOT NULL,
    started TEXT NOT NULL, stopped TEXT);
CREATE INDEX IF NOT EXISTS streams_recorder ON streams (recorder_id, started);
CREATE TABLE IF NOT EXISTS tracks (
    id TEXT PRIMARY KEY, stream_id TEXT NOT NULL REFERENCES streams (id), recorder_id TEXT NOT NULL,
    type TEXT NOT NULL, started TEXT NOT NULL, stopped TEXT, local_location TEXT NOT NULL,
    local_deleted TEXT, local_error TEXT, object_location TEXT, object_size BIGINT,
    object_uploaded TEXT, object_error TEXT, frames BIGINT NOT NULL, duration DOUBLE PRECISION NOT NULL,
    media_start TEXT);
CREATE INDEX IF NOT EXISTS tracks_recorder ON tracks (recorder_id, started);
CREATE TABLE IF NOT EXISTS chat_entries (
    seq {{serial}}, recorder_id TEXT NOT NULL REFERENCES recordings (recorder_id),
    entry_key TEXT NOT NULL, time_stamp TEXT NOT NULL, transcript TEXT NOT NULL, user_id TEXT NOT NULL,
    user_display_name TEXT, UNIQUE (recorder_id, entry_key));
CREATE TABLE IF NOT EXISTS chat_transcripts (
    recorder_id TEXT PRIMARY KEY REFERENCES recordings (recorder_id), id TEXT NOT NULL, created TEXT NOT NULL,
    location TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS cobrowse_sessions (
    recorder_id TEXT NOT NULL REFERENCES recordings (recorder_id), session_id TEXT NOT NULL,
    instance_id TEXT NOT NULL, first_seq BIGINT NOT NULL, location TEXT, uploaded TEXT,
    PRIMARY KEY (recorder_id, session_id));
CREATE TABLE IF NOT EXISTS cobrowse_events (
    seq {{serial}}, recorder_id TEXT NOT NULL, session_id TEXT NOT NULL,
    sequence_id BIGINT NOT NULL, timestamp BIGINT NOT NULL, payload TEXT NOT NULL,
    UNIQUE (recorder_id, session_id, sequence_id));
CREATE TABLE IF NOT EXISTS upload_jobs (
    id {{serial}}, application_id TEXT NOT NULL, recorder_id TEXT NOT NULL,
    kind TEXT NOT NULL, subject TEXT NOT NULL, source TEXT NOT NULL, key TEXT NOT NULL, size BIGINT NOT NULL,
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
    created TEXT NOT NULL, progress INTEGER NOT NULL, completed TEXT, duration DOUBLE PRECISION, size BIGINT,
    error TEXT, local_location TEXT, object_location TEXT, object_uploaded TEXT, deleted TEXT);
CREATE INDEX IF NOT EXISTS compositions_conversation ON compositions (organization_id, conversation_id, created);
CREATE INDEX IF NOT EXISTS compositions_queue ON compositions (state, priority, created)
""",
    # several instances: who they are, and leases on what each one runs
    """
CREATE TABLE instances (
    id TEXT PRIMARY KEY, address TEXT, state TEXT NOT NULL, started TEXT NOT NULL,
    heartbeat TEXT NOT NULL, lease_until DOUBLE PRECISION NOT NULL);
ALTER TABLE recordings ADD COLUMN lease_until DOUBLE PRECISION;
CREATE INDEX recordings_lease ON recordings (state, lease_until);
ALTER TABLE tracks ADD COLUMN writer TEXT;
CREATE INDEX tracks_open ON tracks (stopped, writer);
ALTER TABLE upload_jobs ADD COLUMN origin TEXT;
ALTER TABLE upload_jobs ADD COLUMN owner TEXT;
ALTER TABLE upload_jobs ADD COLUMN lease_until DOUBLE PRECISION;
ALTER TABLE compositions ADD COLUMN owner TEXT;
ALTER TABLE compositions ADD COLUMN lease_until DOUBLE PRECISION
""",
    # whether screen shares are recorded (before: the same as video)
    """
ALTER TABLE recordings ADD COLUMN screen INTEGER
""",
    # holes in a track's media: JSON [[from, to], ...] in seconds from the file's time 0
    """
ALTER TABLE tracks ADD COLUMN gaps TEXT
""",
]
_SERIAL = {
    "sqlite": "INTEGER PRIMARY KEY AUTOINCREMENT",
    "postgresql": "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY",
}
# Any number, the same in every instance: migrations run under this advisory lock (PostgreSQL)
_MIGRATION_LOCK = 7_203_118_451


async def _sqlite_first_layouts(db: Connection) -> None:
    """SQLite files made before numbered migrations: the first layout of the instance table, and a column
    added later. Both are no-ops on newer files."""
    tables = {row[0] for row in await db.fetch("SELECT name FROM sqlite_master WHERE type = 'table'")}
    if "recording_instances" in tables:  # keyed instances alone, allowing one recording per instance
        await db.execute(
            "INSERT OR IGNORE INTO recorder_instances SELECT recorder_id, instance_id FROM recording_instances"
        )
        await db.execute("DROP TABLE recording_instances")
    if "tracks" in tables:
        columns = {row[1] for row in await db.fetch("PRAGMA table_info(tracks)")}
        if "media_start" not in columns:
            await db.execute("ALTER TABLE tracks ADD COLUMN media_start TEXT")
    for index in ("recordings_conversation", "recordings_one_live"):
        await db.execute(f"DROP INDEX IF EXISTS {index}")


async def migrate(database: Database) -> list[int]:
    """Bring the schema up to date; the migrations applied now (numbered from 1)."""
    applied: list[int] = []
    async with database.transaction() as db:
        if database.dialect == "postgresql":
            await db.execute("SELECT pg_advisory_xact_lock(?)", _MIGRATION_LOCK)  # instances starting together
        await db.execute("CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, applied TEXT)")
        done = {row[0] for row in await db.fetch("SELECT version FROM schema_migrations")}
        if database.dialect == "sqlite" and not done:
            await _sqlite_first_layouts(db)
        for version, text in enumerate(MIGRATIONS, start=1):
            if version in done:
                continue
            for statement in text.format(serial=_SERIAL[database.dialect]).split(";"):
                if statement.strip():
                    await db.execute(statement)
            await db.execute(
                "INSERT INTO schema_migrations (version, applied) VALUES (?, ?)", version, _time(_utcnow())
            )
            applied.append(version)
    return applied


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


def _recording(row: Row) -> Recording:
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
        lease_until=row["lease_until"],
        screen=bool(row["video"] if row["screen"] is None else row["screen"]),
    )


def _stream(row: Row) -> Stream:
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


def _track(row: Row) -> Track:
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
        writer=row["writer"],
        gaps=[(float(a), float(b)) for a, b in json.loads(row["gaps"] or "[]")],
    )


def _upload(row: Row) -> UploadJob:
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
        origin=row["origin"],
        owner=row["owner"],
    )


def _composition(row: Row) -> Composition:
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
        owner=row["owner"],
    )


def _marks(values: list[Any] | set[Any]) -> str:
    return ",".join("?" * len(values))


class SqlRepository(Repository):
    def __init__(self, database: Database) -> None:
        self.database = database

    @classmethod
    async def open(cls, database: Database) -> SqlRepository:
        """The repository on `database`, its schema migrated (the database is closed with the repository)."""
        try:
            await migrate(database)
        except BaseException:
            await database.aclose()
            raise
        return cls(database)

    async def aclose(self) -> None:
        await self.database.aclose()

    async def create_or_get_live(self, recording: Recording) -> tuple[Recording, bool]:
        for _ in range(3):  # a live one that ends between our insert and our read: try again
            if await self._insert(recording):
                return recording, True
            live = await self.get_live(recording.organization_id, recording.conversation_id)
            if live is not None:
                return live, False
        raise RuntimeError(f"cannot store recording {recording.recorder_id}: a constraint other than one-live")

    async def _insert(self, recording: Recording) -> bool:
        async with self.database.transaction() as db:
            inserted = await db.execute(
                "INSERT INTO recordings (recorder_id, conversation_id, instance_id, organization_id, application_id,"
                " conference_id, audio, video, state, created, lease_until, screen) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)"
                " ON CONFLICT DO NOTHING",
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
                recording.lease_until,
                int(recording.screen),
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
        rows = await self.database.fetch(
            "SELECT r.* FROM recordings r JOIN recorder_instances i ON i.recorder_id = r.recorder_id"
            " WHERE (CAST(? AS TEXT) IS NULL OR r.organization_id = ?) AND r.conversation_id = ?"
            " AND r.recorder_id = ? AND i.instance_id = ?",
            organization_id,
            organization_id,
            conversation_id,
            recorder_id,
            instance_id,
        )
        return next(iter(await self._load(rows)), None)

    async def get_live(self, organization_id: str, conversation_id: str) -> Recording | None:
        rows = await self.database.fetch(
            f"SELECT * FROM recordings WHERE organization_id = ? AND conversation_id = ? AND state IN ({_LIVE})",
            organization_id,
            conversation_id,
        )
        return next(iter(await self._load(rows)), None)

    async def list_for_conversation(self, organization_id: str, conversation_id: str) -> list[Recording]:
        rows = await self.database.fetch(
            "SELECT * FROM recordings WHERE organization_id = ? AND conversation_id = ? ORDER BY created",
            organization_id,
            conversation_id,
        )
        return await self._load(rows)

    async def save_recording(self, recording: Recording) -> bool:
        changed = await self.database.execute(
            "UPDATE recordings SET state = ?, started = ?, stopped = ?, recovered = ?, error = ?,"
            f" lease_until = CASE WHEN ? IN ({_LIVE}) THEN lease_until END"
            " WHERE recorder_id = ? AND instance_id = ?",
            recording.state.value,
            _time(recording.started),
            _time(recording.stopped),
            _time(recording.recovered),
            _error(recording.error),
            recording.state.value,
            recording.recorder_id,
            recording.instance_id,
        )
        return changed == 1

    async def save_stream(self, stream: Stream) -> None:
        await self.database.execute(
            "INSERT INTO streams (id, recorder_id, publication_id, type, user_id, state, started, stopped)"
            " VALUES (?,?,?,?,?,?,?,?) ON CONFLICT (id) DO UPDATE SET state = excluded.state,"
            " stopped = excluded.stopped",
            stream.id,
            stream.recorder_id,
            stream.publication_id,
            stream.type,
            stream.user_id,
            stream.state.value,
            _time(stream.started),
            _time(stream.stopped),
        )

    async def save_track(self, recorder_id: str, track: Track) -> None:
        await self.database.execute(
            "INSERT INTO tracks (id, stream_id, recorder_id, type, started, stopped, local_location, local_deleted,"
            " local_error, object_location, object_size, object_uploaded, object_error, frames, duration,"
            " media_start, writer, gaps) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?) ON CONFLICT (id) DO UPDATE SET"
            " started = excluded.started, stopped = excluded.stopped, media_start = excluded.media_start,"
            " gaps = excluded.gaps,"
            " local_deleted = excluded.local_deleted, local_error = excluded.local_error,"
            " object_location = excluded.object_location, object_size = excluded.object_size,"
            " object_uploaded = excluded.object_uploaded, object_error = excluded.object_error,"
            " frames = excluded.frames, duration = excluded.duration",
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
            float(track.duration),
            _time(track.media_start),
            track.writer,
            json.dumps(track.gaps) if track.gaps else None,
        )

    async def add_chat_entries(self, recorder_id: str, entries: list[ChatEntry]) -> int:
        rows = [
            (recorder_id, _entry_key(e), e.time_stamp.isoformat(), e.transcript, e.user_id, e.user_display_name)
            for e in entries
        ]
        count = "SELECT COUNT(*) FROM chat_entries WHERE recorder_id = ?"
        async with self.database.transaction() as db:
            before = (await db.fetch(count, recorder_id))[0][0]
            await db.execute_many(
                "INSERT INTO chat_entries (recorder_id, entry_key, time_stamp, transcript, user_id,"
                " user_display_name) VALUES (?,?,?,?,?,?) ON CONFLICT DO NOTHING",
                rows,
            )
            after = (await db.fetch(count, recorder_id))[0][0]
        return int(after - before)

    async def chat_entries(self, recorder_id: str) -> list[ChatEntry]:
        rows = await self.database.fetch(
            "SELECT * FROM chat_entries WHERE recorder_id = ? ORDER BY time_stamp, seq", recorder_id
        )
        return [
            ChatEntry(datetime.fromisoformat(r["time_stamp"]), r["transcript"], r["user_id"], r["user_display_name"])
            for r in rows
        ]

    async def save_chat_transcript(self, recorder_id: str, transcript: ChatTranscript) -> None:
        await self.database.execute(
            "INSERT INTO chat_transcripts (recorder_id, id, created, location) VALUES (?,?,?,?)"
            " ON CONFLICT (recorder_id) DO UPDATE SET location = excluded.location",
            recorder_id,
            transcript.id,
            _time(transcript.created),
            transcript.location,
        )

    async def add_cobrowse_event(self, recorder_id: str, instance_id: str, event: CobrowseEvent) -> bool:
        async with self.database.transaction() as db:
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
        rows = await self.database.fetch(
            "SELECT * FROM cobrowse_events WHERE recorder_id = ? AND session_id = ? ORDER BY sequence_id",
            recorder_id,
            session_id,
        )
        return [CobrowseEvent(r["session_id"], r["sequence_id"], r["timestamp"], r["payload"]) for r in rows]

    async def cobrowse_sessions(self, recorder_ids: list[str]) -> list[CobrowseSession]:
        if not recorder_ids:
            return []
        rows = await self.database.fetch(
            f"SELECT * FROM cobrowse_sessions WHERE recorder_id IN ({_marks(recorder_ids)}) ORDER BY first_seq",
            *recorder_ids,
        )
        return [
            CobrowseSession(
                r["recorder_id"], r["session_id"], r["instance_id"], r["location"], _parse_time(r["uploaded"])
            )
            for r in rows
        ]

    async def save_cobrowse_session(self, session: CobrowseSession) -> None:
        await self.database.execute(
            "UPDATE cobrowse_sessions SET location = ?, uploaded = ? WHERE recorder_id = ? AND session_id = ?",
            session.location,
            _time(session.uploaded),
            session.recorder_id,
            session.session_id,
        )

    async def _load(self, rows: list[Row]) -> list[Recording]:
        recordings = [_recording(row) for row in rows]
        for recording in recordings:
            streams = [
                _stream(r)
                for r in await self.database.fetch(
                    "SELECT * FROM streams WHERE recorder_id = ? ORDER BY started, id", recording.recorder_id
                )
            ]
            by_id = {s.id: s for s in streams}
            for row in await self.database.fetch(
                "SELECT * FROM tracks WHERE recorder_id = ? ORDER BY started, id", recording.recorder_id
            ):
                by_id[row["stream_id"]].tracks.append(_track(row))
            recording.streams = streams
            for row in await self.database.fetch(
                "SELECT * FROM chat_transcripts WHERE recorder_id = ?", recording.recorder_id
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
        await self.database.execute(
            "UPDATE tracks SET object_location = ?, object_size = ?, object_uploaded = ?, object_error = ?"
            " WHERE id = ?",
            location,
            size,
            _time(uploaded),
            _error(error),
            track_id,
        )

    async def set_track_local_deleted(self, track_id: str, deleted: datetime) -> None:
        await self.database.execute("UPDATE tracks SET local_deleted = ? WHERE id = ?", _time(deleted), track_id)

    async def recording_by_id(self, recorder_id: str) -> Recording | None:
        rows = await self.database.fetch("SELECT * FROM recordings WHERE recorder_id = ?", recorder_id)
        return next(iter(await self._load(rows)), None)

    async def add_upload(self, job: UploadJob, lease_until: float | None = None) -> UploadJob:
        rows = await self.database.fetch(
            "INSERT INTO upload_jobs (application_id, recorder_id, kind, subject, source, key, size, md5,"
            " created, next_attempt, state, attempts, error, origin, owner, lease_until)"
            " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?) RETURNING id",
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
            job.origin,
            job.owner,
            lease_until,
        )
        job.id = rows[0]["id"]
        return job

    async def save_upload(self, job: UploadJob) -> None:
        await self.database.execute(
            "UPDATE upload_jobs SET state = ?, attempts = ?, next_attempt = ?, error = ? WHERE id = ?",
            job.state.value,
            job.attempts,
            _time(job.next_attempt),
            _error(job.error),
            job.id,
        )

    async def claim_uploads(
        self, owner: str, now: datetime, limit: int, busy_keys: set[str], lease_until: float
    ) -> list[UploadJob]:
        free = (
            f"state IN {_UNFINISHED_UPLOAD} AND next_attempt <= ?"
            " AND (owner IS NULL OR owner = ? OR lease_until IS NULL OR lease_until < ?)"
        )
        busy = f" AND key NOT IN ({_marks(busy_keys)})" if busy_keys else ""
        rows = await self.database.fetch(
            f"UPDATE upload_jobs SET owner = ?, lease_until = ? WHERE id IN (SELECT id FROM upload_jobs WHERE {free}"
            f"{busy} ORDER BY id LIMIT ?) AND {free} RETURNING *",
            owner,
            lease_until,
            _time(now),
            owner,
            now.timestamp(),
            *busy_keys,
            limit,
            _time(now),
            owner,
            now.timestamp(),
        )
        return sorted((_upload(row) for row in rows), key=lambda job: job.id or 0)

    async def release_uploads(self, owner: str, job_id: int | None = None) -> int:
        return await self.database.execute(
            "UPDATE upload_jobs SET owner = NULL, lease_until = NULL WHERE owner = ?"
            f" AND state IN {_UNFINISHED_UPLOAD} AND (CAST(? AS BIGINT) IS NULL OR id = ?)",
            owner,
            job_id,
            job_id,
        )

    async def next_upload_due(self) -> datetime | None:
        rows = await self.database.fetch(
            f"SELECT MIN(next_attempt) FROM upload_jobs WHERE state IN {_UNFINISHED_UPLOAD}"
        )
        return _parse_time(rows[0][0]) if rows else None

    async def uploads(self, recorder_id: str) -> list[UploadJob]:
        rows = await self.database.fetch("SELECT * FROM upload_jobs WHERE recorder_id = ? ORDER BY id", recorder_id)
        return [_upload(row) for row in rows]

    async def unfinished_uploads(self, owner: str) -> int:
        rows = await self.database.fetch(
            f"SELECT COUNT(*) FROM upload_jobs WHERE owner = ? AND state IN {_UNFINISHED_UPLOAD}", owner
        )
        return int(rows[0][0])

    async def failed_uploads(self, application_id: str | None, recorder_id: str | None) -> list[UploadJob]:
        rows = await self.database.fetch(
            "SELECT * FROM upload_jobs WHERE state = 'FAILED' AND (CAST(? AS TEXT) IS NULL OR application_id = ?)"
            " AND (CAST(? AS TEXT) IS NULL OR recorder_id = ?) ORDER BY id",
            application_id,
            application_id,
            recorder_id,
            recorder_id,
        )
        return [_upload(row) for row in rows]

    async def upload_superseded(self, job: UploadJob) -> bool:
        rows = await self.database.fetch(
            "SELECT 1 FROM upload_jobs WHERE application_id = ? AND key = ? AND id > ?"
            " AND state IN ('PENDING', 'UPLOADED', 'DONE') LIMIT 1",
            job.application_id,
            job.key,
            job.id,
        )
        return bool(rows)

    async def storage_profiles(self) -> list[StoredProfile]:
        rows = await self.database.fetch("SELECT * FROM storage_profiles ORDER BY application_id")
        return [StoredProfile(r["application_id"], r["settings"], r["credentials"]) for r in rows]

    async def save_storage_profile(self, profile: StoredProfile) -> None:
        await self.database.execute(
            "INSERT INTO storage_profiles (application_id, settings, credentials) VALUES (?,?,?)"
            " ON CONFLICT (application_id) DO UPDATE SET settings = excluded.settings,"
            " credentials = excluded.credentials",
            profile.application_id,
            profile.settings,
            profile.credentials,
        )

    async def delete_storage_profile(self, application_id: str) -> bool:
        return await self.database.execute("DELETE FROM storage_profiles WHERE application_id = ?", application_id) > 0

    async def add_composition(self, composition: Composition) -> None:
        c = composition
        await self.database.execute(
            "INSERT INTO compositions (id, organization_id, application_id, conversation_id, name, type, width,"
            " height, layout, priority, state, created, progress) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
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
        )

    async def save_composition(self, composition: Composition) -> None:
        c = composition
        await self.database.execute(
            "UPDATE compositions SET state = ?, progress = ?, completed = ?, duration = ?, size = ?, error = ?,"
            " local_location = ?, object_location = ?, object_uploaded = ?, deleted = ?"
            " WHERE id = ? AND (state <> 'CANCELLED' OR CAST(? AS TEXT) = 'CANCELLED')",
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
            c.state.value,
        )

    async def compositions(self, organization_id: str, conversation_id: str) -> list[Composition]:
        rows = await self.database.fetch(
            "SELECT * FROM compositions WHERE organization_id = ? AND conversation_id = ? AND deleted IS NULL"
            " ORDER BY created, id",
            organization_id,
            conversation_id,
        )
        return [_composition(row) for row in rows]

    async def composition_by_id(self, composition_id: str) -> Composition | None:
        rows = await self.database.fetch("SELECT * FROM compositions WHERE id = ?", composition_id)
        return next((_composition(row) for row in rows), None)

    async def claim_composition(self, owner: str, now: float, lease_until: float) -> Composition | None:
        free = (
            f"deleted IS NULL AND (state = 'QUEUED' OR (state IN {_RUNNING_COMPOSITION}"
            " AND (lease_until IS NULL OR lease_until < ?)))"
        )
        rows = await self.database.fetch(
            "UPDATE compositions SET state = 'PREPROCESSING', progress = 0, owner = ?, lease_until = ?"
            f" WHERE id = (SELECT id FROM compositions WHERE {free} ORDER BY priority DESC, created, id LIMIT 1)"
            f" AND {free} RETURNING *",
            owner,
            lease_until,
            now,
            now,
        )
        return next((_composition(row) for row in rows), None)

    async def cancel_composition(self, composition_id: str, now: datetime) -> bool:
        return (
            await self.database.execute(
                "UPDATE compositions SET state = 'CANCELLED', completed = ?, lease_until = NULL"
                f" WHERE id = ? AND deleted IS NULL AND (state = 'QUEUED' OR state IN {_RUNNING_COMPOSITION})",
                _time(now),
                composition_id,
            )
            == 1
        )

    async def requeue_composition(self, composition_id: str) -> bool:
        return (
            await self.database.execute(
                "UPDATE compositions SET state = 'QUEUED', progress = 0, completed = NULL, duration = NULL,"
                " size = NULL, error = NULL, local_location = NULL, object_location = NULL, object_uploaded = NULL,"
                " owner = NULL, lease_until = NULL"
                " WHERE id = ? AND deleted IS NULL AND state IN ('FAILED', 'CANCELLED')",
                composition_id,
            )
            == 1
        )

    async def release_compositions(self, owner: str) -> int:
        return await self.database.execute(
            "UPDATE compositions SET state = 'QUEUED', progress = 0, owner = NULL, lease_until = NULL"
            f" WHERE owner = ? AND state IN {_RUNNING_COMPOSITION} AND deleted IS NULL",
            owner,
        )

    # --- instances and leases ---

    async def heartbeat(self, instance: InstanceInfo, now: datetime, lease_until: float) -> set[str]:
        """Say the instance is alive and renew the leases it still holds; the live recordings it owns."""
        epoch = now.timestamp()
        async with self.database.transaction() as db:
            await db.execute(
                "INSERT INTO instances (id, address, state, started, heartbeat, lease_until) VALUES (?,?,?,?,?,?)"
                " ON CONFLICT (id) DO UPDATE SET address = excluded.address, state = excluded.state,"
                " heartbeat = excluded.heartbeat, lease_until = excluded.lease_until",
                instance.id,
                instance.address,
                instance.state,
                _time(instance.started),
                _time(now),
                lease_until,
            )
            rows = await db.fetch(
                f"UPDATE recordings SET lease_until = ? WHERE instance_id = ? AND state IN ({_LIVE})"
                " AND lease_until >= ? RETURNING recorder_id",
                lease_until,
                instance.id,
                epoch,
            )
            await db.execute(
                "UPDATE upload_jobs SET lease_until = ? WHERE owner = ?"
                f" AND state IN {_UNFINISHED_UPLOAD} AND lease_until >= ?",
                lease_until,
                instance.id,
                epoch,
            )
            await db.execute(
                "UPDATE compositions SET lease_until = ? WHERE owner = ?"
                f" AND state IN {_RUNNING_COMPOSITION} AND lease_until >= ?",
                lease_until,
                instance.id,
                epoch,
            )
        return {row["recorder_id"] for row in rows}

    async def instances(self) -> list[InstanceInfo]:
        rows = await self.database.fetch("SELECT * FROM instances ORDER BY started, id")
        return [
            InstanceInfo(
                r["id"], r["address"], r["state"], datetime.fromisoformat(r["started"]), _parse_time(r["heartbeat"])
            )
            for r in rows
        ]

    async def expire_recordings(self, now: float) -> list[str]:
        """Live recordings whose owner's lease ran out become PENDING_RECOVERY."""
        rows = await self.database.fetch(
            "UPDATE recordings SET state = 'PENDING_RECOVERY'"
            " WHERE state IN ('INITIALISED', 'ACTIVE') AND lease_until < ? RETURNING recorder_id",
            now,
        )
        return [row["recorder_id"] for row in rows]

    async def claim_recovery(
        self, instance_id: str, now: float, lease_until: float, recorder_id: str | None = None
    ) -> Recording | None:
        free = "state = 'PENDING_RECOVERY' AND (lease_until IS NULL OR lease_until < ?)"
        async with self.database.transaction() as db:
            rows = await db.fetch(
                "UPDATE recordings SET instance_id = ?, lease_until = ? WHERE recorder_id ="
                f" (SELECT recorder_id FROM recordings WHERE {free} AND (CAST(? AS TEXT) IS NULL OR recorder_id = ?)"
                f" ORDER BY created LIMIT 1) AND {free} RETURNING recorder_id",
                instance_id,
                lease_until,
                now,
                recorder_id,
                recorder_id,
                now,
            )
            if not rows:
                return None
            await db.execute(
                "INSERT INTO recorder_instances (recorder_id, instance_id) VALUES (?, ?) ON CONFLICT DO NOTHING",
                rows[0]["recorder_id"],
                instance_id,
            )
        return await self.recording_by_id(rows[0]["recorder_id"])

    async def release_recordings(self, instance_id: str, recorder_id: str | None = None) -> int:
        return await self.database.execute(
            "UPDATE recordings SET state = 'PENDING_RECOVERY', lease_until = 0 WHERE instance_id = ?"
            f" AND state IN ({_LIVE}) AND (CAST(? AS TEXT) IS NULL OR recorder_id = ?)",
            instance_id,
            recorder_id,
            recorder_id,
        )

    async def leftover_tracks(self, now: float, alive_but: str | None) -> list[tuple[str, Track]]:
        """Tracks never finished whose writer is not alive (a lease not renewed); `alive_but` is counted as not
        alive (an instance at start: what its earlier run left)."""
        rows = await self.database.fetch(
            "SELECT * FROM tracks WHERE stopped IS NULL AND (writer IS NULL OR writer NOT IN"
            " (SELECT id FROM instances WHERE lease_until >= ? AND id <> ?)) ORDER BY started, id",
            now,
            alive_but or "",
        )
        return [(row["recorder_id"], _track(row)) for row in rows]

    async def finish_leftover(self, recorder_id: str, track: Track) -> bool:
        """Record a leftover track as finished, unless another instance did it first."""
        changed = await self.database.execute(
            "UPDATE tracks SET stopped = ?, frames = ?, duration = ?, local_error = ? WHERE id = ?"
            " AND recorder_id = ? AND stopped IS NULL",
            _time(track.stopped),
            track.frames,
            float(track.duration),
            _error(track.local_error),
            track.id,
            recorder_id,
        )
        return changed == 1
