"""The RetentionStore contract: only what is done with and older than the application's retention goes, on
both databases, and two instances pruning side by side delete each row once."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta

from recorder.models import RecordingState
from recorder.persistence.ports import Cutoffs, StoredProfile
from recorder.persistence.store import Store
from tests.builders import T0, Opener, recording
from tests.persistence.test_webhooks import subscription

DAY = 86400.0


async def _event(store: Store, event_id: str, occurred: float, application: str = "app1") -> None:
    await store.database.execute(
        "INSERT INTO events (id, subject, sequence, type, application_id, organization_id, occurred, data)"
        " VALUES (?, ?, 1, 'recording.started', ?, 'org1', ?, '{}')",
        event_id,
        event_id,
        application,
        occurred,
    )


async def _delivery(store: Store, event_id: str, subscription_id: str, status: str, finished: float | None) -> None:
    await store.database.execute(
        "INSERT INTO webhook_deliveries (event_id, subscription_id, subject, sequence, part, message, status,"
        " attempts, next_attempt, created) VALUES (?, ?, 'r1', 1, 0, 'recording.started', ?, 1, 0, 0)",
        event_id,
        subscription_id,
        status,
    )
    if finished is not None:
        await store.database.execute(
            "UPDATE webhook_deliveries SET finished = ? WHERE event_id = ?", finished, event_id
        )


async def _count(store: Store, table: str) -> int:
    return int((await store.database.fetch(f"SELECT COUNT(*) AS n FROM {table}"))[0]["n"])


async def test_only_what_is_done_with_and_old_is_pruned(opener: Opener) -> None:
    store = await opener()
    now = time.time()
    old, young = now - 40 * DAY, now - DAY
    await store.webhooks.save_subscription(subscription("wh1"))
    await store.webhooks.save_subscription(subscription("wh-other", application="app2"))
    await _event(store, "e-old-done", old)
    await _delivery(store, "e-old-done", "wh1", "DELIVERED", old)
    await _event(store, "e-old-pending", old)
    await _delivery(store, "e-old-pending", "wh1", "PENDING", None)
    await _event(store, "e-young", young)
    await _delivery(store, "e-young", "wh1", "FAILED", young)
    await _event(store, "e-other-app", old, application="app2")
    await _delivery(store, "e-other-app", "wh-other", "DELIVERED", old)
    # a recording that ended long ago with its own destination and per-recording webhook; one still live
    ended = recording("c-ended", state=RecordingState.STOPPED, stopped=T0 - timedelta(days=60))
    await store.recordings.create_or_get_live(recording("c-live"))
    await store.recordings.create_or_get_live(ended)
    assert await store.recordings.save(ended)  # its end
    await store.webhooks.save_subscription(subscription("wh-rec", recorder_id=ended.recorder_id))
    await store.profiles.save_own(ended.recorder_id, StoredProfile(ended.recorder_id, "{}", "sealed"), "{}")

    cutoffs = Cutoffs(events=now - 30 * DAY, deliveries=now - 30 * DAY, upload_jobs=now - 30 * DAY)
    other = await opener()  # another instance pruning at the same time
    first, second = await asyncio.gather(store.retention.prune("app1", cutoffs), other.retention.prune("app1", cutoffs))
    pruned = {k: first[k] + second[k] for k in first}
    assert pruned["deliveries"] == 1 and pruned["events"] == 1 and pruned["storage"] == 1
    assert pruned["subscriptions"] == 1
    events = {r["id"] for r in await store.database.fetch("SELECT id FROM events")}
    assert events == {"e-old-pending", "e-young", "e-other-app"}  # pending, young, another application's
    assert await _count(store, "webhook_deliveries") == 3
    assert await store.profiles.own(ended.recorder_id) is None
    assert {s.id for s in await store.webhooks.subscriptions()} == {"wh1", "wh-other"}
