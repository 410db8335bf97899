"""The outbox and the WebhookStore contract: events written with the change that causes them, numbered per
recording; deliveries claimed in order per recording, leased to one instance, redelivered and replayed."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta

import pytest

from recorder.events import Event, EventType
from recorder.models import Pause, RecordingState, Rule, RuleKind, Rules
from recorder.persistence.ports import Delivery, StoredSubscription
from recorder.persistence.sql.outbox import changing
from recorder.persistence.store import Store
from tests.builders import T0, Opener, live_with_stream, track


def subscription(sub_id: str = "wh1", application: str = "app1", **fields: object) -> StoredSubscription:
    values: dict[str, object] = {
        "id": sub_id,
        "application_id": application,
        "url": "http://127.0.0.1:9/hook",
        "events": None,
        "format": "native",
        "secret": "sealed",
        "origin": "API",
        "created": time.time(),
        "updated": time.time(),
        **fields,
    }
    return StoredSubscription(**values)  # type: ignore[arg-type]


async def events_of(store: Store, subject: str) -> list[tuple[int, str]]:
    rows = await store.database.fetch("SELECT sequence, type FROM events WHERE subject = ? ORDER BY sequence", subject)
    return [(int(r["sequence"]), r["type"]) for r in rows]


async def delivered(store: Store, delivery: Delivery, status: str = "DELIVERED") -> None:
    delivery.status, delivery.attempts, delivery.finished = status, delivery.attempts + 1, time.time()
    await store.webhooks.finish(delivery)


async def test_changes_write_their_events_numbered_per_recording(store: Store) -> None:
    r = await live_with_stream(store)
    r.state, r.started = RecordingState.ACTIVE, T0
    assert await store.recordings.save(r)
    t = track()
    await store.recordings.save_track(r.recorder_id, t)  # new: track.started
    r.pauses.append(Pause(T0 + timedelta(seconds=5)))
    await store.recordings.save(r)
    r.pauses[-1].resumed = T0 + timedelta(seconds=8)
    await store.recordings.save(r)
    t.stopped = T0 + timedelta(seconds=9)
    await store.recordings.save_track(r.recorder_id, t)
    r.state, r.stopped = RecordingState.STOPPED, T0 + timedelta(seconds=10)
    await store.recordings.save(r)
    await store.recordings.set_track_object(t.id, "k/t1.webm", 100, T0 + timedelta(seconds=11), None)
    await store.recordings.set_manifest(r.recorder_id, "k/manifest.json")
    assert await events_of(store, r.recorder_id) == [
        (1, "recording.started"),
        (2, "track.started"),
        (3, "recording.paused"),
        (4, "recording.resumed"),
        (5, "track.stopped"),
        (6, "recording.stopped"),
        (7, "upload.stored"),
        (8, "manifest.stored"),
    ]


async def test_a_write_that_does_not_apply_writes_no_event(store: Store) -> None:
    r = await live_with_stream(store)
    r.instance_id, r.state = "someone-else", RecordingState.ACTIVE  # not its owner: the save is refused
    assert not await store.recordings.save(r)
    assert await events_of(store, r.recorder_id) == []


async def test_events_roll_back_with_their_change(store: Store) -> None:
    r = await live_with_stream(store)
    with pytest.raises(RuntimeError):
        async with changing(store.database) as change:
            await change.db.execute("UPDATE recordings SET state = 'ACTIVE' WHERE recorder_id = ?", r.recorder_id)
            change.events.append(Event(EventType.RECORDING_STARTED, r.recorder_id, "app1", "org1", {}))
            raise RuntimeError("the change fails after its event was added")
    assert await events_of(store, r.recorder_id) == []
    found = await store.recordings.by_id(r.recorder_id)
    assert found is not None and found.state is RecordingState.INITIALISED


async def test_deliveries_go_to_the_subscriptions_that_want_them(store: Store) -> None:
    await store.webhooks.save_subscription(subscription("all"))
    await store.webhooks.save_subscription(subscription("ends", events=["recording.stopped"]))
    await store.webhooks.save_subscription(subscription("other-app", application="app2"))
    await store.webhooks.save_subscription(subscription("vsdk", format="videosdk"))
    r = await live_with_stream(store)
    r.state, r.started = RecordingState.ACTIVE, T0
    r.rules = Rules(include=(Rule("alice", RuleKind.AUDIO), Rule("alice", RuleKind.VIDEO)))
    await store.recordings.save(r)
    await store.recordings.save_track(r.recorder_id, track())
    r.state = RecordingState.STOPPED
    await store.recordings.save(r)
    claimed = await store.webhooks.claim("i1", time.time(), 100, time.time() + 30)
    assert sorted((d.subscription_id, d.message) for d in claimed) == [
        ("all", "recording.started"),
        ("ends", "recording.stopped"),
        ("vsdk", "participant-track-recording-starting#0"),  # its `#1` and `started` wait for it
    ]


async def test_a_recordings_next_message_waits_for_the_one_before(store: Store) -> None:
    await store.webhooks.save_subscription(subscription())
    a, b = await live_with_stream(store, "c1"), await live_with_stream(store, "c2")
    for r in (a, b):
        r.state, r.started = RecordingState.ACTIVE, T0
        await store.recordings.save(r)
    a.state = RecordingState.STOPPED
    await store.recordings.save(a)
    lease = time.time() + 30
    first = await store.webhooks.claim("i1", time.time(), 100, lease)
    assert sorted((d.event.subject, d.event.sequence) for d in first) == sorted(
        [(a.recorder_id, 1), (b.recorder_id, 1)]
    )
    assert await store.webhooks.claim("i1", time.time(), 100, lease) == []  # a's #2 waits for a's #1
    (a1,) = [d for d in first if d.event.subject == a.recorder_id]
    a1.status, a1.attempts, a1.next_attempt = "PENDING", 1, time.time() + 60  # failed once: due later
    await store.webhooks.finish(a1)
    assert await store.webhooks.claim("i1", time.time(), 100, lease) == []  # still before #2
    await delivered(store, a1, "FAILED")  # given up: the next may go
    (a2,) = await store.webhooks.claim("i1", time.time(), 100, lease)
    assert (a2.event.subject, a2.event.sequence, a2.event.type) == (a.recorder_id, 2, EventType.RECORDING_STOPPED)
    assert a2.event.data["recording"]["state"] == "STOPPED"


async def test_two_instances_never_claim_the_same_delivery(opener: Opener) -> None:
    one, two = await opener(), await opener()
    await one.webhooks.save_subscription(subscription())
    for n in range(20):
        r = await live_with_stream(one, f"c{n}")
        r.state, r.started = RecordingState.ACTIVE, T0
        await one.recordings.save(r)
    lease, ids = time.time() + 30, []
    for _ in range(10):  # claims at once may leave some for the next look; none is ever claimed twice
        got = await asyncio.gather(
            *(s.webhooks.claim(s_id, time.time(), 7, lease) for s, s_id in ((one, "a"), (two, "b")) * 2)
        )
        ids += [d.id for batch in got for d in batch]
    assert len(ids) == len(set(ids)) == 20


async def test_a_lease_that_ran_out_is_taken_over_and_release_frees_at_once(store: Store) -> None:
    await store.webhooks.save_subscription(subscription())
    r = await live_with_stream(store)
    r.state, r.started = RecordingState.ACTIVE, T0
    await store.recordings.save(r)
    now = time.time()
    assert len(await store.webhooks.claim("dead", now, 10, now + 0.2)) == 1
    assert await store.webhooks.claim("alive", now, 10, now + 30) == []
    assert len(await store.webhooks.claim("alive", now + 0.5, 10, now + 30)) == 1  # the dead one's lease ran out
    assert await store.webhooks.release("alive") == 1
    assert len(await store.webhooks.claim("third", now + 0.5, 10, now + 30)) == 1


async def test_deliveries_list_redeliver_replay_counts_and_delete(store: Store) -> None:
    await store.webhooks.save_subscription(subscription())
    r = await live_with_stream(store)
    r.started = T0
    for state in (RecordingState.ACTIVE, RecordingState.STOPPED):
        r.state = state
        await store.recordings.save(r)
    for _ in range(2):
        for d in await store.webhooks.claim("i1", time.time(), 10, time.time() + 30):
            await delivered(store, d)
    listed = await store.webhooks.deliveries("wh1", None, 10)
    assert [(d.event.sequence, d.status) for d in listed] == [(2, "DELIVERED"), (1, "DELIVERED")]  # newest first
    assert [d.event.sequence for d in await store.webhooks.deliveries("wh1", None, 1, before=listed[0].id)] == [1]
    assert await store.webhooks.deliveries("wh1", "PENDING", 10) == []
    again = await store.webhooks.redeliver("wh1", listed[1].id, time.time())
    assert again is not None and (again.status, again.attempts) == ("PENDING", 0)
    assert await store.webhooks.redeliver("wh1", 999_999, time.time()) is None
    assert await store.webhooks.replay("wh1", r.recorder_id, None, None, time.time()) == 2
    pending, failed, oldest = await store.webhooks.counts()
    assert (pending, failed) == (3, 0) and oldest is not None
    assert await store.webhooks.next_due() is not None
    assert await store.webhooks.delete_subscription("wh1")
    assert await store.webhooks.counts() == (0, 0, None)
    assert not await store.webhooks.delete_subscription("wh1")


async def test_subscriptions_are_kept_and_replaced(store: Store) -> None:
    await store.webhooks.save_subscription(subscription("b", events=["recording.started"], created=2.0))
    await store.webhooks.save_subscription(subscription("a", application="app2", created=1.0))
    assert [s.id for s in await store.webhooks.subscriptions()] == ["a", "b"]
    changed = subscription("b", url="http://127.0.0.1:9/other", events=None, previous_secret="old", previous_until=5.0)
    await store.webhooks.save_subscription(changed)
    found = await store.webhooks.subscription("b")
    assert found is not None and (found.url, found.events, found.previous_secret) == (changed.url, None, "old")
    assert [s.id for s in await store.webhooks.subscriptions("app2")] == ["a"]
    assert await store.webhooks.subscription("nope") is None
