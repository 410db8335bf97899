"""Composer: a conversation's track files composed into one file, in a worker process of its own.

VIDEO: the participants' video tiles on a canvas of the requested size (GRID: equal tiles; SPOTLIGHT: a
screen share, else the first participant, large and the others in a strip), each tile's aspect kept, and
every audio track mixed; H.264 + AAC in MP4 with the index in front (faststart). AUDIO: every audio track
mixed to stereo 48 kHz MP3. Each file is placed on one timeline by its start (`Source.offset`), so tracks
recorded apart stay apart and everything recorded together plays together; gaps are silence and black.

Run as `python -m recorder.compositions.worker PLAN.json` (or with `-`, then the plan's path on stdin): it
prints `{"progress": f}` lines on stdout and ends with `{"duration": s, "size": n, "times": {stage: s}}`; on
failure it exits non-zero with the reason on stderr's last line. Memory stays flat with the call's length:
sources are decoded as the output advances, and at most `QUEUED` pictures and audio blocks wait for their encoders.

Lip sync: a picture can only change on the output's frame grid, so a participant's frame is shown up to half a
frame from when it was taken. Each participant's voice is moved by its own picture's mean displacement
(`lip_sync_shifts`), so that the two stay together within the source's own jitter; voices of different
participants move apart by at most one frame.

The work runs on three threads, so that a composition uses both cores of a small machine: the main one decodes
(FFmpeg's frame threads), scales and draws the pictures and mixes the sound; one encodes the pictures (x264,
`Plan.threads` threads) and one the sound (AAC; MP3 with the system's LAME, see `lame.py`), each muxing its own
packets. PyAV and ctypes release the GIL while they decode, scale and encode.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import math
import os
import queue
import resource
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any, Literal, cast

import av
import av.container
import numpy as np
from av.video.reformatter import Interpolation, VideoReformatter
from numpy.typing import NDArray
from pydantic import BaseModel, Field

from recorder.compositions.lame import SystemLame

RATE = 48000  # output audio sample rate
HOLD_GAP = 2.0  # seconds between two video segments of one tile during which it keeps its last frame
SPOTLIGHT_STRIP = 4  # the strip of small tiles takes 1/4 of the height
GRID_ASPECT = 4 / 3  # the source aspect the grid's shape is chosen for
BLACK_Y, BLACK_UV = 16, 128
QUEUED = 8  # pictures (and audio blocks) that wait for their encoder at most
SHIFT_FRAMES = 90  # a video file's first frames its displacement on the output's frame grid is measured on

Audio = NDArray[np.float32]  # (2, samples), planar stereo


class Source(BaseModel):
    """One track file on the timeline."""

    tile: str  # the participant's tile it belongs to (video), e.g. "user1/CAM"
    screen: bool = False  # a screen share: the large tile in SPOTLIGHT
    kind: Literal["audio", "video"]
    path: str
    offset: float  # seconds from the timeline's start to the file's time 0
    duration: float  # seconds of media in the file
    # the file's media from here on (seconds from its time 0) is left out: the same participant's next track
    # began there (two instances overlap a little when one hands a recording to the other)
    until: float | None = None


class Plan(BaseModel):
    kind: Literal["VIDEO", "AUDIO"]
    output: str
    duration: float = Field(gt=0)  # seconds: the timeline's length
    sources: list[Source]
    width: int = 640
    height: int = 480
    layout: Literal["GRID", "SPOTLIGHT"] = "GRID"
    fps: int = 30
    threads: int = 1  # encoder threads
    preset: str = "veryfast"  # x264
    crf: int = 23
    audio_bitrate: int = 128000
    nice: int = 10  # the worker's niceness: live recordings on the same machine come first
    idle: bool = False  # SCHED_IDLE: only the CPU time nothing else on the machine wants


# ---------------------------------------------------------------- audio


def _decoded(container: av.container.InputContainer, stream: Any, source: Source) -> Iterator[Any]:
    """The stream's frames up to the end, or up to a damaged part (a file cut short by a crash): what
    decodes is composed, the rest is silence or the last frame."""
    try:
        for frame in container.decode(stream):
            if source.until is not None and frame.pts is not None and frame.pts * frame.time_base >= source.until:
                return
            yield frame
    except av.FFmpegError as exc:
        print(f"{source.path}: composed up to a damaged part: {exc}", file=sys.stderr, flush=True)


MP3_DELAY = 1105  # samples: LAME's encoder delay (576) and the decoder's (529), which decoders skip at the start


def _audio_chunks(source: Source, shift: float = 0.0) -> Iterator[tuple[int, Audio]]:
    """(timeline sample index, samples) of one audio file, `shift` seconds later, decoded as they are asked
    for. Frames already in the mix's format (Opus decodes to planar float at 48 kHz) are taken as they are."""
    with av.open(source.path) as container:
        stream = container.streams.audio[0]
        resampler = av.AudioResampler(format="fltp", layout="stereo", rate=RATE)
        start = source.offset + shift
        for frame in _decoded(container, stream, source):
            at = frame.time
            if at is None:
                continue
            position = round((start + at) * RATE)
            if frame.format.name == "fltp" and frame.sample_rate == RATE and frame.layout.name == "stereo":
                yield position, frame.to_ndarray()
                continue
            for out in resampler.resample(frame):
                samples = out.to_ndarray().astype(np.float32, copy=False)
                yield position, samples
                position += samples.shape[1]


