"""Webhook subscriptions and deliveries in SQL; the events themselves are written by the outbox."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import Any

from recorder.events import Event, EventType
from recorder.persistence.database import Database, Row
from recorder.persistence.ports import Delivery, StoredSubscription, WebhookStore
from recorder.persistence.sql.outbox import add_deliveries

_ORDER = (
    "NOT EXISTS (SELECT 1 FROM webhook_deliveries e WHERE e.subscription_id = d.subscription_id"
    " AND e.subject = d.subject AND e.status = 'PENDING'"
    " AND (e.sequence < d.sequence OR (e.sequence = d.sequence AND e.part < d.part)))"
)
_FREE = "{p}status = 'PENDING' AND {p}next_attempt <= ? AND ({p}owner IS NULL OR {p}lease_until < ?)"
_DELIVERY = (
    "SELECT d.id, d.subscription_id, d.part, d.message, d.status, d.attempts, d.next_attempt, d.created,"
    " d.last_error, d.last_status, d.finished, v.id AS e_id, v.subject, v.sequence, v.type, v.application_id,"
    " v.organization_id, v.occurred, v.data FROM webhook_deliveries d JOIN events v ON v.id = d.event_id"
)


def _subscription(row: Row) -> StoredSubscription:
    return StoredSubscription(
        id=row["id"],
        application_id=row["application_id"],
        url=row["url"],
        events=json.loads(row["events"]) if row["events"] is not None else None,
        format=row["format"],
        secret=row["secret"],
        origin=row["origin"],
        created=row["created"],
        updated=row["updated"],
        previous_secret=row["previous_secret"],
        previous_until=row["previous_until"],
        recorder_id=row["recorder_id"],
    )


def event_(row: Row, prefix: str = "") -> Event:
    return Event(
        type=EventType(row["type"]),
        subject=row["subject"],
        application_id=row["application_id"],
        organization_id=row["organization_id"],
        data=json.loads(row["data"]),
        occurred=datetime.fromtimestamp(row["occurred"], UTC),
        id=row[f"{prefix}id"],
        sequence=int(row["sequence"]),
    )


def _delivery(row: Row) -> Delivery:
    return Delivery(
        id=int(row["id"]),
        event=event_(row, "e_"),
        subscription_id=row["subscription_id"],
        part=row["part"],
        message=row["message"],
        status=row["status"],
        attempts=row["attempts"],
        next_attempt=row["next_attempt"],
        created=row["created"],
        last_error=row["last_error"],
        last_status=row["last_status"],
        finished=row["finished"],
    )


class SqlWebhooks(WebhookStore):
    def __init__(self, database: Database) -> None:
        self._db = database

    async def subscriptions(self, application_id: str | None = None) -> list[StoredSubscription]:
        rows = await self._db.fetch(
            "SELECT * FROM webhook_subscriptions WHERE CAST(? AS TEXT) IS NULL OR application_id = ?"
            " ORDER BY created, id",
            application_id,
            application_id,
        )
        return [_subscription(row) for row in rows]

    async def subscription(self, subscription_id: str) -> StoredSubscription | None:
        rows = await self._db.fetch("SELECT * FROM webhook_subscriptions WHERE id = ?", subscription_id)
        return _subscription(rows[0]) if rows else None

    async def save_subscription(self, subscription: StoredSubscription) -> None:
        s = subscription
        await self._db.execute(
            "INSERT INTO webhook_subscriptions (id, application_id, url, events, format, secret, previous_secret,"
            " previous_until, origin, recorder_id, created, updated) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)"
            " ON CONFLICT (id) DO UPDATE SET application_id = excluded.application_id, url = excluded.url,"
            " events = excluded.events, format = excluded.format, secret = excluded.secret,"
            " previous_secret = excluded.previous_secret, previous_until = excluded.previous_until,"
            " origin = excluded.origin, recorder_id = excluded.recorder_id, updated = excluded.updated",
            s.id,
            s.application_id,
            s.url,
            json.dumps(s.events) if s.events is not None else None,
            s.format,
            s.secret,
            s.previous_secret,
            s.previous_until,
            s.origin,
            s.recorder_id,
            s.created,
            s.updated,
        )

    async def delete_subscription(self, subscription_id: str) -> bool:
        async with self._db.transaction() as db:
            await db.execute("DELETE FROM webhook_deliveries WHERE subscription_id = ?", subscription_id)
            return await db.execute("DELETE FROM webhook_subscriptions WHERE id = ?", subscription_id) == 1

    async def claim(self, owner: str, now: float, limit: int, lease_until: float) -> list[Delivery]:
        async with self._db.transaction() as db:
            rows = await db.fetch(
                f"UPDATE webhook_deliveries SET owner = ?, lease_until = ? WHERE id IN (SELECT d.id FROM"
                f" webhook_deliveries d WHERE {_FREE.format(p='d.')} AND {_ORDER}"
                f" ORDER BY d.next_attempt, d.id LIMIT ?) AND {_FREE.format(p='')} RETURNING id",
                owner,
                lease_until,
                now,
                now,
                limit,
                now,
                now,
            )
            if not rows:
                return []
            ids = [int(row["id"]) for row in rows]
            found = await db.fetch(f"{_DELIVERY} WHERE d.id IN ({','.join('?' * len(ids))})", *ids)
        return sorted((_delivery(row) for row in found), key=lambda d: (d.next_attempt, d.id))

    async def finish(self, delivery: Delivery, owner: str | None = None, lease_until: float = 0) -> Delivery | None:
        async with self._db.transaction() as db:
            await db.execute(
                "UPDATE webhook_deliveries SET status = ?, attempts = ?, next_attempt = ?, last_error = ?,"
                " last_status = ?, finished = ?, owner = NULL, lease_until = NULL WHERE id = ?",
                delivery.status,
                delivery.attempts,
                delivery.next_attempt,
                delivery.last_error,
                delivery.last_status,
                delivery.finished,
                delivery.id,
            )
            if owner is None or delivery.status == "PENDING":
                return None
            now = time.time()
            rows = await db.fetch(
                f"UPDATE webhook_deliveries SET owner = ?, lease_until = ? WHERE id = (SELECT d.id FROM"
                f" webhook_deliveries d WHERE d.subscription_id = ? AND d.subject = ? AND {_FREE.format(p='d.')}"
                f" AND {_ORDER} ORDER BY d.sequence, d.part LIMIT 1) AND {_FREE.format(p='')} RETURNING id",
                owner,
                lease_until,
                delivery.subscription_id,
                delivery.event.subject,
                now,
                now,
                now,
                now,
            )
            found = await db.fetch(f"{_DELIVERY} WHERE d.id = ?", rows[0]["id"]) if rows else []
        return _delivery(found[0]) if found else None

    async def release(self, owner: str) -> int:
        return await self._db.execute(
            "UPDATE webhook_deliveries SET owner = NULL, lease_until = NULL WHERE owner = ? AND status = 'PENDING'",
            owner,
        )

    async def next_due(self) -> float | None:
        rows = await self._db.fetch("SELECT MIN(next_attempt) AS due FROM webhook_deliveries WHERE status = 'PENDING'")
        return rows[0]["due"] if rows else None

    async def deliveries(
        self, subscription_id: str, status: str | None, limit: int, before: int | None = None
    ) -> list[Delivery]:
        rows = await self._db.fetch(
            f"{_DELIVERY} WHERE d.subscription_id = ? AND (CAST(? AS TEXT) IS NULL OR d.status = ?)"
            " AND (CAST(? AS BIGINT) IS NULL OR d.id < ?) ORDER BY d.id DESC LIMIT ?",
            subscription_id,
            status,
            status,
            before,
            before,
            limit,
        )
        return [_delivery(row) for row in rows]

    async def redeliver(self, subscription_id: str, delivery_id: int, now: float) -> Delivery | None:
        async with self._db.transaction() as db:
            changed = await db.execute(
                "UPDATE webhook_deliveries SET status = 'PENDING', attempts = 0, next_attempt = ?, finished = NULL,"
                " owner = NULL, lease_until = NULL WHERE id = ? AND subscription_id = ?",
                now,
                delivery_id,
                subscription_id,
            )
            rows = await db.fetch(f"{_DELIVERY} WHERE d.id = ?", delivery_id) if changed else []
        return _delivery(rows[0]) if rows else None

    async def replay(
        self, subscription_id: str, recorder_id: str | None, since: float | None, until: float | None, now: float
    ) -> int:
        added = 0
        async with self._db.transaction() as db:
            found = await db.fetch("SELECT * FROM webhook_subscriptions WHERE id = ?", subscription_id)
            if not found:
                return 0
            subscription = _subscription(found[0])
            args: list[Any] = [subscription.application_id]
            where = "application_id = ?"
            for clause, value in (("subject = ?", recorder_id), ("occurred >= ?", since), ("occurred < ?", until)):
                if value is not None:
                    where += f" AND {clause}"
                    args.append(value)
            rows = await db.fetch(f"SELECT * FROM events WHERE {where} ORDER BY occurred, subject, sequence", *args)
            filter_ = json.dumps(subscription.events) if subscription.events is not None else None
            for row in rows:
                added += await add_deliveries(db, event_(row), [(subscription.id, subscription.format, filter_)], now)
        return added

    async def counts(self) -> tuple[int, int, float | None]:
        rows = await self._db.fetch(
            "SELECT status, COUNT(*) AS n, MIN(created) AS oldest FROM webhook_deliveries"
            " WHERE status IN ('PENDING', 'FAILED') GROUP BY status"
        )
        by = {row["status"]: (int(row["n"]), row["oldest"]) for row in rows}
        pending, oldest = by.get("PENDING", (0, None))
        return pending, by.get("FAILED", (0, None))[0], oldest
