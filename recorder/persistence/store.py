"""The store: every persistence port on one database, its schema migrated."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from recorder.persistence.database import Database, open_database
from recorder.persistence.migrations import migrate
from recorder.persistence.ports import (
    ClusterStore,
    CompositionJobStore,
    EvidenceStore,
    RecordingStore,
    RetentionStore,
    SegmentJournal,
    SessionStore,
    SidecarStore,
    StorageProfileStore,
    UploadJobStore,
    WebhookStore,
)
from recorder.persistence.sql.cluster import SqlCluster
from recorder.persistence.sql.compositions import SqlCompositionJobs
from recorder.persistence.sql.evidence import SqlEvidence
from recorder.persistence.sql.journal import SqlSegmentJournal
from recorder.persistence.sql.profiles import SqlStorageProfiles
from recorder.persistence.sql.recordings import SqlRecordings
from recorder.persistence.sql.retention import SqlRetention
from recorder.persistence.sql.sessions import SqlSessions
from recorder.persistence.sql.sidecars import SqlSidecars
from recorder.persistence.sql.uploads import SqlUploadJobs
from recorder.persistence.sql.webhooks import SqlWebhooks


@dataclass(frozen=True)
class Store:
    database: Database
    recordings: RecordingStore
    uploads: UploadJobStore
    compositions: CompositionJobStore
    sidecars: SidecarStore
    profiles: StorageProfileStore
    cluster: ClusterStore
    webhooks: WebhookStore
    sessions: SessionStore
    retention: RetentionStore
    journal: SegmentJournal
    evidence: EvidenceStore

    @classmethod
    def on(cls, database: Database) -> Store:
        return cls(
            database,
            SqlRecordings(database),
            SqlUploadJobs(database),
            SqlCompositionJobs(database),
            SqlSidecars(database),
            SqlStorageProfiles(database),
            SqlCluster(database),
            SqlWebhooks(database),
            SqlSessions(database),
            SqlRetention(database),
            SqlSegmentJournal(database),
            SqlEvidence(database),
        )

    async def aclose(self) -> None:
        await self.database.aclose()

    async def __aenter__(self) -> Store:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()


async def open_store(url: str | None, sqlite_path: Path) -> Store:
    """Every port on the database at `url` (PostgreSQL) or the SQLite file at `sqlite_path`, migrated (the
    database is closed again when the migration fails)."""
    database = await open_database(url, sqlite_path)
    try:
        await migrate(database)
    except BaseException:
        await database.aclose()
        raise
    return Store.on(database)
