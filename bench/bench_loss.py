"""Benchmark: what packet loss costs a recording, in one run.

A VP8 and an H.264 publisher (aiortc, live encoders that answer keyframe requests) in a Janus room whose host
loses a share of every UDP packet it sends, and delays them (tests/netem.py: NFQUEUE, this kernel has no
netem); the recorder is a process of its own on its embedded defaults. Each row records 3 s clean, 10 s
impaired and 4 s clean again, then decodes every file. Prints per codec: video frames written / sent, decode
errors, the longest gap in the video, the time from the loss's end to video back, audio written / sent, and
the keyframe requests the recorder sent (from its log).

Run as root: `python -m bench.bench_loss [--lossy 10]`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import aiohttp

from api.credentials import sha256_hash
from bench.bench_recording import free_port, wait_port
from tests.client import ApiClient
from tests.janus_host import start_janus
from tests.loss import TrackReport, record_with_loss

ROOT = Path(__file__).resolve().parent.parent
API = "/rtc-recorder/api"
KEY = secrets.token_urlsafe(32)
ROWS = [("0 %", 0.0, 0.0), ("2 %", 0.02, 0.0), ("5 %", 0.05, 0.0), ("10 %", 0.10, 0.0), ("2 % + jitter", 0.02, 0.1)]
REQUESTS = re.compile(r"track (\S+): .* (\d+) keyframe requests")


def service(work: Path, janus_url: str, port: int) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "RECORDER_PORT": str(port),
        "RECORDER_DATA_DIR": str(work),
        "RECORDER_API_KEYS": json.dumps(
            [
                {
                    "name": "bench",
                    "key_hash": sha256_hash(KEY),
                    "organization_id": "org1",
                    "roles": ["AGENT", "SUPERVISOR"],
                }
            ]
        ),
        "RECORDER_APPLICATIONS": json.dumps(
            [
                {
                    "id": "app1",
                    "organization_id": "org1",
                    "janus": {"url": janus_url},
                    "storage": {"provider": "LOCAL_STORAGE", "path": str(work / "storage")},
                }
            ]
        ),
    }
    log = (work / "service.log").open("wb")
    return subprocess.Popen([sys.executable, "-m", "api"], cwd=ROOT, env=env, stdout=log, stderr=log)


async def run(args: argparse.Namespace) -> None:
    work = Path(tempfile.mkdtemp(prefix="bench-loss-"))
    janus = start_janus(list(range(3001, 3011)))
    port = free_port()
    recorder = service(work, janus.url, port)
    results: list[tuple[str, list[TrackReport]]] = []
    try:
        wait_port(port)
        async with aiohttp.ClientSession() as http:
            api = ApiClient(http, f"http://127.0.0.1:{port}", KEY)

            for n, (name, loss, jitter) in enumerate(ROWS[:2] if args.smoke else ROWS):
                reports = await record_with_loss(
                    api,
                    work / "storage",
                    janus,
                    3001 + n,
                    f"loss-{n}",
                    loss,
                    clean=3,
                    lossy=args.lossy,
                    after=4,
                    jitter=jitter,
                )
                results.append((name, reports))
                print(f"{name}: done", flush=True)
    finally:
        recorder.terminate()
        recorder.wait(30)
        janus.stop()
    requests = {m[1]: int(m[2]) for m in REQUESTS.finditer((work / "service.log").read_text())}
    shutil.rmtree(work, ignore_errors=True)
    print()
    print(
        f"{'loss':<13} {'codec':<5} {'video written/sent':>19} {'decode errors':>13} {'longest gap s':>13} "
        f"{'back after s':>12} {'audio written/sent':>19} {'keyframe requests':>17}"
    )
    for name, reports in results:
        for codec in ("vp8", "h264"):
            video = next(r for r in reports if r.user == codec and r.kind == "VIDEO")
            audio = next(r for r in reports if r.user == codec and r.kind == "AUDIO")
            back = f"{video.back_after:.2f}" if video.back_after is not None else "never"
            print(
                f"{name:<13} {codec:<5} {f'{video.frames}/{video.sent}':>11} {video.share:>6.1%} "
                f"{video.decode_errors + audio.decode_errors:>13} {video.longest_gap:>13.2f} {back:>12} "
                f"{f'{audio.frames}/{audio.sent}':>11} {audio.share:>6.1%} {requests.get(video.track_id, 0):>17}"
            )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--lossy", type=float, default=10.0, help="seconds of impaired network a row")
    parser.add_argument(
        "--smoke", action="store_true", help="tiny parameters: proves the benchmark runs (the suite runs it)"
    )
    args = parser.parse_args()
    if args.smoke:
        args.lossy = 1.0
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
