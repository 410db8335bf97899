"""RetentionStore on SQLite and PostgreSQL: each statement deletes only rows that are done with."""

from __future__ import annotations

from datetime import UTC, datetime

from recorder.persistence.database import Database
from recorder.persistence.ports import Cutoffs, RetentionStore
from recorder.persistence.sql.rows import LIVE, time_text

# recordings of the application that ended before the cutoff
_ENDED = f"SELECT recorder_id FROM recordings WHERE application_id = ? AND state NOT IN ({LIVE}) AND stopped < ?"
_UPLOADING = (
    "SELECT 1 FROM upload_jobs j WHERE j.recorder_id = {table}.recorder_id AND j.state NOT IN ('DONE', 'SUPERSEDED')"
)


def _text(at: float) -> str:
    return str(time_text(datetime.fromtimestamp(at, UTC)))


class SqlRetention(RetentionStore):
    def __init__(self, database: Database) -> None:
        self._db = database

    async def prune(self, application_id: str, cutoffs: Cutoffs) -> dict[str, int]:
        ended = _text(cutoffs.upload_jobs)
        pruned = {
            "deliveries": await self._db.execute(
                "DELETE FROM webhook_deliveries WHERE status IN ('DELIVERED', 'FAILED') AND finished < ?"
                " AND subscription_id IN (SELECT id FROM webhook_subscriptions WHERE application_id = ?)",
                cutoffs.deliveries,
                application_id,
            ),
            "subscriptions": await self._db.execute(
                f"DELETE FROM webhook_subscriptions WHERE application_id = ? AND recorder_id IN ({_ENDED})"
                " AND NOT EXISTS (SELECT 1 FROM webhook_deliveries d WHERE d.subscription_id = webhook_subscriptions.id"
                " AND d.status = 'PENDING')",
                application_id,
                application_id,
                ended,
            ),
            "events": await self._db.execute(
                "DELETE FROM events WHERE application_id = ? AND occurred < ?"
                " AND NOT EXISTS (SELECT 1 FROM webhook_deliveries d WHERE d.event_id = events.id)",
                application_id,
                cutoffs.events,
            ),
            "storage": await self._db.execute(
                f"DELETE FROM recording_storage WHERE recorder_id IN ({_ENDED})"
                f" AND NOT EXISTS ({_UPLOADING.format(table='recording_storage')})",
                application_id,
                ended,
            ),
            "upload_jobs": await self._db.execute(
                "DELETE FROM upload_jobs WHERE application_id = ? AND state IN ('DONE', 'SUPERSEDED') AND created < ?",
                application_id,
                ended,
            ),
        }
        return pruned