class _AudioLane:
    """One source's samples, handed out block by block along the timeline."""

    def __init__(self, chunks: Iterator[tuple[int, Audio]]) -> None:
        self._chunks = chunks
        self._pending: tuple[int, Audio] | None = next(chunks, None)

    def add_into(self, block: Audio, start: int) -> None:
        end = start + block.shape[1]
        while self._pending is not None:
            position, samples = self._pending
            if position >= end:
                return
            lo, hi = max(position, start), min(position + samples.shape[1], end)
            if hi > lo:
                block[:, lo - start : hi - start] += samples[:, lo - position : hi - position]
            if position + samples.shape[1] > end:
                return  # the rest belongs to the next block
            self._pending = next(self._chunks, None)


class AudioMixer:
    """Every audio source summed on the timeline; silence where none plays."""

    def __init__(self, sources: list[Source], shifts: dict[str, float] | None = None) -> None:
        shifts = shifts or {}
        ordered = sorted(sources, key=lambda s: s.offset)
        self._lanes = [_AudioLane(_audio_chunks(s, shifts.get(s.path, 0.0))) for s in ordered]

    def samples(self, start: int, count: int) -> Audio:
        """The mix of `count` samples from `start`, in -1..1."""
        block = np.zeros((2, count), np.float32)
        for lane in self._lanes:
            lane.add_into(block, start)
        np.clip(block, -1.0, 1.0, out=block)
        return block

    def mix(self, start: int, count: int) -> av.AudioFrame:
        frame = av.AudioFrame.from_ndarray(self.samples(start, count), format="fltp", layout="stereo")
        frame.sample_rate, frame.pts, frame.time_base = RATE, start, Fraction(1, RATE)
        return frame


# ---------------------------------------------------------------- video


@dataclass(frozen=True)
class Rect:
    x: int
    y: int
    width: int
    height: int


def _even(value: float) -> int:
    """yuv420p wants even sizes and places."""
    return int(value) // 2 * 2


def _cell(x0: float, y0: float, x1: float, y1: float) -> Rect:
    """The cell between two corners, on even pixels: neighbouring cells meet exactly."""
    return Rect(_even(x0), _even(y0), max(2, _even(x1) - _even(x0)), max(2, _even(y1) - _even(y0)))


def grid(count: int, width: int, height: int) -> list[Rect]:
    """`count` equal cells, in the shape that gives a 4:3 picture the most room; a last, shorter row is
    centred."""
    if count == 0:
        return []

    def room(cols: int) -> float:
        rows = math.ceil(count / cols)
        cw, ch = width / cols, height / rows
        return min(cw, ch * GRID_ASPECT) * min(ch, cw / GRID_ASPECT)

    cols = max(range(1, count + 1), key=lambda c: (room(c), c))
    rows = math.ceil(count / cols)
    cw, ch = width / cols, height / rows
    cells = []
    for n in range(count):
        row, col = divmod(n, cols)
        x = (cols - min(cols, count - row * cols)) * cw / 2 + col * cw
        cells.append(_cell(x, row * ch, x + cw, (row + 1) * ch))
    return cells


def spotlight(count: int, width: int, height: int) -> list[Rect]:
    """The first tile large on top, the others side by side in a strip below."""
    if count <= 1:
        return [Rect(0, 0, width, height)][:count]
    top = height - _even(height / SPOTLIGHT_STRIP)
    small = [_cell(width * n / (count - 1), top, width * (n + 1) / (count - 1), height) for n in range(count - 1)]
    return [Rect(0, 0, width, top), *small]


