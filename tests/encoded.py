"""Encoded media for the media tests: frames encoded with PyAV, files decoded back."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import av.logging
import numpy as np

FPS = 30


def encode_video(
    codec: str, frames: int, gop: int = 30, width: int = 320, height: int = 240, noise: bool = False
) -> list[bytes]:
    """Encoded frames as aiortc's depayloader hands them over (VP8 frames, H.264 Annex B access units).
    `noise`: a noisy corner makes every frame large (several RTP packets)."""
    encoder = av.CodecContext.create(codec, "w")
    assert isinstance(encoder, av.VideoCodecContext)
    encoder.width, encoder.height, encoder.pix_fmt = width, height, "yuv420p"
    encoder.time_base, encoder.framerate, encoder.gop_size = Fraction(1, FPS), Fraction(FPS), gop
    if codec == "libx264":
        encoder.options = {"preset": "ultrafast", "tune": "zerolatency", "bframes": "0"}
    out: list[bytes] = []
    for i in range(frames):
        image = np.zeros((height, width, 3), np.uint8)
        image[:, (i * 4) % width] = 255
        image[(i * 3) % height, :] = 128
        if noise:
            image[: height // 4, : width // 4] = np.random.default_rng(i).integers(0, 255, (height // 4, width // 4, 3))
        frame = av.VideoFrame.from_ndarray(image, format="rgb24").reformat(format="yuv420p")
        frame.pts = i
        out += [bytes(p) for p in encoder.encode(frame)]
    out += [bytes(p) for p in encoder.encode(None)]
    return out


def encode_audio(frames: int) -> list[bytes]:
    """Opus frames of 20 ms of a 440 Hz tone (stereo, 48 kHz), as aiortc hands them over."""
    encoder = av.CodecContext.create("libopus", "w")
    assert isinstance(encoder, av.AudioCodecContext)
    encoder.sample_rate, encoder.layout, encoder.format = 48000, "stereo", "s16"
    packets: list[bytes] = []
    for i in range(frames):
        tone = (np.sin(np.arange(960) * 2 * np.pi * 440 / 48000) * 8000).astype(np.int16)
        frame = av.AudioFrame.from_ndarray(np.repeat(tone, 2).reshape(1, -1), format="s16", layout="stereo")
        frame.sample_rate, frame.pts = 48000, i * 960
        packets += [bytes(p) for p in encoder.encode(frame)]
    return packets


def decode(path: Path) -> tuple[int, bool, float]:
    """(frames decoded, first packet is a keyframe, duration in seconds) with errors made fatal."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.codec_context.options = {"err_detect": "explode"}
        packets = [p for p in container.demux(stream) if p.size]
        frames = [f for p in packets for f in p.decode()]
        times = [f.time for f in frames if f.time is not None]
        return len(frames), packets[0].is_keyframe, max(times) - min(times) + 1 / FPS


def problems(path: Path) -> tuple[int, list[str]]:
    """(frames decoded, every problem met) reading and decoding `path` with errors made fatal: the demuxer's
    and decoder's error messages ("File ended prematurely", "Invalid NAL unit size"), corrupt packets."""
    found: list[str] = []
    frames = 0
    av.logging.set_level(av.logging.ERROR)
    try:
        with av.logging.Capture(local=False) as logs:
            try:
                with av.open(str(path)) as container:
                    stream = container.streams[0]
                    stream.codec_context.options = {"err_detect": "explode"}
                    for packet in container.demux(stream):
                        if not packet.size:
                            continue
                        if packet.is_corrupt:
                            found.append(f"a corrupt packet at {packet.pts}")
                        try:
                            frames += len(packet.decode())
                        except av.FFmpegError as exc:
                            found.append(str(exc))
            except av.FFmpegError as exc:
                found.append(str(exc))
    finally:
        av.logging.set_level(None)
    return frames, found + [message.strip() for level, _, message in logs if level <= av.logging.ERROR]
