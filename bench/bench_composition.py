"""Benchmark: compositions beside the ffmpeg command line doing the same job on the same files, in one run.

The call: four participants with 640x480 cameras at 30 fps, each a video file and an Opus WebM as the recorder
writes them, with a flash and a beep every second: alice (VP8), bob (H.264), carol (VP8), and dave (VP8) who
joins 3 s late. Made once per length and kept in `--cache`.

For each size (320x240, 640x480, 1280x720) the worker composes it exactly as the service runs it (`python -m
recorder.compositions.worker PLAN`, the default settings: x264 `veryfast` CRF 23 on one encoder thread, AAC
128 kb/s, niceness 10), and the ffmpeg command line does the same: decode the four inputs, scale each to its
tile (bicubic), 2x2 `xstack` (dave black until he joins), `amix`, libx264 `veryfast` CRF 23 with `-threads 1`,
AAC 128 kb/s, MP4 with faststart. The MP3 likewise (`amix`, libmp3lame 128 kb/s). Each side runs `--runs`
times (3), in turn, and its fastest run counts. Printed: seconds, the
ratio (ffmpeg's seconds / ours: above 1, we are faster), the cores each used (CPU seconds / wall seconds), peak
resident memory (wait4), and the output's quality: PSNR and SSIM (ffmpeg's `psnr` and `ssim` filters) of each
output against a lossless reference (the same graph at x264 `-qp 0`), from 4 s on, where both layouts are the
same (ours lays three tiles out while dave is away). Then where our time went, per stage, as the worker
reports it.

`--long SECONDS` composes a two-party 1280x720 call of that length instead (made by repeating a minute of
each file, without re-encoding), sampling the worker's resident memory every second: it prints the memory at
each tenth of the way and the peak; then starts it again and ends it (SIGKILL, as the service cancels) after
5, 30 and 120 s, printing how long the process took to go.

Run: `python -m bench.bench_composition [--seconds 60] [--runs 3] [--cache .bench-cache]`, or `--long 7200`.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import av

from recorder.compositions.worker import Plan, Source, grid
from recorder.settings import Settings
from tests.flashbeep import Signal, write_track_files

SIZES = [(320, 240), (640, 480), (1280, 720)]
CAMERA = (640, 480)
QUALITY_FROM = 4.0  # seconds: both layouts are the same from here on
# user, flash phase, beep Hz, codec, joins at
PARTICIPANTS = (
    ("alice", 0.0, 880.0, "vp8", 0.0),
    ("bob", 0.3, 1300.0, "h264", 0.0),
    ("carol", 0.5, 2000.0, "vp8", 0.0),
    ("dave", 0.7, 3000.0, "vp8", 3.0),
)


@dataclass
class Run:
    seconds: float
    cpu: float
    peak_mib: float
    report: dict[str, object] = field(default_factory=dict)  # the worker's last line

    @property
    def cores(self) -> float:
        return self.cpu / self.seconds


def call_files(cache: Path, seconds: float) -> list[tuple[str, float, Path, Path]]:
    """(user, joins at, video, audio) of the four participants."""
    call = []
    for user, phase, frequency, codec, joins in PARTICIPANTS:
        directory = cache / f"call-{seconds:g}s" / user
        found = sorted(directory.glob("video.*"))
        if found and (directory / "audio.webm").exists():
            video, audio = found[0], directory / "audio.webm"
        else:
            signal_ = Signal(0.0, phase, frequency)
            video, audio = write_track_files(signal_, directory, seconds - joins, *CAMERA, codec=codec)
        call.append((user, joins, video, audio))
    return call


def _measured(command: list[str], sample: bool = False, warm: str | None = None) -> tuple[Run, list[float]]:
    """Run a process to its end: its wall and CPU seconds, peak resident MiB (wait4), its last JSON line on
    stdout, and (`sample`) its resident MiB every second. `warm`: the command is a warm worker; it is timed from
    when it is ready and handed this plan, as the service hands it one."""
    with tempfile.TemporaryFile("w+") as err:
        process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err, text=True)
        assert process.stdin is not None and process.stdout is not None
        cpu_before = 0.0
        if warm is not None:
            if "ready" not in process.stdout.readline():
                raise SystemExit(f"{command} did not become ready")
            cpu_before = _cpu(process.pid)
            process.stdin.write(warm + "\n")
        process.stdin.close()
        started = time.perf_counter()
        samples: list[float] = []
        while True:
            pid, status, usage = os.wait4(process.pid, os.WNOHANG)
            if pid:
                break
            if sample:
                samples.append(_rss(process.pid))
            time.sleep(1.0 if sample else 0.005)
        elapsed = time.perf_counter() - started
        out = process.stdout.read()
        if os.waitstatus_to_exitcode(status) != 0:
            err.seek(0)
            raise SystemExit(f"{command[0]} failed: {err.read().strip()[-2000:]}")
    lines = [line for line in out.splitlines() if line.startswith("{")]
    report = json.loads(lines[-1]) if lines else {}
    cpu = usage.ru_utime + usage.ru_stime - cpu_before
    return Run(elapsed, cpu, usage.ru_maxrss / 1024, report), samples


def _cpu(pid: int) -> float:
    """A process's CPU seconds so far (user + system)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _rss(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def _ours(plan: Plan, work: Path, sample: bool = False) -> tuple[Run, list[float]]:
    """The worker as the service runs it: warm (loaded while the service gathers the inputs), handed the plan."""
    plan_path = work / f"plan-{Path(plan.output).stem}.json"
    plan_path.write_text(plan.model_dump_json())
    return _measured([sys.executable, "-m", "recorder.compositions.worker", "-"], sample, warm=str(plan_path))


