"""Composer: a conversation's track files composed into one file, in a worker process of its own.

VIDEO: the participants' video tiles on a canvas of the requested size (GRID: equal tiles; SPOTLIGHT: a
screen share, else the first participant, large and the others in a strip), each tile's aspect kept, and
every audio track mixed; H.264 + AAC in MP4 with the index in front (faststart). AUDIO: every audio track
mixed to stereo 48 kHz MP3. Each file is placed on one timeline by its start (`Source.offset`), so tracks
recorded apart stay apart and everything recorded together plays together; gaps are silence and black.

Run as `python -m recorder.compositions.worker PLAN.json`: it prints `{"progress": f}` lines on stdout and ends
with `{"duration": s, "size": n}`; on failure it exits non-zero with the reason on stderr's last line.
Memory stays flat with the call's length: sources are decoded as the output advances, one frame at a time.
"""

from __future__ import annotations

import itertools
import json
import math
import os
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any, Literal

import av
import av.container
import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, Field

RATE = 48000  # output audio sample rate
HOLD_GAP = 2.0  # seconds between two video segments of one tile during which it keeps its last frame
SPOTLIGHT_STRIP = 4  # the strip of small tiles takes 1/4 of the height
GRID_ASPECT = 4 / 3  # the source aspect the grid's shape is chosen for
BLACK_Y, BLACK_UV = 16, 128

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


def _audio_chunks(source: Source) -> Iterator[tuple[int, Audio]]:
    """(timeline sample index, samples) of one audio file, decoded as they are asked for."""
    with av.open(source.path) as container:
        stream = container.streams.audio[0]
        resampler = av.AudioResampler(format="fltp", layout="stereo", rate=RATE)
        for frame in _decoded(container, stream, source):
            if frame.pts is None or frame.time_base is None:
                continue
            position = round((source.offset + float(frame.pts * frame.time_base)) * RATE)
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

    def __init__(self, sources: list[Source]) -> None:
        self._lanes = [_AudioLane(_audio_chunks(s)) for s in sorted(sources, key=lambda s: s.offset)]

    def mix(self, start: int, count: int) -> av.AudioFrame:
        block = np.zeros((2, count), np.float32)
        for lane in self._lanes:
            lane.add_into(block, start)
        np.clip(block, -1.0, 1.0, out=block)
        frame = av.AudioFrame.from_ndarray(block, format="fltp", layout="stereo")
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
    """(timeline time, frame) of one video file, decoded as they are asked for."""
    with av.open(source.path) as container:
        for frame in _decoded(container, container.streams.video[0], source):
            if frame.pts is not None and frame.time_base is not None:
                yield source.offset + float(frame.pts * frame.time_base), frame


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

    def is_present(self, t: float) -> bool:
        return any(start <= t < end for start, end in self.present)

    def advance(self, t: float) -> None:
        """Show the last frame due by `t`."""
        while self._next is not None and self._next[0] <= t:
            self.frame = self._next[1]
            self.version += 1
            self._next = next(self._frames, None)


