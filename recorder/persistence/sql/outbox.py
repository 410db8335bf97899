"""The outbox: events written in the transaction of the change that causes them, numbered per subject, with
a delivery for each message to each subscription that wants them (see `recorder.events`)."""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import AsyncIterator, Sequence

from recorder.events import Event, messages
from recorder.persistence.database import Connection, Database

CHANNEL = "recorder_webhooks"  # notified after a commit that wrote events: deliverers look at once


def wants(events: str | None, type_: str) -> bool:
    """Whether a subscription's filter (JSON list, or None: every event) takes an event of this type."""
    return events is None or type_ in json.loads(events)


async def append(db: Connection, events: Sequence[Event]) -> None:
    """Number each event in its subject, keep it, and add its deliveries (inside the caller's transaction)."""
    created = time.time()
    for event in events:
        rows = await db.fetch(
            "INSERT INTO event_sequences (subject, last) VALUES (?, 1) ON CONFLICT (subject)"
            " DO UPDATE SET last = event_sequences.last + 1 RETURNING last",
            event.subject,
        )
        event.sequence = int(rows[0]["last"])
        await db.execute(
            "INSERT INTO events (id, subject, sequence, type, application_id, organization_id, occurred, data)"
            " VALUES (?,?,?,?,?,?,?,?)",
            event.id,
            event.subject,
            event.sequence,
            event.type.value,
            event.application_id,
            event.organization_id,
            event.occurred.timestamp(),
            json.dumps(event.data),
        )
        subscriptions = await db.fetch(
            "SELECT id, format, events FROM webhook_subscriptions WHERE application_id = ?"
            " AND (recorder_id IS NULL OR recorder_id = ?) ORDER BY created",
            event.application_id,
            event.subject,
        )
        await add_deliveries(db, event, [(s["id"], s["format"], s["events"]) for s in subscriptions], created)


async def add_deliveries(
    db: Connection, event: Event, subscriptions: list[tuple[str, str, str | None]], now: float
) -> int:
    """A PENDING delivery, due `now`, for each message of `event` to each subscription that wants it."""
    rows = [
        (event.id, subscription_id, event.subject, event.sequence, part, message, now, now)
        for subscription_id, format_, filter_ in subscriptions
        if wants(filter_, event.type.value)
        for part, message in enumerate(messages(format_, event))
    ]
    if rows:
        await db.execute_many(
            "INSERT INTO webhook_deliveries (event_id, subscription_id, subject, sequence, part, message, status,"
            " attempts, next_attempt, created) VALUES (?,?,?,?,?,?,'PENDING',0,?,?)",
            rows,
        )
    return len(rows)


class Changes:
    """The events of one change, written with it. What the change was is read first with `for_update`
    after the SELECT: on PostgreSQL the row stays locked to the transaction's end, so that two writes at once
    (a pause while the start is being written) each see the other's result and tell each event once."""

    def __init__(self, connection: Connection, dialect: str) -> None:
        self.db = connection
        self.events: list[Event] = []
        self.for_update = " FOR UPDATE" if dialect == "postgresql" else ""  # (SQLite: one writer at a time)


@contextlib.asynccontextmanager
async def changing(database: Database) -> AsyncIterator[Changes]:
    """A transaction whose `events` are written into the outbox before it commits; deliverers are told after."""
    async with database.transaction() as connection:
        changes = Changes(connection, database.dialect)
        yield changes
        if changes.events:
            await append(connection, changes.events)
    if changes.events:
        with contextlib.suppress(Exception):  # a deliverer that misses it looks again within a second
            await database.notify(CHANNEL, "")