def plan_for(
    kind: str, output: Path, seconds: float, call: list[tuple[str, float, Path, Path]], size: tuple[int, int]
) -> Plan:
    defaults = Settings()
    sources = [
        Source(tile=f"{user}/CAM", kind=kind_, path=str(path), offset=joins, duration=seconds - joins)  # type: ignore[arg-type]
        for user, joins, video, audio in call
        for kind_, path in (("video", video), ("audio", audio))
    ]
    return Plan(
        kind=kind,  # type: ignore[arg-type]
        output=str(output),
        duration=seconds,
        sources=sources,
        width=size[0],
        height=size[1],
        threads=defaults.composition_threads,
        nice=defaults.composition_nice,
        idle=defaults.composition_idle,
        preset=defaults.composition_preset,
    )


def _ffmpeg_graph(
    call: list[tuple[str, float, Path, Path]], size: tuple[int, int], video: bool
) -> tuple[list[str], str]:
    """The inputs and the filter graph of the same job: each camera on the 30 fps grid (`fps`: the nearest
    frame, as the worker takes it) and fitted into its cell of the grid the worker draws for four, bicubic;
    `xstack`; the voices mixed."""
    inputs: list[str] = []
    graph: list[str] = []
    cells = grid(len(call), *size)
    for n, (_, joins, video_path, audio_path) in enumerate(call):
        inputs += ["-i", str(video_path), "-i", str(audio_path)]
        if video:
            cell = cells[n]
            scale = min(cell.width / CAMERA[0], cell.height / CAMERA[1])
            w, h = int(CAMERA[0] * scale) // 2 * 2, int(CAMERA[1] * scale) // 2 * 2
            late = f",tpad=start_duration={joins}:color=black" if joins else ""
            graph.append(
                f"[{2 * n}:v]fps=30,scale={w}:{h}:flags=bicubic"
                f",pad={cell.width}:{cell.height}:(ow-iw)/2:(oh-ih)/2:black,setsar=1{late}[v{n}]"
            )
        delay = f",adelay={round(joins * 1000)}:all=1" if joins else ""
        graph.append(f"[{2 * n + 1}:a]aresample=48000{delay}[a{n}]")
    if video:
        layout = "|".join(f"{c.x}_{c.y}" for c in cells)
        graph.append("".join(f"[v{n}]" for n in range(len(call))) + f"xstack=inputs={len(call)}:layout={layout}[v]")
    graph.append("".join(f"[a{n}]" for n in range(len(call))) + f"amix=inputs={len(call)}:normalize=0[a]")
    return inputs, ";".join(graph)


FFMPEG = ["ffmpeg", "-y", "-nostdin", "-hide_banner", "-loglevel", "error"]


def _ffmpeg_video(
    call: list[tuple[str, float, Path, Path]], size: tuple[int, int], output: Path, lossless: bool = False
) -> list[str]:
    inputs, graph = _ffmpeg_graph(call, size, video=True)
    quality = ["-preset", "ultrafast", "-qp", "0"] if lossless else ["-preset", "veryfast", "-crf", "23", "-g", "60"]
    return [
        *FFMPEG, *inputs, "-filter_complex", graph, "-map", "[v]", "-map", "[a]",
        "-c:v", "libx264", *quality, "-threads", "1", "-r", "30", "-pix_fmt", "yuv420p",
        "-c:a", "aac", "-b:a", "128k", "-ar", "48000", "-ac", "2", "-movflags", "+faststart", str(output),
    ]  # fmt: skip


def _ffmpeg_audio(call: list[tuple[str, float, Path, Path]], output: Path) -> list[str]:
    inputs, graph = _ffmpeg_graph(call, SIZES[0], video=False)
    return [
        *FFMPEG, *inputs, "-filter_complex", graph, "-map", "[a]",
        "-c:a", "libmp3lame", "-b:a", "128k", "-ar", "48000", "-ac", "2", str(output),
    ]  # fmt: skip


