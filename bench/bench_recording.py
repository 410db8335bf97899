"""Benchmark: N publishers recorded at once, passthrough vs aiortc's MediaRecorder, in one run.

Janus runs in its own network namespace (as in the tests); publishers run in another process and send
pre-encoded 640x480 30 fps VP8 (~1 Mbps) + Opus. For each N the recorder is a separate process whose CPU
time is read from /proc between `go` and the end of sending. Prints a table:

    recorder, N, CPU % of one core per A/V stream, video frames written / sent, audio frames written / sent

`--composing 8` records 8 publishers (16 streams) again while compositions run beside the recorder, one after
the other, as the service runs them (niced, on one encoder thread; a four-party call composed to 1280x720):
frames written / sent tell whether composing costs the recording a frame.

Run as root: `python -m bench.bench_recording [--seconds 10] [--counts 1,4,8,16] [--baseline 1,4]
[--composing 8,16]`.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import av

from api.credentials import sha256_hash
from bench.bench_composition import call_files, plan_for
from bench.media import SECONDS, encode_clip
from tests.janus_host import JanusHost, start_janus

ROOT = Path(__file__).resolve().parent.parent
API = "/rtc-recorder/api"
TICKS = os.sysconf("SC_CLK_TCK")
API_KEY = secrets.token_urlsafe(32)  # the bench's key to the recorder it starts


@dataclass
class Row:
    recorder: str
    count: int
    cpu_per_stream: float
    video_written: int
    video_sent: int
    audio_written: int
    audio_sent: int
    idle_mib: float = 0.0  # the recorder's resident memory in the room before the publishers came
    mib_per_stream: float = 0.0  # what each A/V stream added to it while recording


def rss_mib(pid: int) -> float:
    """A process's resident memory (VmRSS), MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for {pid}")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def child(module: str, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", module, *args],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
    )


def expect(process: subprocess.Popen[str], word: str) -> str:
    assert process.stdout is not None
    line = process.stdout.readline()
    if not line.startswith(word):
        raise RuntimeError(f"{process.args!r}: expected {word!r}, got {line!r}")
    return line


def send(process: subprocess.Popen[str], line: str) -> None:
    assert process.stdin is not None
    process.stdin.write(line + "\n")
    process.stdin.flush()


def http_json(method: str, url: str, body: dict[str, Any] | None = None) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {API_KEY}"}
    request = urllib.request.Request(url, data=data, method=method, headers=headers)
    with urllib.request.urlopen(request, timeout=30) as answer:
        return json.load(answer)


def start_publishers(janus: JanusHost, room: int, count: int, cache: Path, seconds: float) -> subprocess.Popen[str]:
    """The publishers' process, once every publisher is up."""
    args = ["--janus", janus.url, "--room", str(room), "--count", str(count), "--cache", str(cache)]
    publishers = child("bench.publishers", *args, "--seconds", str(seconds))
    expect(publishers, "ready")
    return publishers


def frames_in(path: Path, kind: str) -> int:
    with av.open(str(path)) as container:
        stream = container.streams.video[0] if kind == "video" else container.streams.audio[0]
        return sum(1 for p in container.demux(stream) if p.size)


def first_packet(path: Path) -> bytes:
    with av.open(str(path)) as container:
        return next(bytes(p) for p in container.demux(container.streams.video[0]) if p.size)


def video_sent_since(times: list[float], clip: list[bytes], first: bytes, started: float) -> int:
    """Frames sent from the one the file starts with: found by its bytes (the clip's frames all differ),
    the last time it was sent before the recorder wrote it."""
    k = clip.index(first)
    # `started` dates the first frame by its media time, which can be a few ms before the sender's own clock
    # says it handed the frame over
    n = max(i for i in range(k, len(times), len(clip)) if times[i] <= started + 0.1)
    return len(times) - n


