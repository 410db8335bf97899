"""No event is lost: a receiver away for the whole recording and two minutes after it, and an instance killed
(SIGKILL) between a change and its delivery, on SQLite (the instance started again) and on PostgreSQL (the
other instance delivers). Service instances run as real processes; the receiver verifies every signature."""

from __future__ import annotations

import asyncio
import itertools
import json
import sqlite3
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import pytest

from tests.builders import ROOMS
from tests.events.receiver import Receiver, new_secret
from tests.eventually import eventually
from tests.instances import Client, Cluster, all_uploaded
from tests.janus_host import JanusHost
from tests.postgres import PostgresServer
from tests.publisher import Publisher, display

_rooms = itertools.cycle(ROOMS[len(ROOMS) // 2 :])
# tries at 0, 1, 3, 8, then every 15 s: a receiver back after 2 minutes is reached within 15 s (+-20 % jitter)
# the production schedule's shape (quick, then steady), on a tenth of its time scale: an outage of OUTAGE
# seconds outlasts the recording and many retries, as two minutes outlasts the first hours' (a setting)
OUTAGE_SCHEDULE = [0.1, 0.2, 0.5, *([1.5] * 12)]
OUTAGE = 12.0
FAST = {
    "webhook_retry_schedule_seconds": json.dumps([0.1, 0.2, 0.5, 1, 1, 1, 1, 1, 1, 1]),
    "webhook_poll_seconds": "0.2",
}


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    running = Receiver()
    running.secrets["/hook"] = new_secret()
    await running.start()
    yield running
    await running.stop()


@pytest.fixture
def cluster(tmp_path: Path, janus: JanusHost, receiver: Receiver) -> Iterator[Cluster]:
    hook = {"url": receiver.url("/hook"), "secret": receiver.secrets["/hook"]}
    running = Cluster(tmp_path, "", janus.url, lease_seconds=4.0, webhooks=[hook])
    yield running
    running.stop_all()


@pytest.fixture
async def client() -> AsyncIterator[Client]:
    async with aiohttp.ClientSession() as http:
        yield Client(http)


async def _publisher(http: aiohttp.ClientSession, janus: JanusHost, room: int) -> Publisher:
    publisher = Publisher(http, janus.url, room, display("alice"))
    await publisher.join()
    await publisher.publish()
    return publisher


def _sqlite_events(path: Path, recorder_id: str) -> list[tuple[str, int, str]]:
    with sqlite3.connect(path) as db:
        rows = db.execute(
            "SELECT id, sequence, type FROM events WHERE subject = ? ORDER BY sequence", (recorder_id,)
        ).fetchall()
    return [(r[0], r[1], r[2]) for r in rows]


async def _postgres_events(url: str, recorder_id: str) -> list[tuple[str, int, str]]:
    connection = await asyncpg.connect(url)
    try:
        rows = await connection.fetch(
            "SELECT id, sequence, type FROM events WHERE subject = $1 ORDER BY sequence", recorder_id
        )
    finally:
        await connection.close()
    return [(r["id"], r["sequence"], r["type"]) for r in rows]


def _every_event_delivered_in_order(receiver: Receiver, events: list[tuple[str, int, str]]) -> None:
    got = [(r.msg_id, r.body["data"]["sequence"], r.body["type"]) for r in receiver.at("/hook")]
    mine = [g for g in got if g[0] in {e[0] for e in events}]
    assert mine == events, f"delivered {mine}\nwritten {events}"
    assert not receiver.errors, receiver.errors
    print(f"{len(events)} events delivered, none lost; {receiver.duplicates()} duplicates accepted")


async def test_a_receiver_away_during_the_recording_and_long_after_gets_everything(
    cluster: Cluster, janus: JanusHost, client: Client, receiver: Receiver
) -> None:
    await receiver.stop()  # away: connections are refused
    a = cluster.start("A", webhook_retry_schedule_seconds=json.dumps(OUTAGE_SCHEDULE), webhook_poll_seconds="0.5")
    room = next(_rooms)
    publisher = await _publisher(client.http, janus, room)
    try:
        recording = await client.start(a, room, "c-outage")
        await client.wait(a, recording, lambda i: i["streams"] and len(i["streams"][0]["tracks"]) == 2, 10)
        await asyncio.sleep(2)
        await client.stop(a, recording)
    finally:
        await publisher.leave()
    await client.wait(a, recording, lambda i: all_uploaded(i) and i.get("manifest"), 30, step=0.2)
    async with client.http.get(f"{a.url}/metrics") as answer:
        exposition = await answer.text()
    pending = _sample(exposition, "recorder_webhook_deliveries_pending")
    assert pending >= 1 and _sample(exposition, "recorder_webhook_oldest_pending_age_seconds") > 0, exposition
    await asyncio.sleep(OUTAGE)
    back = time.monotonic()
    await receiver.start()
    events = _sqlite_events(cluster.directory / "A" / "recorder.sqlite3", recording["recorderId"])
    assert len(events) >= 8
    await eventually(
        lambda: _now(len(receiver.at("/hook"))), lambda n: n >= len(events), within=30, every=0.2, what="delivery"
    )
    print(f"everything delivered {time.monotonic() - back:.1f} s after the receiver came back")
    _every_event_delivered_in_order(receiver, events)


async def test_sqlite_an_instance_killed_before_delivery_delivers_when_started_again(
    cluster: Cluster, janus: JanusHost, client: Client, receiver: Receiver
) -> None:
    receiver.refuse = True  # nothing is delivered before the kill
    a = cluster.start("A", **FAST)
    room = next(_rooms)
    publisher = await _publisher(client.http, janus, room)
    try:
        recording = await client.start(a, room, "c-kill-sqlite")
        await client.wait(a, recording, lambda i: i["streams"] and len(i["streams"][0]["tracks"]) == 2, 10)
        await asyncio.sleep(1)
        await client.stop(a, recording)  # the change ...
        a.kill()  # ... and the instance is gone before its event could be delivered
    finally:
        await publisher.leave()
    receiver.refuse = False
    a = cluster.start("A", **FAST)  # the same instance again, on its SQLite file
    await client.wait(a, recording, lambda i: all_uploaded(i) and i.get("manifest"), 30, step=0.2)
    events = _sqlite_events(cluster.directory / "A" / "recorder.sqlite3", recording["recorderId"])
    assert "recording.stopped" in [e[2] for e in events]
    await eventually(
        lambda: _now(len(receiver.at("/hook"))), lambda n: n >= len(events), within=30, every=0.2, what="delivery"
    )
    _every_event_delivered_in_order(receiver, events)


async def test_postgresql_a_killed_instances_events_are_delivered_by_the_survivor(
    cluster: Cluster, postgres: PostgresServer, janus: JanusHost, client: Client, receiver: Receiver
) -> None:
    cluster.database_url = await postgres.new_database()
    takeover = {**FAST, "webhook_lease_seconds": "3", "webhook_timeout_seconds": "2"}
    a, b = cluster.start("A", **takeover), cluster.start("B", **takeover)
    receiver.refuse = True
    room = next(_rooms)
    publisher = await _publisher(client.http, janus, room)
    try:
        recording = await client.start(a, room, "c-kill-pg")
        assert recording["instanceId"] == "A"
        await client.wait(a, recording, lambda i: i["streams"] and len(i["streams"][0]["tracks"]) == 2, 10)
        await asyncio.sleep(2)  # A leases its deliveries and fails them against the refusing receiver
        a.kill()
        receiver.refuse = False
        info = await client.wait(b, recording, lambda i: i["state"] == "ACTIVE" and i["instanceId"] == "B", 15)
        await asyncio.sleep(1)
        await client.stop(b, {**recording, "instanceId": info["instanceId"]})
    finally:
        await publisher.leave()
    await client.wait(b, recording, lambda i: all_uploaded(i) and i.get("manifest"), 30, step=0.2)
    events = await _postgres_events(cluster.database_url, recording["recorderId"])
    types = [e[2] for e in events]
    assert "recording.recovered" in types and types.index("recording.started") < types.index("recording.recovered")
    await eventually(
        lambda: _now(len(receiver.at("/hook"))), lambda n: n >= len(events), within=30, every=0.2, what="delivery"
    )
    _every_event_delivered_in_order(receiver, events)
    recovered = next(r.body for r in receiver.at("/hook") if r.body["type"] == "recording.recovered")
    assert (recovered["data"]["previousInstanceId"], recovered["data"]["instanceId"]) == ("A", "B")


def _sample(exposition: str, name: str) -> float:
    for line in exposition.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError(f"{name} is not in the exposition")


async def _now(value: Any) -> Any:
    return value