def _fit(rect: Rect, frame_width: int, frame_height: int) -> Rect:
    """The largest picture of the frame's aspect inside `rect`, centred."""
    scale = min(rect.width / frame_width, rect.height / frame_height)
    width = max(2, min(rect.width, _even(frame_width * scale)))
    height = max(2, min(rect.height, _even(frame_height * scale)))
    return Rect(rect.x + (rect.width - width) // 4 * 2, rect.y + (rect.height - height) // 4 * 2, width, height)


def _merged(intervals: list[tuple[float, float]], gap: float) -> list[tuple[float, float]]:
    merged: list[tuple[float, float]] = []
    for start, end in sorted(intervals):
        if merged and start - merged[-1][1] <= gap:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def _video_frames(source: Source) -> Iterator[tuple[float, av.VideoFrame]]:
    """(timeline time, frame) of one video file, decoded as they are asked for (by FFmpeg's frame threads: the
    decoding runs beside the caller)."""
    with av.open(source.path) as container:
        stream = container.streams.video[0]
        stream.codec_context.thread_type = "AUTO"
        for frame in _decoded(container, stream, source):
            if frame.pts is not None and frame.time_base is not None:
                yield source.offset + float(frame.pts * frame.time_base), frame


def shown_at(t: float, fps: int) -> int:
    """The output frame a source frame taken at `t` is shown in: the one nearest to it (`Tile.advance`)."""
    return math.ceil(t * fps - 0.5)


def _displacement(source: Source, fps: int) -> float | None:
    """How much later than taken a video file's frames are shown on the output's frame grid, on average over
    its first frames (read from the packets: nothing is decoded). None when it has no frame."""
    errors = []
    with av.open(source.path) as container:
        stream = container.streams.video[0]
        for packet in container.demux(stream):
            if packet.pts is None or packet.time_base is None:
                continue
            t = source.offset + float(packet.pts * packet.time_base)
            errors.append(shown_at(t, fps) / fps - t)
            if len(errors) >= SHIFT_FRAMES:
                break
    return sum(errors) / len(errors) if errors else None


def lip_sync_shifts(sources: list[Source], fps: int) -> dict[str, float]:
    """Seconds each audio file is moved by (by path): the displacement of its participant's picture, from the
    video file of the same tile it overlaps the most."""
    videos = [s for s in sources if s.kind == "video"]
    displaced: dict[str, float | None] = {}
    shifts: dict[str, float] = {}
    for audio in (s for s in sources if s.kind == "audio"):

        def overlap(video: Source, audio: Source = audio) -> float:
            return min(audio.offset + audio.duration, video.offset + video.duration) - max(audio.offset, video.offset)

        matching = [v for v in videos if v.tile == audio.tile and overlap(v) > 0]
        if not matching:
            continue
        video = max(matching, key=overlap)
        if video.path not in displaced:
            try:
                displaced[video.path] = _displacement(video, fps)
            except av.FFmpegError:
                displaced[video.path] = None
        shift = displaced[video.path]
        if shift is not None:
            shifts[audio.path] = shift
    return shifts


class Tile:
    """A participant's picture: its video segments in order; the last frame stays up between segments
    and black shows before the first one."""

    def __init__(self, key: str, sources: list[Source]) -> None:
        self.key = key
        self.screen = any(s.screen for s in sources)
        self.sources = sorted(sources, key=lambda s: s.offset)
        self.first = self.sources[0].offset
        self.present = _merged([(s.offset, s.offset + s.duration) for s in self.sources], HOLD_GAP)
        self._frames = itertools.chain.from_iterable(_video_frames(s) for s in self.sources)
        self._next: tuple[float, av.VideoFrame] | None = next(self._frames, None)
        self.frame: av.VideoFrame | None = None
        self.version = 0  # changes with each new frame shown
        self.scaler = VideoReformatter()  # one per tile: its scaling context is made once, not per frame

    def is_present(self, t: float) -> bool:
        return any(start <= t < end for start, end in self.present)

    def advance(self, t: float) -> None:
        """Show the last frame due by `t`."""
        while self._next is not None and self._next[0] <= t:
            self.frame = self._next[1]
            self.version += 1
            self._next = next(self._frames, None)


def _plane(frame: av.VideoFrame, index: int, width: int, height: int) -> NDArray[np.uint8]:
    """A writable view of one of the frame's planes, `width` x `height` (its padding left out)."""
    plane = frame.planes[index]
    return np.frombuffer(cast(Any, plane), np.uint8).reshape(height, plane.line_size)[:, :width]


class Canvas:
    """Draws the present tiles onto one yuv420p picture; a tile is scaled (bicubic, as FFmpeg's scale filter)
    once per new frame or place."""

    def __init__(self, width: int, height: int, layout: str) -> None:
        self.width, self.height, self.layout = width, height, layout
        self._scaled: dict[str, tuple[tuple[int, Rect], av.VideoFrame, Rect]] = {}
        self._last: tuple[object, ...] | None = None
        self._picture: av.VideoFrame | None = None
        self.times: defaultdict[str, float] = defaultdict(float)  # seconds spent scaling and drawing

    def places(self, tiles: list[Tile]) -> list[Rect]:
        if self.layout == "SPOTLIGHT":
            return spotlight(len(tiles), self.width, self.height)
        return grid(len(tiles), self.width, self.height)

    def order(self, tiles: list[Tile]) -> list[Tile]:
        if self.layout == "SPOTLIGHT":  # the latest screen share takes the large tile
            screens = [t for t in tiles if t.screen]
            if screens:
                main = max(screens, key=lambda t: t.first)
                return [main, *(t for t in tiles if t is not main)]
        return tiles

    def draw(self, tiles: list[Tile]) -> av.VideoFrame:
        """The picture of these tiles: a new frame when anything moved (an encoder may still hold the last
        one), else the last one again."""
        tiles = self.order(tiles)
        places = self.places(tiles)
        state = tuple((t.key, t.version, p) for t, p in zip(tiles, places, strict=True))
        if state == self._last and self._picture is not None:
            return self._picture  # nothing moved: the same picture again
        scaled = [self._scale(tile, place) for tile, place in zip(tiles, places, strict=True)]
        began = time.thread_time()
        picture = av.VideoFrame(self.width, self.height, "yuv420p")
        canvas = [
            _plane(picture, 0, self.width, self.height),
            _plane(picture, 1, self.width // 2, self.height // 2),
            _plane(picture, 2, self.width // 2, self.height // 2),
        ]
        canvas[0][:] = BLACK_Y
        canvas[1][:] = BLACK_UV
        canvas[2][:] = BLACK_UV
        for found in scaled:
            if found is None:
                continue
            frame, fit = found
            for index, target in enumerate(canvas):
                half = 1 if index == 0 else 2
                w, h = fit.width // half, fit.height // half
                x, y = fit.x // half, fit.y // half
                target[y : y + h, x : x + w] = _plane(frame, index, w, h)
        self._last, self._picture = state, picture
        self.times["compose"] += time.thread_time() - began
        return picture

    def _scale(self, tile: Tile, place: Rect) -> tuple[av.VideoFrame, Rect] | None:
        if tile.frame is None:
            return None
        cached = self._scaled.get(tile.key)
        if cached is not None and cached[0] == (tile.version, place):
            return cached[1], cached[2]
        began = time.thread_time()
        fit = _fit(place, tile.frame.width, tile.frame.height)
        scaled = tile.scaler.reformat(
            tile.frame, width=fit.width, height=fit.height, format="yuv420p", interpolation=Interpolation.BICUBIC
        )
        self._scaled[tile.key] = ((tile.version, place), scaled, fit)
        self.times["scale"] += time.thread_time() - began
        return scaled, fit


# ---------------------------------------------------------------- the run


class _Encoder(threading.Thread):
    """Encodes what it is handed (at most `QUEUED` waiting) and muxes the packets (under the caller's lock).
    An error ends it; the producer sees it at its next `put`."""

    def __init__(
        self,
        name: str,
        encode: Callable[[Any], list[Any]],
        mux: Callable[[list[Any]], None] | None,
    ) -> None:
        super().__init__(name=name, daemon=True)
        self._encode, self._mux = encode, mux
        self._queue: queue.Queue[Any] = queue.Queue(QUEUED)
        self.error: BaseException | None = None
        self.seconds = 0.0  # CPU time spent encoding
        self.cpu = 0.0

    def put(self, item: Any) -> None:
        while True:
            if self.error is not None:
                raise self.error
            try:
                self._queue.put(item, timeout=0.5)
                return
            except queue.Full:
                if not self.is_alive():
                    raise RuntimeError(f"the {self.name} encoder stopped") from self.error

    @contextlib.contextmanager
    def running(self) -> Iterator[None]:
        """Started; at the end flushed (None) and awaited; on an error on the way, told to end and awaited."""
        self.start()
        ended = False
        try:
            yield
            self.put(None)
            ended = True
        finally:
            if not ended and self.is_alive():
                with contextlib.suppress(queue.Full):
                    self._queue.put(None, timeout=5)
            self.join()
        if self.error is not None:
            raise self.error

    def run(self) -> None:
        try:
            while True:
                item = self._queue.get()
                began = time.thread_time()
                packets = self._encode(item)
                self.seconds += time.thread_time() - began
                if self._mux is not None:
                    self._mux(packets)
                if item is None:
                    return
        except BaseException as exc:  # handed to the producer
            self.error = exc
        finally:
            self.cpu = time.thread_time()  # the thread's whole CPU time


class Progress:
    """Progress lines on stdout, at most one per second and one per percent."""

    def __init__(self) -> None:
        self._last = (0.0, -1)

    def report(self, fraction: float) -> None:
        percent, now = int(fraction * 100), time.monotonic()
        if percent > self._last[1] and now - self._last[0] >= 1.0:
            self._last = (now, percent)
            print(json.dumps({"progress": round(fraction, 3)}), flush=True)


def _compose_mp3(plan: Plan, audio: AudioMixer, total: int, progress: Progress | None, times: dict[str, float]) -> None:
    """The mix to MP3 (the system's LAME when there is one), encoded beside the mixing. Decoders drop the
    encoder's delay and start the sound that much later: the mix starts that much in, so that every sound plays
    when it was made (as in the MP4, whose AAC priming its edit list hides)."""
    with contextlib.ExitStack() as stack:
        if SystemLame.available():
            lame = SystemLame(stack.enter_context(open(plan.output, "wb")), RATE, plan.audio_bitrate)
            stack.callback(lame.close)  # (after the encoder's thread has ended)

            def encode(samples: Audio | None) -> list[Any]:
                lame.encode(samples)
                return []  # (LAME's caller writes to the file)

            encoder = _Encoder("audio", encode, None)
            block: Callable[[int, int], Any] = audio.samples
        else:
            container = stack.enter_context(av.open(plan.output, "w", format="mp3"))
            stream = container.add_stream("libmp3lame", rate=RATE, layout="stereo")
            stream.bit_rate = plan.audio_bitrate
            encoder = _Encoder("audio", stream.encode, container.mux)

            def block(start: int, count: int) -> av.AudioFrame:
                frame = audio.mix(start, count)
                frame.pts = start - MP3_DELAY
                return frame

        mixed = 0.0
        with encoder.running():
            for start in range(MP3_DELAY, total, RATE // 4):
                began = time.thread_time()
                item = block(start, min(RATE // 4, total - start))
                mixed += time.thread_time() - began
                encoder.put(item)
                if progress:
                    progress.report(start / total)
    times.update(mix=mixed, encode_audio=encoder.seconds)


def compose(plan: Plan, progress: Progress | None = None, times: dict[str, float] | None = None) -> float:
    """Write the plan's output; returns its duration in seconds. `times` gets the seconds spent per stage."""
    times = times if times is not None else {}
    usage = resource.getrusage(resource.RUSAGE_SELF)
    started_cpu, began_all = usage.ru_utime + usage.ru_stime, time.thread_time()
    shifts = lip_sync_shifts(plan.sources, plan.fps) if plan.kind == "VIDEO" else {}
    audio = AudioMixer([s for s in plan.sources if s.kind == "audio"], shifts)
    total = round(plan.duration * RATE)
    if plan.kind == "AUDIO":
        _compose_mp3(plan, audio, total, progress, times)
        return total / RATE
    by_tile: dict[str, list[Source]] = {}
    for source in plan.sources:
        if source.kind == "video":
            by_tile.setdefault(source.tile, []).append(source)
    tiles = sorted((Tile(key, sources) for key, sources in by_tile.items()), key=lambda t: (t.first, t.key))
    canvas = Canvas(plan.width, plan.height, plan.layout)
    frames = math.ceil(plan.duration * plan.fps)
    spent = {"decode": 0.0, "mix": 0.0}  # CPU seconds of the main thread
    with av.open(plan.output, "w", format="mp4", options={"movflags": "+faststart"}) as container:
        video = container.add_stream(
            "libx264", rate=plan.fps, options={"preset": plan.preset, "crf": str(plan.crf), "g": str(2 * plan.fps)}
        )
        video.width, video.height, video.pix_fmt = plan.width, plan.height, "yuv420p"
        video.codec_context.thread_count = plan.threads
        sound = container.add_stream("aac", rate=RATE, layout="stereo")
        sound.bit_rate = plan.audio_bitrate
        lock = threading.Lock()
        muxed = [0.0]

        def mux(packets: list[Any]) -> None:
            with lock:
                began = time.thread_time()
                container.mux(packets)
                muxed[0] += time.thread_time() - began

        def encode_picture(item: tuple[int, av.VideoFrame] | None) -> list[Any]:
            if item is None:
                return video.encode(None)
            n, picture = item
            picture.pts, picture.time_base = n, Fraction(1, plan.fps)  # (set here: a picture may come twice)
            return video.encode(picture)

        pictures = _Encoder("video", encode_picture, mux)
        sounds = _Encoder("audio", sound.encode, mux)
        sample = 0
        with pictures.running(), sounds.running():
            for n in range(frames):
                t = n / plan.fps
                began = time.thread_time()
                for tile in tiles:
                    tile.advance(t + 0.5 / plan.fps)  # the frame nearest to t: half a frame of error at most
                spent["decode"] += time.thread_time() - began
                picture = canvas.draw([tile for tile in tiles if tile.is_present(t)])
                pictures.put((n, picture))
                until = min(total, round((n + 1) / plan.fps * RATE))
                if until > sample:
                    began = time.thread_time()
                    block = audio.mix(sample, until - sample)
                    spent["mix"] += time.thread_time() - began
                    sounds.put(block)
                    sample = until
                if progress:
                    progress.report(n / frames)
    # CPU seconds. decode: the main thread's part (demuxing, handing packets over, taking frames);
    # decoder_threads: FFmpeg's frame threads, the rest of the process's CPU time; mix: decoding and mixing
    # the sound; other: the main thread's loop and the rest
    main_cpu = time.thread_time() - began_all
    usage = resource.getrusage(resource.RUSAGE_SELF)
    process_cpu = usage.ru_utime + usage.ru_stime
    measured = sum(spent.values()) + canvas.times["scale"] + canvas.times["compose"]
    times.update(
        spent,
        decoder_threads=max(0.0, process_cpu - main_cpu - pictures.cpu - sounds.cpu - started_cpu),
        scale=canvas.times["scale"],
        compose=canvas.times["compose"],
        encode_video=pictures.seconds,
        encode_audio=sounds.seconds,
        mux=muxed[0],
        other=max(0.0, main_cpu - measured),
        cpu=process_cpu - started_cpu,
    )
    return frames / plan.fps


def _idle() -> None:
    """Every thread of the process in SCHED_IDLE (those made later inherit it; NumPy's BLAS has made some at
    import already)."""
    for task in Path("/proc/self/task").iterdir():
        with contextlib.suppress(OSError, AttributeError, ValueError):
            os.sched_setscheduler(int(task.name), os.SCHED_IDLE, os.sched_param(0))


def main() -> None:
    """`worker PLAN.json`, or `worker -`: warm, it says `{"ready": true}` and waits for a plan's path on stdin
    (the service keeps one waiting, so that a composition does not wait for Python, NumPy and PyAV to load)."""
    if sys.argv[1] == "-":
        print(json.dumps({"ready": True}), flush=True)
        line = sys.stdin.readline().strip()
        if not line:
            return  # told to end (or the service is gone)
        path = Path(line)
    else:
        path = Path(sys.argv[1])
    plan = Plan.model_validate_json(path.read_text())
    os.nice(max(0, plan.nice - os.nice(0)))  # (a warm worker was started niced already)
    if plan.idle:
        _idle()
    times: dict[str, float] = {}
    try:
        duration = compose(plan, Progress(), times)
    except Exception as exc:
        print(f"{type(exc).__name__}: {exc}", file=sys.stderr, flush=True)
        sys.exit(1)
    rounded = {stage: round(seconds, 3) for stage, seconds in times.items()}
    print(json.dumps({"duration": duration, "size": Path(plan.output).stat().st_size, "times": rounded}), flush=True)


if __name__ == "__main__":
    main()
