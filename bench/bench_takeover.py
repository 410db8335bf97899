"""Takeover benchmark: how long a recording is without an instance when its instance is killed.

Two service processes on one PostgreSQL record a two-party call (real aiortc publishers through Janus in its
namespace). Ten times: start a recording on one instance, let it record, SIGKILL that instance, and time
until the recording is ACTIVE on the other (polled every 20 ms); then stop it, and measure from the stored
files the media missing around the kill (per track: the start of the survivor's segment minus the end of the
dead instance's decoded segment, placed by the sender's clock). The killed instance is started again before
the next round.

    .venv/bin/python -m bench.bench_takeover [--lease 10 --heartbeat 2]   (root: a network namespace)
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

import aiohttp

from tests.instances import Client, Cluster, all_uploaded, segments
from tests.janus_host import start_janus
from tests.postgres import start_postgres
from tests.publisher import Publisher, display

ROOM = 1001
KILLS = 10


async def run(lease: float, heartbeat: float, kills: int = KILLS) -> None:
    janus = start_janus([ROOM])
    postgres = start_postgres()
    directory = Path(tempfile.mkdtemp(prefix="bench-takeover-"))
    cluster = Cluster(directory, await postgres.new_database(), janus.url, lease, heartbeat)
    rows: list[tuple[int, str, float, float, float]] = []
    try:
        names = ["A", "B"]
        for name in names:
            cluster.start(name)
        async with aiohttp.ClientSession() as http:
            client = Client(http)
            publishers = [Publisher(http, janus.url, ROOM, display(user)) for user in ("alice", "bob")]
            for publisher in publishers:
                await publisher.join()
                await publisher.publish()
            for round_ in range(kills):
                victim, survivor = cluster.instances[names[round_ % 2]], cluster.instances[names[1 - round_ % 2]]
                recording = await client.start(victim, ROOM, f"bench-{round_}")
                await client.wait(survivor, recording, lambda i: sum(len(s["tracks"]) for s in i["streams"]) == 4, 10)
                await asyncio.sleep(3)
                victim.kill()
                killed = time.monotonic()
                await client.wait(
                    survivor,
                    recording,
                    lambda i, s=survivor.name: i["state"] == "ACTIVE" and i["instanceId"] == s,
                    lease + 30,
                    step=0.02,
                )
                takeover = time.monotonic() - killed
                await asyncio.sleep(2)
                await client.stop(survivor, recording)
                info = await client.wait(survivor, recording, all_uploaded, 60, step=0.2)
                gaps = {
                    kind: max(
                        t[1][0] - t[0][1]
                        for (_, k), t in segments(cluster.storage, info, "mediaStart").items()
                        if k == kind
                    )
                    for kind in ("AUDIO", "VIDEO")
                }
                rows.append((round_ + 1, victim.name, takeover, gaps["AUDIO"], gaps["VIDEO"]))
                print(
                    f"kill {round_ + 1}: {victim.name} -> {survivor.name} takeover {takeover:.2f} s, "
                    f"gap audio {gaps['AUDIO']:.2f} s, video {gaps['VIDEO']:.2f} s",
                    flush=True,
                )
                cluster.start(victim.name)  # back for the next round, under the same id
            for publisher in publishers:
                await publisher.leave()
    finally:
        cluster.stop_all()
        postgres.stop()
        janus.stop()
    print(f"\nlease {lease:g} s, heartbeat {heartbeat:g} s, {kills} kills (SIGKILL mid-recording)\n")
    print("| figure | median s | max s |")
    print("|---|---|---|")
    for label, column in (
        ("takeover (kill -> ACTIVE on the survivor)", 2),
        ("media gap, audio", 3),
        ("media gap, video", 4),
    ):
        values = [float(row[column]) for row in rows]
        print(f"| {label} | {statistics.median(values):.2f} | {max(values):.2f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--lease", type=float, default=10.0)
    parser.add_argument("--heartbeat", type=float, default=2.0)
    parser.add_argument("--kills", type=int, default=KILLS)
    parser.add_argument(
        "--smoke", action="store_true", help="tiny parameters: proves the benchmark runs (the suite runs it)"
    )
    arguments = parser.parse_args()
    if arguments.smoke:
        arguments.lease, arguments.heartbeat, arguments.kills = 3.0, 0.5, 1
    asyncio.run(run(arguments.lease, arguments.heartbeat, arguments.kills))


if __name__ == "__main__":
    main()