def sent_since(sent: dict[str, dict[str, list[float]]], user: str, kind: str, first: float) -> int:
    """Frames the publisher sent from the moment the recorder had the track's first frame."""
    return sum(1 for t in sent[user][kind] if t >= first - 0.02)


class Tally:
    def __init__(self) -> None:
        self.written = {"audio": 0, "video": 0}
        self.sent = {"audio": 0, "video": 0}

    def add(self, kind: str, written: int, sent: int) -> None:
        self.written[kind] += written
        self.sent[kind] += sent

    def row(self, recorder: str, count: int, cpu: float) -> Row:
        return Row(
            recorder,
            count,
            100 * cpu / count,
            self.written["video"],
            self.sent["video"],
            self.written["audio"],
            self.sent["audio"],
        )


class Composing:
    """Compositions run back to back beside the recording, as the service runs them (the worker process, niced
    10, on one encoder thread): a four-party call of 640x480 cameras composed to 1280x720."""

    def __init__(self, plan: Path) -> None:
        self._plan = plan
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.done = 0
        self.cpu = 0.0
        self.wall = 0.0

    def __enter__(self) -> Composing:
        self._began = time.monotonic()
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()
        self.wall = time.monotonic() - self._began

    def _run(self) -> None:
        while not self._stop.is_set():
            worker = subprocess.Popen(
                [sys.executable, "-m", "recorder.compositions.worker", str(self._plan)],
                cwd=ROOT,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            while True:
                pid, status, usage = os.wait4(worker.pid, os.WNOHANG)
                if pid:
                    self.cpu += usage.ru_utime + usage.ru_stime
                    self.done += os.waitstatus_to_exitcode(status) == 0
                    break
                if self._stop.is_set():
                    worker.kill()
                time.sleep(0.05)


def composition_plan(work: Path, call_seconds: float) -> Path:
    """The plan of a composition of bench_composition's call (four 640x480 cameras) to 1280x720."""
    call = call_files(Path(tempfile.gettempdir()) / "recorder-bench-composition", call_seconds)
    plan = plan_for("VIDEO", work / "composed.mp4", call_seconds, call, (1280, 720))
    path = work / "plan.json"
    path.write_text(plan.model_dump_json())
    return path


def run_passthrough(
    janus: JanusHost,
    room: int,
    count: int,
    seconds: float,
    cache: Path,
    work: Path,
    clip: list[bytes],
    composing: Path | None = None,
) -> Row:
    port = free_port()
    data = work / f"pass-{count}{'-composing' if composing else ''}"
    service = child("api", env=service_env(janus, port, data))
    base = f"http://127.0.0.1:{port}{API}"
    try:
        wait_port(port)
        ids = start_recording(base, room, f"bench-{count}")
        time.sleep(1.0)
        idle = rss_mib(service.pid)
        publishers = start_publishers(janus, room, count, cache, seconds)
        wait_tracks(base, ids, 2 * count)
        go = time.time() + 0.5
        send(publishers, f"go {go}")
        time.sleep(max(0.0, go - time.time()))
        cpu0, pub0, wall0 = cpu_seconds(service.pid), cpu_seconds(publishers.pid), time.monotonic()
        with Composing(composing) if composing else contextlib.nullcontext() as compositions:
            sent = json.loads(expect(publishers, "{"))
        if compositions is not None:
            print(
                f"N={count}: compositions beside it used {compositions.cpu / compositions.wall:.2f} cores"
                f" ({compositions.done} finished)",
                flush=True,
            )
        cpu = (cpu_seconds(service.pid) - cpu0) / (time.monotonic() - wall0)
        recording = rss_mib(service.pid)
        publishers_cpu = 100 * (cpu_seconds(publishers.pid) - pub0) / (time.monotonic() - wall0)
        print(f"N={count}: the publishers' process used {publishers_cpu:.0f} % of a core", flush=True)
        publishers.wait(30)
        time.sleep(1.0)
        http_json("POST", f"{base}/recordings/{ids}/stop")
        tally = count_frames(base, ids, data, sent, clip)
    finally:
        service.terminate()
        service.wait(30)
    name = "passthrough+composing" if composing else "passthrough"
    return dataclasses.replace(tally.row(name, count, cpu), idle_mib=idle, mib_per_stream=(recording - idle) / count)


def service_env(janus: JanusHost, port: int, data: Path) -> dict[str, str]:
    """The recorder's settings: the bench's API key, one application on `janus` storing under `data`."""
    return {
        "RECORDER_PORT": str(port),
        "RECORDER_DATA_DIR": str(data),
        "RECORDER_LOG_LEVEL": "INFO",
        "RECORDER_API_KEYS": json.dumps(
            [
                {
                    "name": "bench",
                    "key_hash": sha256_hash(API_KEY),
                    "organization_id": "bench",
                    "roles": ["AGENT", "SUPERVISOR"],
                }
            ]
        ),
        "RECORDER_APPLICATIONS": json.dumps(
            [
                {
                    "id": "bench",
                    "organization_id": "bench",
                    "janus": {"url": janus.url},
                    "storage": {"provider": "LOCAL_STORAGE", "path": str(data / "storage")},
                }
            ]
        ),
    }


def start_recording(base: str, room: int, conversation: str) -> str:
    """Start recording `room`; the recording's ids as a path."""
    event = http_json(
        "POST",
        f"{base}/recordings/start",
        {"applicationId": "bench", "conferenceId": str(room), "conversationId": conversation},
    )
    assert event["state"] == "ACTIVE", event
    return f"{event['conversationId']}/{event['recorderId']}/{event['instanceId']}"


def wait_tracks(base: str, ids: str, count: int) -> None:
    deadline = time.monotonic() + 30
    while sum(len(s["tracks"]) for s in http_json("GET", f"{base}/recordings/{ids}")["streams"]) < count:
        if time.monotonic() > deadline:
            raise RuntimeError("the recorder did not get every track within 30 s")
        time.sleep(0.1)


def count_frames(base: str, ids: str, data: Path, sent: dict[str, dict[str, list[float]]], clip: list[bytes]) -> Tally:
    """Frames in the stored files of a stopped recording (once every file is stored: its uploads may still be
    under way when it stops), beside the frames sent since each file began."""
    deadline = time.monotonic() + 60
    while True:
        info = http_json("GET", f"{base}/recordings/{ids}")
        tracks = [t for s in info["streams"] for t in s["tracks"]]
        if all("location" in t["storage"].get("objectStorage", {}) for t in tracks):
            break
        if time.monotonic() > deadline:
            raise RuntimeError(f"the recording's files were not stored within 60 s: {ids}")
        time.sleep(0.2)
    tally = Tally()
    for stream in info["streams"]:
        for track in stream["tracks"]:
            kind = track["type"].lower()
            first = datetime.fromisoformat(track["started"].replace("Z", "+00:00")).timestamp()
            path = data / "storage" / track["storage"]["objectStorage"]["location"]
            user = stream["userId"]
            if kind == "video":
                since = video_sent_since(sent[user]["video"], clip, first_packet(path), first)
            else:
                since = sent_since(sent, user, kind, first)
            tally.add(kind, frames_in(path, kind), since)
    return tally


def run_mediarecorder(janus: JanusHost, room: int, count: int, seconds: float, cache: Path, work: Path) -> Row:
    out = work / f"mr-{count}"
    out.mkdir(parents=True)
    publishers = start_publishers(janus, room, count, cache, seconds)
    bot = child(
        "bench.mediarecorder_bot", "--janus", janus.url, "--room", str(room), "--count", str(count), "--out", str(out)
    )
    try:
        expect(bot, "ready")
        go = time.time() + 0.5
        send(publishers, f"go {go}")
        send(bot, f"go {go}")
        time.sleep(max(0.0, go - time.time()))
        cpu0, wall0 = cpu_seconds(bot.pid), time.monotonic()
        sent = json.loads(expect(publishers, "{"))
        cpu = (cpu_seconds(bot.pid) - cpu0) / (time.monotonic() - wall0)
        publishers.wait(30)
        time.sleep(1.0)
        send(bot, "stop")
        result = json.loads(expect(bot, "{"))
    finally:
        bot.kill()
        bot.wait()
    tally = Tally()
    for track in result["tracks"]:
        kind = track["kind"]
        tally.add(kind, frames_in(Path(track["path"]), kind), sent_since(sent, track["userId"], kind, track["first"]))
    return tally.row("MediaRecorder", count, cpu)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"the recorder did not listen on {port}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--counts", default="1,4,8,16")
    parser.add_argument("--baseline", default="1,4")
    parser.add_argument("--keep", action="store_true", help="keep the recorded files (their folder is printed)")
    parser.add_argument(
        "--composing",
        default="",
        help="counts recorded again while compositions run beside them (a 720p one after the other)",
    )
    parser.add_argument(
        "--smoke", action="store_true", help="tiny parameters: proves the benchmark runs (the suite runs it)"
    )
    args = parser.parse_args()
    if args.smoke:
        args.seconds, args.counts, args.baseline, args.composing = 2.0, "1", "1", "1"
    work = Path(tempfile.mkdtemp(prefix="bench-"))
    cache = Path(tempfile.gettempdir()) / "recorder-bench-clip-v2.pkl"
    video, audio = encode_clip(cache)
    print(
        f"clip: {len(video)} VP8 frames, {sum(map(len, video)) * 8 / SECONDS / 1e6:.2f} Mbit/s; "
        f"{len(audio)} Opus packets; largest frame {max(map(len, video)) // 1024} KiB"
    )
    rooms = iter(range(2001, 2101))
    janus = start_janus(list(range(2001, 2101)))
    rows: list[Row] = []
    try:
        for n in (int(x) for x in args.baseline.split(",") if x):
            rows.append(run_mediarecorder(janus, next(rooms), n, args.seconds, cache, work))
        for n in (int(x) for x in args.counts.split(",") if x):
            rows.append(run_passthrough(janus, next(rooms), n, args.seconds, cache, work, video))
        plan = composition_plan(work, 6.0 if args.smoke else 20.0) if args.composing else None
        for n in (int(x) for x in args.composing.split(",") if x):
            rows.append(run_passthrough(janus, next(rooms), n, args.seconds, cache, work, video, plan))
    finally:
        janus.stop()
        if args.keep:
            print(f"files kept in {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    print()
    print(
        f"{'recorder':<22} {'N':>3} {'CPU %/stream':>13} {'video written/sent':>22} {'audio written/sent':>22}"
        f" {'idle MiB':>9} {'MiB/stream':>11}"
    )
    for r in rows:
        memory = f" {r.idle_mib:>9.0f} {r.mib_per_stream:>11.1f}" if r.recorder.startswith("passthrough") else ""
        print(
            f"{r.recorder:<22} {r.count:>3} {r.cpu_per_stream:>13.1f} "
            f"{f'{r.video_written}/{r.video_sent}':>15} {r.video_written / max(r.video_sent, 1):>6.1%} "
            f"{f'{r.audio_written}/{r.audio_sent}':>15} {r.audio_written / max(r.audio_sent, 1):>6.1%}{memory}"
        )
    baseline = {r.count: r.cpu_per_stream for r in rows if r.recorder == "MediaRecorder"}
    for r in rows:
        if r.recorder == "passthrough" and r.count in baseline:
            print(
                f"N={r.count}: passthrough uses 1/{baseline[r.count] / max(r.cpu_per_stream, 1e-9):.1f} "
                "of MediaRecorder's CPU per stream"
            )


if __name__ == "__main__":
    main()
