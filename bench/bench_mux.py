"""Benchmark: what muxing costs the event loop with 32 streams (16 participants' VP8 video at 30 fps, ~1 Mbit/s,
and Opus audio at 50 packets/s), each written by its own PassthroughWriter exactly as the receive path calls it
(`write` on the event loop, a cluster/fragment flushed every `flush_interval_ms`).

All streams' frames of `--seconds` of media are written in their arrival order, as fast as one thread can,
and every `write` call is timed. Beside it, in the same run, the floor: the same bytes appended to 32 plain
files (`file.write`, then `flush` at the same interval). Prints a table:

    writer, calls, seconds of loop time per second of media (the share of one core), p50/p99/max per call

Run: `python -m bench.bench_mux [--seconds 20] [--streams 32]`.
"""

from __future__ import annotations

import argparse
import heapq
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from bench.media import FPS, encode_clip
from recorder.media.passthrough import PassthroughWriter

FLUSH_MS = 1000
OPENS: list[float] = []  # seconds each file's first write took (it opens the container)


def schedule(seconds: float, streams: int, video: list[bytes], audio: list[bytes]) -> list[tuple[float, int, int]]:
    """(arrival time s, stream, frame index) of every frame, in arrival order; even streams are video."""
    events: list[tuple[float, int, int]] = []
    for stream in range(streams):
        is_video = stream % 2 == 0
        rate, count = (FPS, len(video)) if is_video else (50, len(audio))
        offset = stream * 0.0007  # participants do not send in lockstep
        events += [(offset + i / rate, stream, i % count) for i in range(int(seconds * rate))]
    heapq.heapify(events)
    return [heapq.heappop(events) for _ in range(len(events))]


def run_writers(work: Path, plan: list[tuple[float, int, int]], video: list[bytes], audio: list[bytes]) -> list[float]:
    streams = 1 + max(s for _, s, _ in plan)
    writers = [
        PassthroughWriter(work / f"s{n}", "vp8" if n % 2 == 0 else "opus", 90000 if n % 2 == 0 else 48000)
        for n in range(streams)
    ]
    costs, opened = [], [False] * streams
    for at, stream, index in plan:
        is_video = stream % 2 == 0
        data = video[index] if is_video else audio[index]
        rtp = int(at * (90000 if is_video else 48000))
        started = time.perf_counter()
        writers[stream].write(data, rtp, keyframe=index % FPS == 0 if is_video else None)
        if opened[stream]:  # (a file's first write opens its container: counted apart, in OPENS)
            costs.append(time.perf_counter() - started)
        else:
            OPENS.append(time.perf_counter() - started)
            opened[stream] = True
    for writer in writers:
        writer.close()
    return costs


def run_floor(work: Path, plan: list[tuple[float, int, int]], video: list[bytes], audio: list[bytes]) -> list[float]:
    streams = 1 + max(s for _, s, _ in plan)
    files = [(work / f"f{n}.bin").open("wb") for n in range(streams)]
    flushed = [0.0] * streams
    costs = []
    for at, stream, index in plan:
        data = video[index] if stream % 2 == 0 else audio[index]
        started = time.perf_counter()
        files[stream].write(data)
        if at - flushed[stream] >= FLUSH_MS / 1000:
            files[stream].flush()
            flushed[stream] = at
        costs.append(time.perf_counter() - started)
    for file in files:
        file.close()
    return costs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--streams", type=int, default=32)
    parser.add_argument("--smoke", action="store_true", help="tiny parameters: proves the benchmark runs")
    args = parser.parse_args()
    if args.smoke:
        args.seconds, args.streams = 2.0, 4
    video, audio = encode_clip(Path(tempfile.gettempdir()) / "recorder-bench-clip-v2.pkl")
    plan = schedule(args.seconds, args.streams, video, audio)
    work = Path(tempfile.mkdtemp(prefix="bench-mux-"))
    try:
        rows = []
        for name, run in (("plain file.write", run_floor), ("PassthroughWriter", run_writers)):
            (work / name[:5]).mkdir()
            costs = run(work / name[:5], plan, video, audio)
            ordered = sorted(costs)
            rows.append(
                (
                    name,
                    len(costs),
                    sum(costs) / args.seconds,
                    statistics.median(ordered) * 1e6,
                    ordered[int(len(ordered) * 0.99)] * 1e6,
                    ordered[-1] * 1e3,
                )
            )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(
        f"\n{args.streams} streams ({args.streams // 2} VP8 ~1 Mbit/s + {args.streams // 2} Opus), {args.seconds:g} s"
    )
    print(f"{'writer':<18} {'calls':>7} {'loop s / media s':>17} {'p50 us':>8} {'p99 us':>8} {'max ms':>7}")
    for name, calls, share, p50, p99, worst in rows:
        print(f"{name:<18} {calls:>7} {share:>17.4f} {p50:>8.1f} {p99:>8.1f} {worst:>7.2f}")
    print(f"\nPassthroughWriter / floor: {rows[1][2] / rows[0][2]:.1f}x the loop time")
    print(
        f"a file's first write (opens its container): median {statistics.median(OPENS) * 1e3:.2f} ms,"
        f" max {max(OPENS) * 1e3:.2f} ms"
    )


if __name__ == "__main__":
    main()
