"""Benchmark: the API's read path under load, with 0 and with 16 publishers being recorded, beside a bare
aiohttp app on the same machine, in one run.

`wrk -t2 -c16` (Debian's `wrk`) loads one read at a time for `--seconds`: a recording's state, the recording
(with its signed track URLs) and the conversation. With 0 publishers the recording read is a stopped one (the
database answers); with 16 it is the live one, and the 16 streams keep sending through every load: their files
are counted afterwards against the frames sent, beside the same 16 streams recorded without load just before.
Prints a table:

    target, publishers, read, req/s, p50 ms, p99 ms

and the frames written / sent of the 16 streams. Run as root: `python -m bench.bench_api [--seconds 5]`.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from bench.bench_recording import (
    API,
    API_KEY,
    Tally,
    child,
    count_frames,
    expect,
    free_port,
    http_json,
    send,
    service_env,
    start_publishers,
    start_recording,
    wait_port,
    wait_tracks,
)
from bench.media import encode_clip
from tests.janus_host import JanusHost, start_janus

PUBLISHERS = 16


@dataclass
class Load:
    target: str
    publishers: int
    read: str
    rate: float
    p50: float
    p99: float
    errors: int


def _millis(text: str) -> float:
    value, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", text).groups()  # type: ignore[union-attr]
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def wrk(url: str, seconds: float) -> tuple[float, float, float, int]:
    """(requests/s, p50 ms, p99 ms, non-2xx answers and socket errors) of `wrk -t2 -c16` on a GET of `url`."""
    out = subprocess.run(
        ["wrk", "-t2", "-c16", f"-d{seconds:.0f}s", "--latency", "-H", f"Authorization: Bearer {API_KEY}", url],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p50 = _millis(re.search(r"\s50%\s+(\S+)", out).group(1))  # type: ignore[union-attr]
    p99 = _millis(re.search(r"\s99%\s+(\S+)", out).group(1))  # type: ignore[union-attr]
    errors = sum(int(n) for n in re.findall(r"Non-2xx or 3xx responses: (\d+)", out))
    errors += sum(int(n) for n in re.findall(r"(?:connect|read|write|timeout) (\d+)", out))
    return rate, p50, p99, errors


def reads(base: str, ids: str) -> dict[str, str]:
    conversation = ids.split("/")[0]
    return {
        "state": f"{base}/recordings/{ids}/state",
        "recording": f"{base}/recordings/{ids}",
        "conversation": f"{base}/recordings/{conversation}",
    }


def load(target: str, publishers: int, urls: dict[str, str], seconds: float) -> list[Load]:
    rows = []
    for read, url in urls.items():
        rows.append(Load(target, publishers, read, *wrk(url, seconds)))
        print(f"  {target} {publishers} {read}: {rows[-1].rate:,.0f} req/s", flush=True)
    return rows


def udp_drops() -> int:
    """Datagrams this network namespace dropped for a full receive buffer (the recorder's media sockets)."""
    header, values = (
        line.split()[1:] for line in Path("/proc/net/snmp").read_text().splitlines() if line.startswith("Udp:")
    )
    return int(dict(zip(header, values, strict=True))["RcvbufErrors"])


def record_sixteen(
    janus: JanusHost,
    base: str,
    data: Path,
    cache: Path,
    clip: list[bytes],
    conversation: str,
    seconds: float,
    rows: list[Load] | None,
) -> tuple[Tally, int]:
    """16 publishers recorded for as long as the three loads take; loaded with them when `rows` is given (the
    loads' figures are added to it). The frames written and sent."""
    ids = start_recording(base, 3002, conversation)
    drops = udp_drops()
    duration = 3 * (seconds + 1) + 2  # the publishers send through every load
    publishers = start_publishers(janus, 3002, PUBLISHERS, cache, duration)
    wait_tracks(base, ids, 2 * PUBLISHERS)
    go = time.time() + 0.5
    send(publishers, f"go {go}")
    time.sleep(max(0.0, go - time.time()) + 1)
    if rows is not None:
        rows += load("recorder", PUBLISHERS, reads(base, ids), seconds)
    sent = json.loads(expect(publishers, "{"))
    drops = udp_drops() - drops
    publishers.wait(30)
    time.sleep(1.0)
    http_json("POST", f"{base}/recordings/{ids}/stop")
    return count_frames(base, ids, data, sent, clip), drops


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument(
        "--smoke", action="store_true", help="tiny parameters: proves the benchmark runs (the suite runs it)"
    )
    args = parser.parse_args()
    if args.smoke:
        args.seconds = 1.0
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed (Debian package `wrk`)")
    work = Path(tempfile.mkdtemp(prefix="bench-api-"))
    cache = Path(tempfile.gettempdir()) / "recorder-bench-clip-v2.pkl"
    clip, _ = encode_clip(cache)
    rows: list[Load] = []
    bare_port = free_port()
    bare = child("bench.bare_app", str(bare_port))
    janus = start_janus([3001, 3002])
    port = free_port()
    data = work / "data"
    service = child("api", env={**service_env(janus, port, data), "RECORDER_LOG_LEVEL": "WARNING"})
    base = f"http://127.0.0.1:{port}{API}"
    try:
        wait_port(bare_port)
        rows += load("bare aiohttp", 0, reads(f"http://127.0.0.1:{bare_port}{API}", "c/r/i"), args.seconds)
        wait_port(port)
        stopped = start_recording(base, 3001, "bench-idle")
        http_json("POST", f"{base}/recordings/{stopped}/stop")
        rows += load("recorder", 0, reads(base, stopped), args.seconds)
        quiet = record_sixteen(janus, base, data, cache, clip, "bench-quiet", args.seconds, None)
        loaded = record_sixteen(janus, base, data, cache, clip, "bench-loaded", args.seconds, rows)
    finally:
        for process in (service, bare):
            process.terminate()
            process.wait(30)
        janus.stop()
        shutil.rmtree(work, ignore_errors=True)
    print()
    print(f"{'target':<13} {'publishers':>10} {'read':<13} {'req/s':>9} {'p50 ms':>7} {'p99 ms':>7} {'errors':>6}")
    floor = {r.read: r.rate for r in rows if r.target == "bare aiohttp"}
    for r in rows:
        print(
            f"{r.target:<13} {r.publishers:>10} {r.read:<13} {r.rate:>9,.0f} {r.p50:>7.2f} {r.p99:>7.2f} {r.errors:>6}"
            + (f"   {r.rate / floor[r.read]:.2f}x bare" if r.target != "bare aiohttp" else "")
        )
    print()
    print(f"{PUBLISHERS} streams, frames written / sent   {'no load':>24} {'under the load':>24}")
    for kind in ("video", "audio"):
        cells = [
            f"{t.written[kind]}/{t.sent[kind]} {t.written[kind] / max(t.sent[kind], 1):.2%}" for t, _ in (quiet, loaded)
        ]
        print(f"{kind:<36} {cells[0]:>24} {cells[1]:>24}")
    print(f"{'UDP datagrams dropped (full buffer)':<36} {quiet[1]:>24} {loaded[1]:>24}")


if __name__ == "__main__":
    main()
