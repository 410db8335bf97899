"""Finalizing a track file whose writer died: what still reads is copied, without decoding, into a new file.

The passthrough writer flushes every second, so a killed process leaves a file that plays up to then but has
no index (WebM cues, the fragmented MP4's last fragment may be cut, its last frame torn: the demuxer marks it
corrupt, and the copy ends before it). Copying every packet that still reads
into a new file of the same format gives a whole file with its duration; it then replaces the original.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import av
import av.container

from recorder.clock import FRAME_INTERVAL
from recorder.media.passthrough import WriterResult

_FORMATS = {".webm": "webm", ".mp4": "mp4", ".mkv": "matroska"}


def repair(path: Path) -> WriterResult:
    """Rewrite `path` from the packets that still read; its frames and duration (0 frames: left as it was)."""
    target = path.with_name(f".{path.name}.repair")
    frames, first, last, video, time_base = 0, None, None, False, None
    try:
        with av.open(str(path)) as source:
            stream = source.streams[0]
            video = stream.type == "video"
            with av.open(str(target), "w", format=_FORMATS.get(path.suffix, "matroska")) as output:
                copy = output.add_stream_from_template(stream)
                for packet in _readable(source, stream):
                    if packet.is_corrupt:  # cut short by the crash (a torn last frame): the file ends before it
                        break
                    if packet.pts is None or packet.size == 0:
                        continue
                    first = packet.pts if first is None else first
                    last = packet.pts if last is None else max(last, packet.pts)
                    packet.stream = copy
                    output.mux(packet)
                    frames += 1
                time_base = stream.time_base
    except (av.FFmpegError, IndexError, OSError):
        frames = 0
    if frames == 0 or first is None or last is None or time_base is None:
        with contextlib.suppress(FileNotFoundError):
            target.unlink()
        return WriterResult(path, 0, 0.0)
    os.replace(target, path)
    duration = float(last * time_base) + (FRAME_INTERVAL if video else 0.0)  # as the writer counts it (from rtp 0)
    return WriterResult(path, frames, duration)


def _readable(source: av.container.InputContainer, stream: av.stream.Stream) -> Iterator[av.Packet[Any]]:
    """The packets up to the first one that does not read (the cut), one at a time."""
    packets = source.demux(stream)
    while True:
        try:
            packet = next(packets)
        except (StopIteration, av.FFmpegError):
            return
        yield packet
