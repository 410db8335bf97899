"""Benchmark: what the evidence costs, each beside its floor in the same run.

- Hashing a file for its upload: MD5 alone (what the uploader needed before) against MD5 and SHA-256 in one
  pass (what it does now), MB/s over the same file.
- Verification: re-hashing stored files through the storage port (`check_object`, local storage) against
  `sha256sum` over the same files.
- The access log: rows appended through the store (each chained to the one before, in batches as the writer
  task sends them) against the same rows inserted plainly (no chain), rows/s, on SQLite.

Run: `python -m bench.bench_evidence [--megabytes 256] [--rows 20000]`.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import shutil
import subprocess
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from recorder.evidence.checks import check_object
from recorder.persistence.database import SqliteDatabase
from recorder.persistence.migrations import migrate
from recorder.persistence.ports import AccessEntry
from recorder.persistence.store import Store
from recorder.uploads.uploader import _digest
from storage_providers.local import LocalStorage


def _md5_only(path: Path) -> None:
    md5 = hashlib.md5(usedforsecurity=False)
    with path.open("rb") as file:
        while piece := file.read(1 << 20):
            md5.update(piece)


def _best(seconds: list[float]) -> float:
    return min(seconds)


async def _access(work: Path, rows: int, batch: int) -> tuple[float, float]:
    """(chained rows/s, plain rows/s) on SQLite."""
    database = await SqliteDatabase.open(work / "bench.sqlite3")
    await migrate(database)
    store = Store.on(database)
    at = datetime.now(UTC)
    entries = [
        AccessEntry(
            "org1", "app1", at, "LINK_ISSUED", f"c{i % 7}", "CLIENT", ("SUPERVISOR",), None, "c1", "r1", f"k{i}"
        )
        for i in range(rows)
    ]
    started = time.perf_counter()
    for i in range(0, rows, batch):
        await store.evidence.append(entries[i : i + batch])
    chained = rows / (time.perf_counter() - started)
    plain = [
        (e.organization_id, e.application_id, e.at.isoformat(), e.action, e.caller, e.caller_type, "[]", e.object)
        for e in entries
    ]
    started = time.perf_counter()
    for i in range(0, rows, batch):
        async with database.transaction() as db:
            await db.execute_many(
                "INSERT INTO access_log (organization_id, application_id, at, action, caller, caller_type, roles,"
                " object, prev, hash) VALUES (?,?,?,?,?,?,?,?,'','')",
                plain[i : i + batch],
            )
    flat = rows / (time.perf_counter() - started)
    await database.aclose()
    return chained, flat


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--megabytes", type=int, default=256)
    parser.add_argument("--rows", type=int, default=20000)
    parser.add_argument("--batch", type=int, default=50, help="rows per append (the writer task's batches)")
    parser.add_argument("--smoke", action="store_true", help="tiny parameters: seconds")
    args = parser.parse_args()
    if args.smoke:
        args.megabytes, args.rows = 8, 500
    work = Path(tempfile.mkdtemp(prefix="bench-evidence-"))
    try:
        storage = work / "storage"
        storage.mkdir()
        files = []
        for n in range(4):  # four track files
            path = storage / f"track{n}.webm"
            path.write_bytes(os.urandom(args.megabytes * (1 << 20) // 4))
            files.append(path)
        size = sum(p.stat().st_size for p in files) / (1 << 20)

        md5, both = [], []
        for _ in range(3):
            started = time.perf_counter()
            for p in files:
                _md5_only(p)
            md5.append(time.perf_counter() - started)
            started = time.perf_counter()
            for p in files:
                _digest(p)
            both.append(time.perf_counter() - started)

        hashes = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in files}
        ours, peer = [], []
        async with LocalStorage(storage) as provider:
            for _ in range(3):
                started = time.perf_counter()
                for p in files:
                    checked = await check_object(provider, p.name, "TRACK", p.stat().st_size, hashes[p.name])
                    assert checked.status.value == "INTACT"
                ours.append(time.perf_counter() - started)
                started = time.perf_counter()
                await asyncio.to_thread(
                    subprocess.run, ["sha256sum", *map(str, files)], check=True, capture_output=True
                )
                peer.append(time.perf_counter() - started)
        chained, flat = await _access(work, args.rows, args.batch)

        print(
            f"evidence costs ({size:.0f} MB in 4 files, {args.rows} access rows in batches of {args.batch}; best of 3)"
        )
        print(f"{'what':<44}{'this':>12}{'floor':>12}{'this / floor':>14}")
        rows = [
            ("upload hash MB/s: MD5+SHA-256 vs MD5 alone", size / _best(both), size / _best(md5)),
            ("verify MB/s: check_object vs sha256sum", size / _best(ours), size / _best(peer)),
            ("access log rows/s: chained vs plain insert", chained, flat),
        ]
        for name, this, floor in rows:
            print(f"{name:<44}{this:>12.0f}{floor:>12.0f}{this / floor:>14.2f}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    asyncio.run(main())
