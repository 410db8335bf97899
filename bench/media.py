"""Pre-encoded media for the benchmark: publishers that cost little (no encoder in the loop)."""

from __future__ import annotations

import asyncio
import pickle
import time
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np
from aiortc.mediastreams import MediaStreamTrack

FPS = 30
WIDTH, HEIGHT = 640, 480
VIDEO_BITRATE = 1_000_000
SECONDS = 10  # the clip loops; a keyframe every second so a loop never breaks the picture
# libvpx's first keyframes are huge (~290 KB, ~250 RTP packets) until its rate control settles; aiortc does
# not pace, so such a burst overflows Janus's socket buffer and the frame is lost. A browser's encoder is
# warm and paced, so the clip skips the first seconds: its keyframes are ~30 KB.
WARMUP = 4


def encode_clip(cache: Path) -> tuple[list[bytes], list[bytes]]:
    """(VP8 frames, Opus 20 ms packets) of a SECONDS clip, cached on disk."""
    if cache.exists():
        cached: tuple[list[bytes], list[bytes]] = pickle.loads(cache.read_bytes())
        return cached
    rng = np.random.default_rng(1)
    encoder = av.CodecContext.create("libvpx", "w")
    assert isinstance(encoder, av.VideoCodecContext)
    encoder.width, encoder.height, encoder.pix_fmt = WIDTH, HEIGHT, "yuv420p"
    encoder.time_base, encoder.framerate, encoder.gop_size = Fraction(1, FPS), Fraction(FPS), FPS
    encoder.bit_rate = VIDEO_BITRATE
    encoder.options = {"deadline": "realtime", "cpu-used": "8", "lag-in-frames": "0"}
    video: list[bytes] = []
    base = rng.integers(0, 255, (HEIGHT, WIDTH, 3), dtype=np.uint8)
    for i in range(FPS * (WARMUP + SECONDS)):
        image = np.roll(base, i * 6, axis=1)
        frame = av.VideoFrame.from_ndarray(image, format="rgb24").reformat(format="yuv420p")
        frame.pts = i
        video += [bytes(p) for p in encoder.encode(frame)]
    video += [bytes(p) for p in encoder.encode(None)]
    video = video[FPS * WARMUP :]
    opus = av.CodecContext.create("libopus", "w")
    assert isinstance(opus, av.AudioCodecContext)
    opus.sample_rate, opus.layout, opus.format, opus.bit_rate = 48000, "stereo", "s16", 48000
    audio: list[bytes] = []
    t = np.arange(48000 * SECONDS) / 48000
    tone = (np.sin(2 * np.pi * 440 * t) * 8000).astype(np.int16)
    for i in range(50 * SECONDS):
        chunk = tone[i * 960 : (i + 1) * 960]
        sound = av.AudioFrame.from_ndarray(np.repeat(chunk, 2).reshape(1, -1), format="s16", layout="stereo")
        sound.sample_rate, sound.pts = 48000, i * 960
        audio += [bytes(p) for p in opus.encode(sound)]
    cache.write_bytes(pickle.dumps((video, audio)))
    return video, audio


class PacketTrack(MediaStreamTrack):
    """Loops pre-encoded packets in real time; remembers when it sent each one."""

    def __init__(self, kind: str, packets: list[bytes]) -> None:
        super().__init__()
        self.kind = kind
        self._packets = packets
        self._step = 3000 if kind == "video" else 960
        self._rate = 90000 if kind == "video" else 48000
        self._n = 0
        self._start: float | None = None
        self.sent: list[float] = []

    async def recv(self) -> av.Packet[Any]:
        if self._start is None:
            self._start = time.time()
        else:
            await asyncio.sleep(max(0.0, self._start + self._n * self._step / self._rate - time.time()))
        packet = av.Packet(self._packets[self._n % len(self._packets)])
        packet.pts, packet.time_base = self._n * self._step, Fraction(1, self._rate)
        self._n += 1
        self.sent.append(time.time())
        return packet
