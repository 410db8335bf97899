"""Webhook benchmark: 1,000 events over 50 recordings to a local receiver, then the same with one instance killed
in the middle.

Two service processes on one PostgreSQL; 50 recordings of empty Janus rooms (25 on each instance), each
started, paused and resumed 9 times and stopped: 20 events a recording, written by the instance that runs it and
delivered by either. A receiver in this process verifies every signature (`standardwebhooks`) and notes when
each message arrived; a message's delay is its arrival minus the event's `timestamp` (the change). In the second
run instance A is SIGKILLed when half of the events have arrived: its recordings are taken over by B (which
writes `recording.recovered` and goes on), and B delivers what A left. Lost = events in the database that never
arrived (must be 0); duplicates = messages that arrived more than once (at least once allows them).

    .venv/bin/python -m bench.bench_webhooks   (root: Janus runs in a network namespace)
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import tempfile
import time
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
from aiohttp import web
from standardwebhooks.webhooks import Webhook

from tests.client import API, ids
from tests.events.receiver import new_secret
from tests.instances import Client, Cluster, Instance
from tests.janus_host import start_janus
from tests.postgres import start_postgres
from tests.storage_servers import free_port

ROOMS = list(range(1001, 1026))
RECORDINGS = 50
PAUSES = 9  # started + 9 x (paused, resumed) + stopped = 20 events a recording
EXTRA: dict[str, str] = {}  # more settings of the instances (--concurrency)


class Receiver:
    def __init__(self, secret: str) -> None:
        self.webhook = Webhook(secret)
        self.arrivals: dict[str, float] = {}  # webhook-id -> first arrival
        self.delays: list[float] = []
        self.received: Counter[str] = Counter()
        self.port = free_port()
        self._waiting: list[tuple[set[str] | int, asyncio.Event]] = []

    async def until(self, wanted: set[str] | int, within: float) -> None:
        """Until these messages (or this many) have arrived, or `within` s have passed."""
        event = asyncio.Event()
        self._waiting.append((wanted, event))
        self._check()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(event.wait(), within)

    def _check(self) -> None:
        for wanted, event in self._waiting:
            if wanted <= set(self.arrivals) if isinstance(wanted, set) else len(self.arrivals) >= wanted:
                event.set()

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.text()
        payload = self.webhook.verify(body, dict(request.headers))
        msg_id = request.headers["webhook-id"]
        now = time.time()
        self.received[msg_id] += 1
        if msg_id not in self.arrivals:
            self.arrivals[msg_id] = now
            occurred = datetime.fromisoformat(payload["timestamp"].replace("Z", "+00:00")).timestamp()
            self.delays.append(now - occurred)
            self._check()
        return web.Response(status=204)


async def drive(client: Client, cluster: Cluster, home: Instance, room: int, n: int) -> None:
    """One recording's 20 changes, on its instance; when that instance is gone, on the other (which takes the
    recording over)."""
    instance = home
    recording = await client.start(instance, room, f"bench-hooks-{n}-{time.time_ns()}")
    steps = ["pause", "resume"] * PAUSES + ["stop"]
    for step in steps:
        deadline = time.monotonic() + 60
        while True:
            try:
                async with client.on(instance).request("POST", f"{API}/recordings/{ids(recording)}/{step}") as answer:
                    if answer.status == 200:
                        break
            except aiohttp.ClientError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"recording {n}: {step} did not succeed within 60 s")
            instance = next(i for i in cluster.instances.values() if i.process.poll() is None)
            await asyncio.sleep(0.2)


async def database_events(url: str) -> set[str]:
    connection = await asyncpg.connect(url)
    try:
        rows = await connection.fetch("SELECT type, COUNT(*) AS n FROM events GROUP BY type ORDER BY type")
        print("events written:", ", ".join(f"{row['type']} {row['n']}" for row in rows), flush=True)
        return {row["id"] for row in await connection.fetch("SELECT id FROM events")}
    finally:
        await connection.close()


async def one_run(kill: bool, janus_url: str, postgres: Any) -> dict[str, Any]:
    secret = new_secret()
    receiver = Receiver(secret)
    app = web.Application()
    app.router.add_post("/hook", receiver.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", receiver.port).start()
    directory = Path(tempfile.mkdtemp(prefix="bench-webhooks-"))
    hook = {"url": f"http://127.0.0.1:{receiver.port}/hook", "secret": secret}
    database = await postgres.new_database()
    cluster = Cluster(directory, database, janus_url, lease_seconds=4.0, heartbeat_seconds=1.0, webhooks=[hook])
    settings = {"webhook_lease_seconds": "3", "webhook_timeout_seconds": "2", "log_level": "WARNING", **EXTRA}
    try:
        a, b = cluster.start("A", **settings), cluster.start("B", **settings)
        async with aiohttp.ClientSession() as http:
            client = Client(http)
            began = time.time()
            drivers = [
                asyncio.create_task(drive(client, cluster, (a, b)[n % 2], ROOMS[n % len(ROOMS)], n))
                for n in range(RECORDINGS)
            ]
            killed = None
            if kill:
                await receiver.until(RECORDINGS * (2 + 2 * PAUSES) // 2, 120)
                a.kill()
                killed = time.time()
            await asyncio.gather(*drivers)
            written = await database_events(database)
            await receiver.until(written, 60)
            ended = max(receiver.arrivals.values())
        lost = written - set(receiver.arrivals)
        delays = sorted(receiver.delays)
        return {
            "run": "A killed mid-run" if kill else "two instances",
            "events": len(written),
            "delivered": len(written & set(receiver.arrivals)),
            "lost": len(lost),
            "duplicates": sum(n - 1 for n in receiver.received.values()),
            "throughput": len(written) / (ended - began),
            "p50": statistics.median(delays) * 1000,
            "p99": delays[int(len(delays) * 0.99) - 1] * 1000,
            "max": delays[-1] * 1000,
            "killed_at": f"{killed - began:.1f} s" if killed else "",
        }
    finally:
        cluster.stop_all()
        await runner.cleanup()


async def run() -> None:
    janus = start_janus(ROOMS)
    postgres = start_postgres()
    try:
        rows = [await one_run(False, janus.url, postgres), await one_run(True, janus.url, postgres)]
    finally:
        postgres.stop()
        janus.stop()
    print(f"\n{RECORDINGS} recordings x {2 + 2 * PAUSES} changes, two instances on PostgreSQL, one local receiver\n")
    print(
        "| run | events written | delivered | lost | duplicates | events/s (first change to last delivery) "
        "| p50 ms | p99 ms | max ms |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['run']}{' (at ' + r['killed_at'] + ')' if r['killed_at'] else ''} | {r['events']} | "
            f"{r['delivered']} | {r['lost']} | {r['duplicates']} | {r['throughput']:.0f} | {r['p50']:.1f} | "
            f"{r['p99']:.1f} | {r['max']:.1f} |"
        )


def main() -> None:
    global RECORDINGS, PAUSES
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--recordings", type=int, default=RECORDINGS)
    parser.add_argument("--pauses", type=int, default=PAUSES)
    parser.add_argument("--concurrency", type=int, default=None, help="webhook_concurrency of each instance")
    parser.add_argument(
        "--smoke", action="store_true", help="tiny parameters: proves the benchmark runs (the suite runs it)"
    )
    arguments = parser.parse_args()
    RECORDINGS, PAUSES = arguments.recordings, arguments.pauses
    if arguments.smoke:
        RECORDINGS, PAUSES = 2, 1
    if arguments.concurrency:
        EXTRA["webhook_concurrency"] = str(arguments.concurrency)
    asyncio.run(run())


if __name__ == "__main__":
    main()