class Canvas:
    """Draws the present tiles onto one yuv420p picture; a tile is scaled once per new frame or place."""

    def __init__(self, width: int, height: int, layout: str) -> None:
        self.width, self.height, self.layout = width, height, layout
        self._black = np.empty((height * 3 // 2, width), np.uint8)
        self._black[:height] = BLACK_Y
        self._black[height:] = BLACK_UV
        self._scaled: dict[str, tuple[tuple[int, Rect], NDArray[np.uint8], Rect]] = {}
        self._last: tuple[object, ...] | None = None
        self._picture: av.VideoFrame | None = None

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
        tiles = self.order(tiles)
        places = self.places(tiles)
        state = tuple((t.key, t.version, p) for t, p in zip(tiles, places, strict=True))
        if state == self._last and self._picture is not None:
            return self._picture  # nothing moved: the same picture again
        picture = self._black.copy()
        y_plane, chroma_planes = picture[: self.height], picture[self.height :].reshape(self.height, self.width // 2)
        u_plane, v_plane = chroma_planes[: self.height // 2], chroma_planes[self.height // 2 :]
        for tile, place in zip(tiles, places, strict=True):
            scaled = self._scale(tile, place)
            if scaled is None:
                continue
            planes, fit = scaled
            w, h = fit.width, fit.height
            y_plane[fit.y : fit.y + h, fit.x : fit.x + w] = planes[:h]
            chroma = planes[h:].reshape(h, w // 2)
            u_plane[fit.y // 2 : (fit.y + h) // 2, fit.x // 2 : (fit.x + w) // 2] = chroma[: h // 2]
            v_plane[fit.y // 2 : (fit.y + h) // 2, fit.x // 2 : (fit.x + w) // 2] = chroma[h // 2 :]
        self._last, self._picture = state, av.VideoFrame.from_ndarray(picture, format="yuv420p")
        return self._picture

    def _scale(self, tile: Tile, place: Rect) -> tuple[NDArray[np.uint8], Rect] | None:
        if tile.frame is None:
            return None
        cached = self._scaled.get(tile.key)
        if cached is not None and cached[0] == (tile.version, place):
            return cached[1], cached[2]
        fit = _fit(place, tile.frame.width, tile.frame.height)
        scaled = tile.frame.reformat(width=fit.width, height=fit.height, format="yuv420p")
        planes = scaled.to_ndarray().astype(np.uint8, copy=False)
        self._scaled[tile.key] = ((tile.version, place), planes, fit)
        return planes, fit


# ---------------------------------------------------------------- the run


class Progress:
    """Progress lines on stdout, at most one per second and one per percent."""

    def __init__(self) -> None:
        self._last = (0.0, -1)

    def report(self, fraction: float) -> None:
        percent, now = int(fraction * 100), time.monotonic()
        if percent > self._last[1] and now - self._last[0] >= 1.0:
            self._last = (now, percent)
            print(json.dumps({"progress": round(fraction, 3)}), flush=True)


def compose(plan: Plan, progress: Progress | None = None) -> float:
    """Write the plan's output; returns its duration in seconds."""
    audio = AudioMixer([s for s in plan.sources if s.kind == "audio"])
    total = round(plan.duration * RATE)
    if plan.kind == "AUDIO":
        with av.open(plan.output, "w", format="mp3") as container:
            stream = container.add_stream("libmp3lame", rate=RATE, layout="stereo")
            stream.bit_rate = plan.audio_bitrate
            # decoders drop the encoder's delay and start the sound that much later: the mix starts that much
            # in, so that every sound plays when it was made (as in the MP4, whose AAC priming its edit list hides)
            for start in range(MP3_DELAY, total, RATE):
                frame = audio.mix(start, min(RATE, total - start))
                frame.pts = start - MP3_DELAY
                for packet in stream.encode(frame):
                    container.mux(packet)
                if progress:
                    progress.report(start / total)
            container.mux(stream.encode(None))
        return total / RATE
    by_tile: dict[str, list[Source]] = {}
    for source in plan.sources:
        if source.kind == "video":
            by_tile.setdefault(source.tile, []).append(source)
    tiles = sorted((Tile(key, sources) for key, sources in by_tile.items()), key=lambda t: (t.first, t.key))
    canvas = Canvas(plan.width, plan.height, plan.layout)
    frames = math.ceil(plan.duration * plan.fps)
    with av.open(plan.output, "w", format="mp4", options={"movflags": "+faststart"}) as container:
        video = container.add_stream(
            "libx264", rate=plan.fps, options={"preset": plan.preset, "crf": str(plan.crf), "g": str(2 * plan.fps)}
        )
        video.width, video.height, video.pix_fmt = plan.width, plan.height, "yuv420p"
        video.codec_context.thread_count = plan.threads
        sound = container.add_stream("aac", rate=RATE, layout="stereo")
        sound.bit_rate = plan.audio_bitrate
        sample = 0
        for n in range(frames):
            t = n / plan.fps
            for tile in tiles:
                tile.advance(t + 0.5 / plan.fps)  # the frame nearest to t: half a frame of error at most
            picture = canvas.draw([tile for tile in tiles if tile.is_present(t)])
            picture.pts, picture.time_base = n, Fraction(1, plan.fps)
            for packet in video.encode(picture):
                container.mux(packet)
            until = min(total, round((n + 1) / plan.fps * RATE))
            if until > sample:
                for packet in sound.encode(audio.mix(sample, until - sample)):
                    container.mux(packet)
                sample = until
            if progress:
                progress.report(n / frames)
        container.mux(video.encode(None))
        container.mux(sound.encode(None))
    return frames / plan.fps


def main() -> None:
    plan = Plan.model_validate_json(Path(sys.argv[1]).read_text())
    os.nice(plan.nice)
    try:
        duration = compose(plan, Progress())
    except Exception as exc:
        print(f"{type(exc).__name__}: {exc}", file=sys.stderr, flush=True)
        sys.exit(1)
    print(json.dumps({"duration": duration, "size": Path(plan.output).stat().st_size}), flush=True)


if __name__ == "__main__":
    main()
