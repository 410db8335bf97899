"""Benchmark: composition speed (a multiple of real time) and the worker's peak memory.

A two-party call of `--seconds` (default 300): Alice from the start, Bob joining 3 s late, each a VP8 WebM
and an Opus WebM as the recorder writes them, with a flash and a beep every second. Their files are made at
each resolution (320x240 and 1280x720, cached in `--cache`), then composed by the worker exactly as the
service runs it (`python -m recorder.compositions.worker PLAN`, one worker, the default settings: 1 encoder
thread, x264 `veryfast`, niceness 10): the VIDEO composition at the call's resolution (GRID, H.264 + AAC
MP4) and the AUDIO one (MP3). Peak memory is the worker process's maximum resident set (wait4).
Also decodes each output once to check its length.

Run: `python -m bench.bench_composition [--seconds 300] [--cache .bench-cache]`.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import av

from recorder.compositions.worker import Plan, Source
from recorder.settings import Settings
from tests.flashbeep import Signal, write_track_files

LATE_JOIN = 3.0
RESOLUTIONS = [(320, 240), (1280, 720)]


def _call(cache: Path, seconds: float, width: int, height: int) -> list[Source]:
    sources = []
    for user, phase, frequency, offset in (("alice", 0.0, 880.0, 0.0), ("bob", 0.5, 2000.0, LATE_JOIN)):
        directory = cache / f"{width}x{height}-{seconds:g}s" / user
        length = seconds - offset
        if (directory / "audio.webm").exists():
            video, audio = directory / "video.webm", directory / "audio.webm"
        else:
            video, audio = write_track_files(Signal(0.0, phase, frequency), directory, length, width, height)
        for kind, path in (("video", video), ("audio", audio)):
            sources.append(
                Source(tile=f"{user}/CAM", kind=kind, path=str(path), offset=offset, duration=length)  # type: ignore[arg-type]
            )
    return sources


def _run(plan: Plan, work: Path) -> tuple[float, float]:
    """(seconds, peak resident MiB) of one worker process."""
    plan_path = work / "plan.json"
    plan_path.write_text(plan.model_dump_json())
    started = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-m", "recorder.compositions.worker", str(plan_path)], stdout=subprocess.DEVNULL
    )
    _, status, usage = os.wait4(process.pid, 0)
    elapsed = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise SystemExit(f"the worker failed on {plan.output}")
    return elapsed, usage.ru_maxrss / 1024


def _length(path: Path) -> float:
    with av.open(str(path)) as container:
        assert container.duration is not None
        return container.duration / 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=300.0)
    parser.add_argument("--cache", type=Path, default=Path(".bench-cache"))
    parser.add_argument(
        "--smoke", action="store_true", help="tiny parameters: proves the benchmark runs (the suite runs it)"
    )
    args = parser.parse_args()
    if args.smoke:
        args.seconds, args.cache = 6.0, Path(tempfile.mkdtemp(prefix="bench-composition-"))  # (Bob joins at 3 s)
    defaults = Settings()
    work = args.cache / "compositions"
    work.mkdir(parents=True, exist_ok=True)
    rows = []
    for width, height in RESOLUTIONS:
        made = time.perf_counter()
        sources = _call(args.cache, args.seconds, width, height)
        print(f"call files at {width}x{height}: {time.perf_counter() - made:.1f} s", file=sys.stderr)
        for kind, output in (("VIDEO", work / f"{width}x{height}.mp4"), ("AUDIO", work / f"{width}x{height}.mp3")):
            if kind == "AUDIO" and width != RESOLUTIONS[0][0]:
                continue  # the audio composition does not depend on the picture
            plan = Plan(
                kind=kind,  # type: ignore[arg-type]
                output=str(output),
                duration=args.seconds,
                sources=sources,
                width=width,
                height=height,
                threads=defaults.composition_threads,
                nice=defaults.composition_nice,
                preset=defaults.composition_preset,
            )
            elapsed, peak = _run(plan, work)
            length = _length(output)
            label = f"{width}x{height} {kind} (MP4)" if kind == "VIDEO" else "AUDIO (MP3)"
            rows.append((label, args.seconds, elapsed, args.seconds / elapsed, peak, output.stat().st_size, length))
    print(f"\n{os.cpu_count()} cores; one worker, {defaults.composition_threads} encoder thread(s)\n")
    print("| composition | call s | compose s | x real time | peak RSS MiB | output MiB | output s |")
    print("|---|---|---|---|---|---|---|")
    for label, call, elapsed, speed, peak, size, length in rows:
        print(
            f"| {label} | {call:.0f} | {elapsed:.1f} | {speed:.1f} | {peak:.0f} | {size / 2**20:.1f} | {length:.1f} |"
        )


if __name__ == "__main__":
    main()
