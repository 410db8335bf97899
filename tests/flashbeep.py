"""A lip-sync signal: a white flash on video and a beep on audio at the same instant every second.

Each participant has its own phase (where in the second it flashes) and beep frequency, so that its beeps
can be told apart in a mix. The same signal feeds live aiortc publishers (FlashTrack, BeepTrack), writes
track files the way the recorder does (`write_track_files`), and is found again in a composed file
(`flash_times`, `beep_times`).
"""

from __future__ import annotations

import asyncio
import math
import time
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from aiortc.mediastreams import MediaStreamTrack
from numpy.typing import NDArray

FPS = 30
RATE = 48000
SAMPLES = 960  # 20 ms
FLASH = 0.1  # seconds a flash (and its beep) lasts
DARK, WHITE = 40, 235  # luma of the pattern and of a flash


@dataclass(frozen=True)
class Signal:
    epoch: float  # wall clock (or file) time the phases count from
    phase: float  # seconds into each second where the flash and the beep start
    frequency: float  # Hz of the beep

    def on(self, t: NDArray[np.float64]) -> NDArray[np.bool_]:
        # (a microsecond's grace: a frame on the flash's instant reads as on, whatever the float rounding)
        return np.asarray(((t - self.epoch - self.phase + 1e-6) % 1.0) < FLASH)

    def picture(self, t: float, n: int, width: int, height: int) -> av.VideoFrame:
        """A dark frame with a moving bar, or all white during a flash."""
        if self.on(np.array([t]))[0]:
            image = np.full((height, width), WHITE, np.uint8)
        else:
            image = np.full((height, width), DARK, np.uint8)
            image[:, (n * 4) % width : (n * 4) % width + 8] = 120
        planes = np.concatenate([image, np.full((height // 2, width), 128, np.uint8)])
        return av.VideoFrame.from_ndarray(planes, format="yuv420p")

    def sound(self, t: NDArray[np.float64]) -> NDArray[np.int16]:
        """Stereo s16 samples (interleaved, one row) at the times `t`."""
        wave = np.sin(2 * np.pi * self.frequency * t) * 16000 * self.on(t)
        return np.repeat(wave.astype(np.int16), 2).reshape(1, -1)


class FlashTrack(MediaStreamTrack):
    """30 fps video paced in real time, flashing as the signal says at each frame's wall-clock time. Its frames
    fall on the 30 fps grid of the signal's epoch, so that a flash (a phase on that grid) starts on a frame: the
    picture is not up to a frame late by construction."""

    kind = "video"

    def __init__(self, signal: Signal, width: int = 320, height: int = 240) -> None:
        super().__init__()
        self.signal, self.width, self.height = signal, width, height
        self._start: float | None = None
        self._n = 0

    async def recv(self) -> av.VideoFrame:
        if self._start is None:
            epoch = self.signal.epoch
            self._start = epoch + math.ceil((time.time() - epoch) * FPS) / FPS
        t = self._start + self._n / FPS
        await asyncio.sleep(max(0.0, t - time.time()))
        frame = self.signal.picture(t, self._n, self.width, self.height)
        frame.pts, frame.time_base = self._n * 90000 // FPS, Fraction(1, 90000)
        self._n += 1
        return frame


class BeepTrack(MediaStreamTrack):
    """48 kHz audio in 20 ms frames paced in real time, beeping as the signal says at each sample's time."""

    kind = "audio"

    def __init__(self, signal: Signal) -> None:
        super().__init__()
        self.signal = signal
        self._start: float | None = None
        self._samples = 0

    async def recv(self) -> av.AudioFrame:
        if self._start is None:
            self._start = time.time()
        t0 = self._start + self._samples / RATE
        await asyncio.sleep(max(0.0, t0 - time.time()))
        frame = av.AudioFrame.from_ndarray(
            self.signal.sound(t0 + np.arange(SAMPLES) / RATE), format="s16", layout="stereo"
        )
        frame.sample_rate, frame.pts, frame.time_base = RATE, self._samples, Fraction(1, RATE)
        self._samples += SAMPLES
        return frame


def write_track_files(
    signal: Signal, directory: Path, seconds: float, width: int, height: int, codec: str = "vp8"
) -> tuple[Path, Path]:
    """(video, audio) files as the recorder writes them (VP8 WebM or H.264 MP4, Opus WebM), time 0 at the
    signal's epoch. H.264 is constrained baseline, as browsers send it."""
    directory.mkdir(parents=True, exist_ok=True)
    h264 = codec == "h264"
    video_path, audio_path = directory / ("video.mp4" if h264 else "video.webm"), directory / "audio.webm"
    with av.open(str(video_path), "w", format="mp4" if h264 else "webm") as container:
        if h264:
            options = {"preset": "veryfast", "tune": "zerolatency", "profile": "baseline", "g": "3000"}
            stream = container.add_stream("libx264", rate=FPS, options=options)
        else:
            stream = container.add_stream("libvpx", rate=FPS, options={"deadline": "realtime", "cpu-used": "8"})
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.bit_rate = 300_000 if width <= 320 else 1_500_000
        for n in range(round(seconds * FPS)):
            frame = signal.picture(signal.epoch + n / FPS, n, width, height)
            frame.pts, frame.time_base = n, Fraction(1, FPS)
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    with av.open(str(audio_path), "w", format="webm") as container:
        sound = container.add_stream("libopus", rate=RATE, layout="stereo")
        sound.bit_rate = 48000
        for k in range(round(seconds * RATE / SAMPLES)):
            t = signal.epoch + (k * SAMPLES + np.arange(SAMPLES)) / RATE
            chunk = av.AudioFrame.from_ndarray(signal.sound(t), format="s16", layout="stereo")
            chunk.sample_rate, chunk.pts, chunk.time_base = RATE, k * SAMPLES, Fraction(1, RATE)
            container.mux(sound.encode(chunk))
        container.mux(sound.encode(None))
    return video_path, audio_path


def flash_times(path: Path, region: tuple[float, float, float, float]) -> list[float]:
    """When a flash starts inside `region` (x0, y0, x1, y1 as fractions of the picture): the time of the
    first bright frame after a dark one."""
    times: list[float] = []
    bright = True  # a file that starts bright does not count as a flash
    with av.open(str(path)) as container:
        for frame in container.decode(container.streams.video[0]):
            luma = frame.to_ndarray(format="gray")
            h, w = luma.shape
            x0, y0, x1, y1 = region
            level = float(luma[int(y0 * h) : int(y1 * h), int(x0 * w) : int(x1 * w)].mean())
            if level > (DARK + WHITE) / 2 and not bright:
                assert frame.time is not None
                times.append(frame.time)
            bright = level > (DARK + WHITE) / 2
    return times


def decode_audio(path: Path) -> tuple[NDArray[np.float64], float]:
    """(mono samples at 48 kHz, time of the first one)."""
    chunks: list[NDArray[np.float64]] = []
    first: float | None = None
    with av.open(str(path)) as container:
        resampler = av.AudioResampler(format="dbl", layout="mono", rate=RATE)
        for frame in container.decode(container.streams.audio[0]):
            if first is None:
                first = frame.time or 0.0
            chunks += [out.to_ndarray()[0] for out in resampler.resample(frame)]
    return np.concatenate(chunks), first or 0.0


def beep_times(samples: NDArray[np.float64], start: float, frequency: float) -> list[float]:
    """When a beep of `frequency` starts: its envelope (5 ms window) rises past half its loudest after
    at least half a second below."""
    t = np.arange(len(samples)) / RATE
    window = RATE // 200
    envelope = np.abs(np.convolve(samples * np.exp(-2j * np.pi * frequency * t), np.ones(window) / window, "same"))
    loud = envelope > envelope.max() / 2
    onsets: list[float] = []
    quiet_since = -1.0
    for i in np.flatnonzero(np.diff(loud.astype(np.int8)) != 0):
        if loud[i + 1]:
            if t[i + 1] - quiet_since >= 0.5:
                onsets.append(start + float(t[i + 1]))  # a centred window: half way up at the onset
        else:
            quiet_since = float(t[i + 1])
    return onsets


def offsets(flashes: list[float], beeps: list[float]) -> list[float]:
    """Each flash's distance to the nearest beep (seconds; positive: the picture is late)."""
    return [f - min(beeps, key=lambda b: abs(b - f)) for f in flashes] if beeps else []
