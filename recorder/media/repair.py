"""Finalizing a track file whose writer died: what still reads is copied, without decoding, into a new file.

The passthrough writer flushes every second, so a killed process leaves a file that plays up to then but has
no index (WebM cues, the fragmented MP4's last fragment may be cut, its last frame torn: the demuxer marks it
corrupt, and the copy ends before it). Copying every packet that still reads
into a new file of the same format gives a whole file with its duration; it then replaces the original.

`trim` needs no room at all (a full disk): the writer writes whole WebM clusters and whole fMP4 fragments, so a
write cut short leaves a torn last element, and cutting the file back to the end of its last whole one leaves
a file that decodes to its end.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

import av
import av.container

from recorder.clock import FRAME_INTERVAL
from recorder.media.passthrough import WriterResult

_FORMATS = {".webm": "webm", ".mp4": "mp4", ".mkv": "matroska"}


def repair(path: Path) -> WriterResult:
    """Rewrite `path` from the packets that still read; its frames and duration (0 frames: left as it was)."""
    target = path.with_name(f".{path.name}.repair")
    result = WriterResult(path, 0, 0.0)
    try:
        with av.open(str(path)) as source:
            stream = source.streams[0]
            with av.open(str(target), "w", format=_FORMATS.get(path.suffix, "matroska")) as output:
                copy = output.add_stream_from_template(stream)
                frames, last = 0, None
                for packet, pts in _whole_packets(source, stream):
                    last = pts if last is None else max(last, pts)
                    packet.stream = copy
                    output.mux(packet)
                    frames += 1
                result = _result(path, frames, last, stream)
    except (av.FFmpegError, IndexError, OSError):
        result = WriterResult(path, 0, 0.0)
    if not result.frames:
        with contextlib.suppress(FileNotFoundError):
            target.unlink()
        return result
    os.replace(target, path)
    return result


def _whole_packets(
    source: av.container.InputContainer, stream: av.stream.Stream
) -> Iterator[tuple[av.Packet[Any], int]]:
    """The stream's packets with a time and data (and that time), up to the first that does not read or is
    corrupt (the cut: a torn last frame, the file ends before it)."""
    packets = source.demux(stream)
    while True:
        try:
            packet = next(packets)
        except (StopIteration, av.FFmpegError):
            return
        if packet.is_corrupt:
            return
        if packet.pts is not None and packet.size:
            yield packet, packet.pts


def _result(
    path: Path, frames: int, last: int | None, stream: av.stream.Stream, error: str | None = None
) -> WriterResult:
    """What a file holds, its duration counted as the writer counts it (from its first frame, the last video
    frame lasting a frame interval)."""
    if not frames or last is None or stream.time_base is None:
        return WriterResult(path, 0, 0.0, error)
    video = stream.type == "video"
    return WriterResult(path, frames, float(last * stream.time_base) + (FRAME_INTERVAL if video else 0.0), error)


def finish(path: Path, written: WriterResult) -> WriterResult:
    """A closed file cut back to its last whole element (`trim`); what it then holds (`written` when whole)."""
    if trim(path) == 0:
        return written
    result = WriterResult(path, 0, 0.0, written.error)
    with contextlib.suppress(av.FFmpegError, IndexError, OSError), av.open(str(path)) as source:
        stream = source.streams[0]
        frames, last = 0, None
        for _, pts in _whole_packets(source, stream):
            frames, last = frames + 1, pts if last is None else max(last, pts)
        result = _result(path, frames, last, stream, written.error)
    return result


def trim(path: Path) -> int:
    """Cut `path` back to the end of its last whole top-level element (WebM: the Segment's children; MP4:
    boxes, a fragment's moof only with its whole mdat); the bytes removed (0: the file was whole)."""
    size = path.stat().st_size
    with path.open("r+b") as file:
        whole = _whole_mp4(file, size) if path.suffix == ".mp4" else _whole_webm(file, size)
        if whole is None or whole >= size:
            return 0
        file.truncate(whole)
    return size - whole


_SEGMENT, _CLUSTER = 0x18538067, 0x1F43B675
_UNKNOWN_SIZES = {(1 << (7 * n)) - 1 for n in range(1, 9)}


def _vint(file: BinaryIO, keep_marker: bool) -> int | None:
    """An EBML variable-size integer (an ID keeps its length marker, a size does not); None at the end."""
    first = file.read(1)
    if not first or first[0] == 0:
        return None
    length = 9 - first[0].bit_length()
    rest = file.read(length - 1)
    if len(rest) < length - 1:
        return None
    value = first[0] if keep_marker else first[0] & ((1 << (8 - length)) - 1)
    for byte in rest:
        value = value << 8 | byte
    return value


def _whole_webm(file: BinaryIO, size: int) -> int | None:
    """The end of the last whole child of the Segment (None: not a file this can tell). A torn Cluster keeps
    its whole blocks: its size is written again (in as many bytes) to end after the last of them."""
    position = 0
    while True:  # the EBML header, then the Segment
        file.seek(position)
        element, length = _vint(file, True), _vint(file, False)
        if element is None or length is None:
            return None
        if element == _SEGMENT:
            break
        position = file.tell() + length
    whole = file.tell()
    if whole + length < size:
        return None  # (something after the Segment)
    if whole + length > size and length not in _UNKNOWN_SIZES:
        # its size was written at the close, and its end is cut: it is unknown again ("to the end of the file")
        width = whole - position - 4
        file.seek(whole - width)
        file.write(((1 << (7 * width + 1)) - 1).to_bytes(width, "big"))
    while whole < size:
        file.seek(whole)
        element, length = _vint(file, True), _vint(file, False)
        if element is None or length is None:
            return whole
        if length in _UNKNOWN_SIZES:
            return None
        if file.tell() + length <= size:
            whole = file.tell() + length
            continue
        if element == _CLUSTER:
            return _whole_cluster(file, whole, size)
        return whole
    return whole


def _whole_cluster(file: BinaryIO, start: int, size: int) -> int:
    """A torn Cluster at `start` cut back to its whole children (its size rewritten); `start` if none is whole."""
    file.seek(start)
    _vint(file, True)
    size_at = file.tell()
    _vint(file, False)
    body = end = file.tell()
    while end < size:
        file.seek(end)
        element, length = _vint(file, True), _vint(file, False)
        if element is None or length is None or file.tell() + length > size:
            break
        end = file.tell() + length
    if end == body:
        return start
    width = body - size_at
    file.seek(size_at)
    file.write(((1 << (7 * width)) | (end - body)).to_bytes(width, "big"))
    return end


def _whole_mp4(file: BinaryIO, size: int) -> int | None:
    """The end of the last whole box that is not a fragment's moof waiting for its mdat."""
    position = whole = 0
    while position < size:
        file.seek(position)
        header = file.read(8)
        if len(header) < 8:
            break
        length, kind = int.from_bytes(header[:4], "big"), header[4:]
        if length == 1:
            large = file.read(8)
            if len(large) < 8:
                break
            length = int.from_bytes(large, "big")
        if length == 0:  # to the end of the file
            return None
        if length < 8 or position + length > size:
            break
        position += length
        if kind != b"moof":
            whole = position
    return whole
