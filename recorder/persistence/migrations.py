"""The schema, one migration at a time: applied in order, each once (table schema_migrations), on SQLite and
PostgreSQL alike."""

from __future__ import annotations

from recorder.clock import now
from recorder.persistence.database import Connection, Database
from recorder.persistence.sql.rows import LIVE

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
    WHERE state IN ({LIVE});
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
    # the controls, as JSON: why it started and ended, its pauses, its rules and limits; the manifest's place
    # and each track's codec
    """
ALTER TABLE recordings ADD COLUMN start_reason TEXT;
ALTER TABLE recordings ADD COLUMN stop_reason TEXT;
ALTER TABLE recordings ADD COLUMN pauses TEXT;
ALTER TABLE recordings ADD COLUMN rules TEXT;
ALTER TABLE recordings ADD COLUMN limits TEXT;
ALTER TABLE recordings ADD COLUMN manifest_location TEXT;
ALTER TABLE recordings ADD COLUMN manifest_error TEXT;
ALTER TABLE tracks ADD COLUMN codec TEXT;
ALTER TABLE compositions ADD COLUMN keep_pauses INTEGER;
ALTER TABLE compositions ADD COLUMN timeline_start TEXT;
ALTER TABLE compositions ADD COLUMN pauses_left_out TEXT
""",
    # 6: the outbox (events, numbered per subject), webhook subscriptions and their deliveries; times in epoch s
    """
CREATE TABLE event_sequences (subject TEXT PRIMARY KEY, last BIGINT NOT NULL);
CREATE TABLE events (
    id TEXT PRIMARY KEY, subject TEXT NOT NULL, sequence BIGINT NOT NULL, type TEXT NOT NULL,
    application_id TEXT NOT NULL, organization_id TEXT NOT NULL, occurred DOUBLE PRECISION NOT NULL,
    data TEXT NOT NULL, UNIQUE (subject, sequence));
CREATE INDEX events_occurred ON events (application_id, occurred);
CREATE TABLE webhook_subscriptions (
    id TEXT PRIMARY KEY, application_id TEXT NOT NULL, url TEXT NOT NULL, events TEXT, format TEXT NOT NULL,
    secret TEXT NOT NULL, previous_secret TEXT, previous_until DOUBLE PRECISION, origin TEXT NOT NULL,
    recorder_id TEXT, created DOUBLE PRECISION NOT NULL, updated DOUBLE PRECISION NOT NULL);
CREATE INDEX webhook_subscriptions_application ON webhook_subscriptions (application_id);
CREATE TABLE webhook_deliveries (
    id {serial}, event_id TEXT NOT NULL REFERENCES events (id),
    subscription_id TEXT NOT NULL REFERENCES webhook_subscriptions (id) ON DELETE CASCADE,
    subject TEXT NOT NULL, sequence BIGINT NOT NULL, part INTEGER NOT NULL, message TEXT NOT NULL,
    status TEXT NOT NULL, attempts INTEGER NOT NULL, next_attempt DOUBLE PRECISION NOT NULL,
    owner TEXT, lease_until DOUBLE PRECISION, last_error TEXT, last_status INTEGER,
    created DOUBLE PRECISION NOT NULL, finished DOUBLE PRECISION);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (status, next_attempt);
CREATE INDEX webhook_deliveries_order ON webhook_deliveries (subscription_id, subject, status, sequence, part)
""",
    # 7: a recording's own key template (a facade's storage layout)
    """
ALTER TABLE recordings ADD COLUMN key_template TEXT
""",
    # 8: coaching sessions registered by an application's backend, and the recording each one claimed
    """
CREATE TABLE coaching_sessions (
    application_id TEXT NOT NULL, session_id TEXT NOT NULL, document TEXT NOT NULL, recorder_id TEXT,
    PRIMARY KEY (application_id, session_id))
""",
    # 9: a recording's own storage destination (a facade's per-recording storage_config), credentials sealed
    """
CREATE TABLE recording_storage (
    recorder_id TEXT PRIMARY KEY, settings TEXT NOT NULL, credentials TEXT, public TEXT NOT NULL)
""",
    # 10: per-application bounds (live recordings counted by application) and retention (finished deliveries
    # and upload jobs found by age)
    """
CREATE INDEX recordings_application_state ON recordings (application_id, state);
CREATE INDEX webhook_deliveries_finished ON webhook_deliveries (finished);
CREATE INDEX upload_jobs_state_created ON upload_jobs (state, created)
""",
    # 11: the facade a recording was started through (a facade acts on its own recordings only)
    """
ALTER TABLE recordings ADD COLUMN facade TEXT
""",
    # 12: durable while recording: whether an instance holds a liveness lock (its peers watch it) and its
    # capacity; the epoch of a recording's owner (grows with each takeover); the journal of the segment
    # objects each live track has in storage (a row only once the storage has the object)
    """
ALTER TABLE recordings ADD COLUMN epoch BIGINT NOT NULL DEFAULT 0;
ALTER TABLE instances ADD COLUMN locked INTEGER NOT NULL DEFAULT 0;
ALTER TABLE instances ADD COLUMN capacity INTEGER;
CREATE TABLE track_segments (
    track_id TEXT NOT NULL, seq BIGINT NOT NULL, recorder_id TEXT NOT NULL, epoch BIGINT NOT NULL,
    object_key TEXT NOT NULL, start_offset BIGINT NOT NULL, size BIGINT NOT NULL, sha256 TEXT NOT NULL,
    media_end DOUBLE PRECISION NOT NULL, stored TEXT NOT NULL, PRIMARY KEY (track_id, seq));
CREATE INDEX track_segments_recorder ON track_segments (recorder_id)
""",
    # 13: evidence: each stored object's SHA-256 (and version) and the hourly digest that chained it; the signing
    # keys' public halves; a recording's seal; the access log (hash-chained per organization); legal holds;
    # deletion receipts; chores only one instance runs at a time (sealing, digests, retention of recordings)
    """
ALTER TABLE upload_jobs ADD COLUMN sha256 TEXT;
CREATE TABLE evidence_keys (kid TEXT PRIMARY KEY, public_key TEXT NOT NULL, created TEXT NOT NULL);
CREATE TABLE stored_objects (
    id {serial}, organization_id TEXT NOT NULL, application_id TEXT NOT NULL, conversation_id TEXT NOT NULL,
    recorder_id TEXT, composition_id TEXT, kind TEXT NOT NULL, subject TEXT NOT NULL, object_key TEXT NOT NULL,
    size BIGINT NOT NULL, sha256 TEXT NOT NULL, version TEXT, own_storage INTEGER NOT NULL, stored TEXT NOT NULL,
    digest_seq BIGINT, deleted TEXT, receipt_id TEXT);
CREATE UNIQUE INDEX stored_objects_once ON stored_objects (application_id, object_key, sha256);
CREATE INDEX stored_objects_conversation ON stored_objects (organization_id, conversation_id);
CREATE INDEX stored_objects_undigested ON stored_objects (application_id, digest_seq);
CREATE TABLE evidence_seals (
    recorder_id TEXT PRIMARY KEY, object_key TEXT NOT NULL, kid TEXT NOT NULL, signature TEXT NOT NULL,
    created TEXT NOT NULL);
CREATE TABLE evidence_digests (
    application_id TEXT NOT NULL, seq BIGINT NOT NULL, object_key TEXT NOT NULL, sha256 TEXT NOT NULL,
    kid TEXT NOT NULL, signature TEXT NOT NULL, objects INTEGER NOT NULL, created TEXT NOT NULL,
    PRIMARY KEY (application_id, seq));
CREATE TABLE access_log (
    seq {serial}, organization_id TEXT NOT NULL, application_id TEXT, at TEXT NOT NULL, action TEXT NOT NULL,
    caller TEXT NOT NULL, caller_type TEXT NOT NULL, roles TEXT NOT NULL, user_id TEXT, conversation_id TEXT,
    recorder_id TEXT, object TEXT, detail TEXT, prev TEXT NOT NULL, hash TEXT NOT NULL);
CREATE INDEX access_log_organization ON access_log (organization_id, seq);
CREATE INDEX access_log_conversation ON access_log (organization_id, conversation_id, seq);
CREATE TABLE legal_holds (
    organization_id TEXT NOT NULL, conversation_id TEXT NOT NULL, application_id TEXT, reason TEXT NOT NULL,
    placed_by TEXT NOT NULL, placed TEXT NOT NULL, PRIMARY KEY (organization_id, conversation_id));
CREATE TABLE deletion_receipts (
    id TEXT PRIMARY KEY, organization_id TEXT NOT NULL, application_id TEXT NOT NULL, conversation_id TEXT NOT NULL,
    document TEXT NOT NULL, created TEXT NOT NULL);
CREATE TABLE chores (name TEXT PRIMARY KEY, holder TEXT NOT NULL, lease_until DOUBLE PRECISION NOT NULL);
CREATE INDEX recordings_stopped ON recordings (stopped)
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
                "INSERT INTO schema_migrations (version, applied) VALUES (?, ?)", version, now().isoformat()
            )
            applied.append(version)
    return applied
