"""Machine-loss benchmark: what a lost machine costs a call.

Two service processes on one PostgreSQL, the application's storage on a real server (s3rver or Azurite), a
call of four publishers (real aiortc publishers through Janus in its namespace). Each round: start a recording
on one instance, let it record, then lose that machine: SIGKILL it *and delete its data folder* (its spool).
Printed per kill: the media lost per track (from the end of the dead instance's stored file to the kill), the
takeover (from the kill to the survivor's first frame written, and to its last track's first frame), and
whether every stored file decodes with errors made fatal. Then planned drains: SIGTERM of the owner, and the
gap per track between the file it closed and the survivor's next one. After all rounds, the bucket is listed:
segment objects left behind, and track files with other than one object each.

    .venv/bin/python -m bench.bench_machine_loss [--kills 20 --drains 5 --storage s3rver|azurite]   (root)
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

from tests.encoded import problems
from tests.instances import Client, Cluster, Instance, all_uploaded, decode, parse_time
from tests.janus_host import start_janus
from tests.postgres import start_postgres
from tests.publisher import Publisher, display
from tests.storage_servers import (
    AZURITE_ACCOUNT,
    AZURITE_KEY,
    BUCKET,
    S3RVER_KEY,
    Server,
    profile_data,
    start_azurite,
    start_s3rver,
)

ROOM = 1001
USERS = ("alice", "bob", "carol", "dave")
TRACKS = 2 * len(USERS)


def _p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]


def _stored_keys(kind: str, server: Server) -> list[str]:
    if kind == "s3rver":
        import boto3

        s3 = boto3.client(
            "s3",
            endpoint_url=server.url,
            aws_access_key_id=S3RVER_KEY[0],
            aws_secret_access_key=S3RVER_KEY[1],
            region_name="us-east-1",
        )
        keys: list[str] = []
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET):
            keys += [item["Key"] for item in page.get("Contents", [])]
        return keys
    from azure.storage.blob import BlobServiceClient

    service = BlobServiceClient(
        f"{server.url}/{AZURITE_ACCOUNT}", credential={"account_name": AZURITE_ACCOUNT, "account_key": AZURITE_KEY}
    )
    return [blob.name for blob in service.get_container_client(BUCKET).list_blobs()]


class Round:
    def __init__(self, http: aiohttp.ClientSession, directory: Path) -> None:
        self.http = http
        self.directory = directory
        self.undecodable: list[str] = []

    async def files(self, info: dict[str, Any]) -> dict[tuple[str, str], list[tuple[float, float, int]]]:
        """Per (user, kind): each track's (start, end, frames), from its stored file fetched by its URL and
        decoded with errors made fatal."""
        out: dict[tuple[str, str], list[tuple[float, float, int]]] = {}
        for stream in info["streams"]:
            for track in stream["tracks"]:
                path = self.directory / f"{track['id']}.{'mp4' if track['codec'] == 'h264' else 'webm'}"
                async with self.http.get(track["url"]) as response:
                    response.raise_for_status()
                    path.write_bytes(await response.read())
                decoded, found = await asyncio.to_thread(problems, path)
                if found or not decoded:
                    self.undecodable.append(f"{track['id']}: {found[:2]}")
                    continue
                frames, seconds = await asyncio.to_thread(decode, path)
                start = parse_time(track.get("mediaStart") or track["started"])  # (the sender's clock)
                out.setdefault((stream["userId"], track["type"]), []).append((start, start + seconds, frames))
                path.unlink()
        return {key: sorted(value) for key, value in out.items()}


async def run(kills: int, drains: int, storage: str, record: float) -> None:
    janus = start_janus([ROOM])
    postgres = start_postgres()
    directory = Path(tempfile.mkdtemp(prefix="bench-machine-loss-"))
    server = (start_s3rver if storage == "s3rver" else start_azurite)(directory)
    cluster = Cluster(directory, await postgres.new_database(), janus.url, lease_seconds=10.0, heartbeat_seconds=2.0)
    cluster.profile = profile_data(storage, server)
    lost_rows: list[tuple[int, str, list[float], float, float]] = []  # (round, victim, losses, first, last)
    drain_gaps: list[float] = []
    try:
        names = ["A", "B"]
        for name in names:
            cluster.start(name)
        async with aiohttp.ClientSession() as http:
            client = Client(http)
            measured = Round(http, directory)
            publishers = [Publisher(http, janus.url, ROOM, display(user)) for user in USERS]
            for publisher in publishers:
                await publisher.join()
                await publisher.publish()
            for round_ in range(kills + drains):
                drain = round_ >= kills
                victim, survivor = cluster.instances[names[round_ % 2]], cluster.instances[names[1 - round_ % 2]]
                recording = await client.start(victim, ROOM, f"bench-{round_}")
                await client.wait(
                    survivor, recording, lambda i: sum(len(s["tracks"]) for s in i["streams"]) == TRACKS, 10
                )
                await asyncio.sleep(record)
                if drain:
                    await asyncio.to_thread(victim.terminate)
                else:
                    _lose(cluster, victim)
                ended = time.time()
                await client.wait(
                    survivor,
                    recording,
                    lambda i, s=survivor.name: i["state"] == "ACTIVE" and i["instanceId"] == s,
                    30,
                    step=0.02,
                )
                await asyncio.sleep(2)
                await client.stop(survivor, recording)
                info = await client.wait(survivor, recording, all_uploaded, 60, step=0.2)
                pieces = await measured.files(info)
                if drain:
                    gaps = [t[1][0] - t[0][1] for t in pieces.values() if len(t) >= 2]
                    drain_gaps += gaps
                    print(
                        f"drain {round_ - kills + 1}: gaps {' '.join(f'{g:.2f}' for g in sorted(gaps))} s", flush=True
                    )
                else:
                    losses = [ended - t[0][1] for t in pieces.values() if len(t) >= 2]
                    firsts = [t[1][0] - ended for t in pieces.values() if len(t) >= 2]
                    missing = TRACKS - len(losses)
                    losses += [float("inf")] * missing  # a track with nothing before the kill lost everything
                    row = (round_ + 1, victim.name, losses, min(firsts, default=0.0), max(firsts, default=0.0))
                    lost_rows.append(row)
                    print(
                        f"kill {round_ + 1}: {victim.name} -> {survivor.name}: media lost per track "
                        f"{' '.join(f'{x:.2f}' for x in sorted(losses))} s; first frame after {row[3]:.2f} s, "
                        f"every track after {row[4]:.2f} s",
                        flush=True,
                    )
                cluster.start(victim.name)  # a new machine under the same name, for the next round
            for publisher in publishers:
                await publisher.leave()
            await asyncio.sleep(3)  # the last segments' removal
        keys = await asyncio.to_thread(_stored_keys, storage, server)
        undecodable = measured.undecodable
    finally:
        cluster.stop_all()
        server.stop()
        postgres.stop()
        janus.stop()
        shutil.rmtree(directory, ignore_errors=True)
    _table(lost_rows, drain_gaps, keys, undecodable, storage)


def _lose(cluster: Cluster, victim: Instance) -> None:
    victim.kill()
    shutil.rmtree(cluster.directory / victim.name)


def _table(
    rows: list[tuple[int, str, list[float], float, float]],
    drains: list[float],
    keys: list[str],
    undecodable: list[str],
    storage: str,
) -> None:
    losses = [x for row in rows for x in row[2]]
    print(f"\n{len(rows)} kills (SIGKILL + spool deleted), {storage}, {len(USERS)} publishers, default lease 10 s\n")
    print("| figure | median | p99 | max | target |")
    print("|---|---|---|---|---|")
    if rows:
        for label, values, target in (
            ("media lost per track, s", losses, "p99 <= 2"),
            ("takeover: kill -> first frame, s", [r[3] for r in rows], "p99 < 1.5"),
            ("takeover: kill -> every track's first frame, s", [r[4] for r in rows], ""),
        ):
            print(f"| {label} | {statistics.median(values):.2f} | {_p99(values):.2f} | {max(values):.2f} | {target} |")
    if drains:
        print(
            f"| drain (SIGTERM) gap per track, s | {statistics.median(drains):.2f} | {_p99(drains):.2f} |"
            f" {max(drains):.2f} | p99 < 1 |"
        )
    segments = [key for key in keys if ".segments/" in key]
    print(f"| undecodable files | {len(undecodable)} | | | 0 |")
    print(f"| segment objects left in storage | {len(segments)} | | | 0 |")
    for line in undecodable[:5]:
        print(f"  undecodable: {line}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--drains", type=int, default=5)
    parser.add_argument("--storage", choices=("s3rver", "azurite"), default="s3rver")
    parser.add_argument("--record", type=float, default=4.0, help="seconds recorded before each loss")
    parser.add_argument(
        "--smoke", action="store_true", help="tiny parameters: proves the benchmark runs (the suite runs it)"
    )
    arguments = parser.parse_args()
    if arguments.smoke:
        arguments.kills, arguments.drains, arguments.record = 1, 1, 3.0
    asyncio.run(run(arguments.kills, arguments.drains, arguments.storage, arguments.record))


if __name__ == "__main__":
    main()