def _quality(output: Path, reference: Path) -> tuple[float, float]:
    """(PSNR dB, SSIM) of the output's picture against the reference's, from `QUALITY_FROM` on."""
    cut = f"trim=start={QUALITY_FROM},setpts=PTS-STARTPTS"
    graph = f"[0:v]{cut}[a];[1:v]{cut},split[b1][b2];[a][b1]psnr[c];[c][b2]ssim"
    done = subprocess.run(
        [
            "ffmpeg",
            "-nostdin",
            "-hide_banner",
            "-i",
            str(output),
            "-i",
            str(reference),
            "-lavfi",
            graph,
            "-f",
            "null",
            "-",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    psnr = re.search(r"PSNR .*average:([\d.]+|inf)", done.stderr)
    ssim = re.search(r"SSIM .*All:([\d.]+)", done.stderr)
    if psnr is None or ssim is None:
        raise SystemExit(f"no PSNR/SSIM in ffmpeg's output: {done.stderr[-1000:]}")
    return float(psnr.group(1)), float(ssim.group(1))


def _length(path: Path) -> float:
    with av.open(str(path)) as container:
        assert container.duration is not None
        return container.duration / 1e6


def _best(runs: int, plan: Plan, work: Path, command: list[str]) -> tuple[Run, Run]:
    """The fastest of `runs` runs of ours and of the ffmpeg command, taken in turn (so that both see the
    machine alike)."""
    pairs = [(_ours(plan, work)[0], _measured(command)[0]) for _ in range(runs)]
    return min((p[0] for p in pairs), key=lambda r: r.seconds), min((p[1] for p in pairs), key=lambda r: r.seconds)


def compare(seconds: float, cache: Path, runs: int) -> None:
    made = time.perf_counter()
    call = call_files(cache, seconds)
    print(f"call files: {time.perf_counter() - made:.1f} s", file=sys.stderr)
    work = cache / "compositions"
    work.mkdir(parents=True, exist_ok=True)
    rows: list[tuple[str, Run, Run, tuple[float, ...] | None, float, float]] = []
    stages = []
    for size in SIZES:
        label = f"{size[0]}x{size[1]} MP4"
        ours_path, theirs_path, reference = (
            work / f"{who}-{size[0]}x{size[1]}.mp4" for who in ("ours", "ffmpeg", "reference")
        )
        plan = plan_for("VIDEO", ours_path, seconds, call, size)
        ours, theirs = _best(runs, plan, work, _ffmpeg_video(call, size, theirs_path))
        subprocess.run(_ffmpeg_video(call, size, reference, lossless=True), check=True)
        measured_quality = (*_quality(ours_path, reference), *_quality(theirs_path, reference))
        rows.append((label, ours, theirs, measured_quality, _length(ours_path), _length(theirs_path)))
        stages.append((label, ours))
        print(f"{label}: ours {ours.seconds:.1f} s, ffmpeg {theirs.seconds:.1f} s", file=sys.stderr)
    ours_mp3, theirs_mp3 = work / "ours.mp3", work / "ffmpeg.mp3"
    mp3 = plan_for("AUDIO", ours_mp3, seconds, call, SIZES[0])
    ours, theirs = _best(runs, mp3, work, _ffmpeg_audio(call, theirs_mp3))
    rows.append(("MP3", ours, theirs, None, _length(ours_mp3), _length(theirs_mp3)))

    print(
        f"\n{os.cpu_count()} cores; a {seconds:g} s call of four 640x480 cameras;"
        " x264 veryfast CRF 23, 1 encoder thread\n"
    )
    print("| output | ours s | ffmpeg s | ffmpeg s / ours | ours cores | ffmpeg cores | ours peak MiB | ffmpeg peak MiB"
          " | PSNR dB ours / ffmpeg | SSIM ours / ffmpeg | length s ours / ffmpeg |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for label, ours, theirs, quality, ours_length, theirs_length in rows:
        measured = f"{quality[0]:.2f} / {quality[2]:.2f} | {quality[1]:.4f} / {quality[3]:.4f}" if quality else "- | -"
        print(
            f"| {label} | {ours.seconds:.2f} | {theirs.seconds:.2f} | **{theirs.seconds / ours.seconds:.2f}** |"
            f" {ours.cores:.2f} | {theirs.cores:.2f} | {ours.peak_mib:.0f} | {theirs.peak_mib:.0f} | {measured} |"
            f" {ours_length:.2f} / {theirs_length:.2f} |"
        )
    print(
        "\nwhere our CPU time went (seconds of CPU, per thread: the main thread demuxes, scales, draws and mixes the"
        " sound;\nFFmpeg's decoder threads; the video and the audio encoder's threads, which mux)\n"
    )
    names = ["decode", "decoder_threads", "scale", "compose", "mix", "other", "encode_video", "encode_audio", "mux"]
    print("| output | wall s | CPU s | " + " | ".join(names) + " |")
    print("|---|---|---|" + "---|" * len(names))
    for label, run in stages:
        times = run.report.get("times", {})
        assert isinstance(times, dict)
        print(
            f"| {label} | {run.seconds:.2f} | {float(times.get('cpu', 0)):.2f} | "
            + " | ".join(f"{float(times.get(n, 0)):.2f}" for n in names)
            + " |"
        )


def _loop(source: Path, target: Path, times: int) -> Path:
    """`source` `times` over, one after the other, without re-encoding."""
    if target.exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(".partial" + target.suffix)
    with av.open(str(source)) as inside:
        stream = inside.streams[0]
        packets = [p for p in inside.demux(stream) if p.pts is not None]
        assert stream.time_base is not None
        last = packets[-1]
        length = int(last.pts or 0) + int(last.duration or round(1 / 30 / stream.time_base))
        with av.open(str(partial), "w", format=inside.format.name.split(",")[0]) as outside:
            copy = outside.add_stream_from_template(stream)
            for k in range(times):
                for packet in packets:
                    packet.pts = int(packet.pts or 0) + (length if k else 0)
                    packet.dts = packet.pts if packet.dts is None else int(packet.dts) + (length if k else 0)
                    packet.stream = copy
                    outside.mux(packet)
    partial.rename(target)
    return target


def long_call(seconds: float, cache: Path) -> None:
    minute = 60.0
    times = max(1, round(seconds / minute))
    seconds = times * minute
    call = []
    for user, phase, frequency, _, joins in PARTICIPANTS[:2]:
        directory = cache / "long-minute" / user
        if not (directory / "audio.webm").exists():
            write_track_files(Signal(0.0, phase, frequency), directory, minute, 1280, 720)
        looped = cache / f"long-{seconds:g}s" / user
        video = _loop(directory / "video.webm", looped / "video.webm", times)
        audio = _loop(directory / "audio.webm", looped / "audio.webm", times)
        call.append((user, joins, video, audio))
    work = cache / "compositions"
    work.mkdir(parents=True, exist_ok=True)
    plan = plan_for("VIDEO", work / "long.mp4", seconds, call, (1280, 720))
    run, samples = _ours(plan, work, sample=True)
    length = _length(work / "long.mp4")
    print(f"\n{os.cpu_count()} cores; a {seconds:g} s two-party call composed at 1280x720\n")
    print(f"composed in {run.seconds:.0f} s ({seconds / run.seconds:.1f}x real time), {run.cores:.2f} cores,"
          f" output {length:.0f} s, {(work / 'long.mp4').stat().st_size / 2**20:.0f} MiB\n")  # fmt: skip
    print("| part of the way | resident MiB |")
    print("|---|---|")
    for tenth in range(1, 11):
        index = min(len(samples) - 1, max(0, round(len(samples) * tenth / 10) - 1))
        print(f"| {tenth * 10} % | {samples[index]:.0f} |")
    print(f"| peak (wait4) | {run.peak_mib:.0f} |")
    print("\n| ended after | SIGKILL (the service's cancel) to gone, ms |")
    print("|---|---|")
    plan_path = work / "plan-long.json"
    for after in (5.0, 30.0, 120.0):
        process = subprocess.Popen(
            [sys.executable, "-m", "recorder.compositions.worker", str(plan_path)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(min(after, run.seconds / 2))
        began = time.perf_counter()
        process.send_signal(signal.SIGKILL)
        process.wait()
        print(f"| {min(after, run.seconds / 2):.0f} s | {(time.perf_counter() - began) * 1000:.1f} |")
    (work / "long.mp4").unlink(missing_ok=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--runs", type=int, default=3, help="each side's best of this many runs, taken in turn")
    parser.add_argument("--long", type=float, default=None, help="compose a two-party 720p call this long instead")
    parser.add_argument("--cache", type=Path, default=Path(".bench-cache"))
    parser.add_argument(
        "--smoke", action="store_true", help="tiny parameters: proves the benchmark runs (the suite runs it)"
    )
    args = parser.parse_args()
    if shutil.which("ffmpeg") is None:
        raise SystemExit("the ffmpeg command line is not installed (Debian: apt-get install ffmpeg)")
    if args.smoke:
        args.seconds, args.cache = 6.0, Path(tempfile.mkdtemp(prefix="bench-composition-"))  # (dave joins at 3 s)
    if args.long:
        long_call(args.long, args.cache)
    else:
        compare(args.seconds, args.cache, 1 if args.smoke else args.runs)


if __name__ == "__main__":
    main()
