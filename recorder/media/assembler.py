"""Frame assembly for recording: RTP packets in, whole frames out, in order.

aiortc's own jitter buffer emits a frame only when every packet since its origin is there, so one lost packet
stalls a track until hundreds have piled up, and it then moves its origin to wherever the count lands, which
can be the middle of a frame. A recorder needs the opposite: every complete frame, nothing broken.

- `VideoAssembler`: a frame is written only when it is complete (the codec's own start of frame - VP8's
  partition start, VP9's B flag, for H.264 the packet after the previous frame's marker - every packet up to
  the marker, no hole between) and in order. A hole is asked for again (NACK) until its deadline; when it
  cannot be repaired, the frames after it are dropped up to the next keyframe, which is asked for at once
  (PLI) and again at a bounded rate until it comes. Keyframes are recognised by the codec's structure
  (VP8's start code, an H.264 IDR slice, VP9's sync code), never by a single bit.
- `AudioReorder`: each packet is a frame; packets are written as they arrive, after a short reorder window.
  A lost packet costs its own 20 ms, no more.

Both count what the network did to the track (`LossStats`). Sequence numbers are extended past their 16-bit
wrap; a jump of more than `MAX_JUMP` is a new stream and starts again from a keyframe.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable
from dataclasses import dataclass, field

from aiortc.codecs.h264 import H264PayloadDescriptor
from aiortc.codecs.vpx import VpxPayloadDescriptor

from recorder.media.passthrough import h264_nal_types, is_keyframe

NACK_DEADLINE = 0.35  # seconds a hole is asked for again before the track skips to the next keyframe
NACK_INTERVAL = 0.06  # seconds between two NACKs of the same packet
KEYFRAME_REQUEST_INTERVAL = 0.5  # seconds between two PLIs while waiting for a keyframe
AUDIO_REORDER_WINDOW = 0.06  # seconds an audio packet waits for the ones before it
MAX_JUMP = 3000  # packets: a larger jump of the sequence number is a new stream
MAX_PACKETS = 2048  # packets kept while a frame is incomplete


@dataclass(frozen=True)
class Frame:
    data: bytes
    timestamp: int  # RTP
    keyframe: bool


@dataclass
class LossStats:
    packets: int = 0  # distinct packets received
    lost: int = 0  # never came
    repaired: int = 0  # came after they were missed (retransmitted or reordered)
    duplicates: int = 0  # came twice, or after they were given up
    frames_dropped: int = 0  # frames thrown away: incomplete, or waiting for a keyframe
    keyframe_waits: int = 0  # times the track skipped to the next keyframe
    keyframe_requests: int = 0  # PLIs asked for
    gaps: list[tuple[int, int]] = field(default_factory=list)  # (last RTP timestamp written, next written)

    def summary(self) -> str:
        return (
            f"{self.packets} packets, {self.lost} lost, {self.repaired} repaired, {self.frames_dropped} frames"
            f" dropped, {self.keyframe_waits} keyframe waits, {self.keyframe_requests} keyframe requests"
        )


@dataclass
class _Packet:
    timestamp: int
    marker: bool
    start: bool | None  # begins a frame; None: the codec cannot tell from the packet alone (H.264)
    key_start: bool  # can begin a keyframe
    data: bytes  # depayloaded


Parser = Callable[[bytes], tuple[bool | None, bool, bytes]]  # payload -> starts a frame, starts a keyframe, data


def _vp8(payload: bytes) -> tuple[bool | None, bool, bytes]:
    descriptor, data = VpxPayloadDescriptor.parse(payload)
    start = descriptor.partition_start == 1 and descriptor.partition_id == 0
    return start, start and bool(data) and data[0] & 0x01 == 0, data


def _vp9(payload: bytes) -> tuple[bool | None, bool, bytes]:
    """RFC 9628's payload descriptor: I P L F B E V Z, then the fields they announce."""
    if not payload:
        raise ValueError("VP9 descriptor is too short")
    flags = payload[0]
    picture_id, inter, layers, flexible, begin, scalability = (flags >> s & 1 for s in (7, 6, 5, 4, 3, 1))
    pos = 1
    if picture_id:
        pos += 2 if payload[pos] & 0x80 else 1
    if layers:
        pos += 1 if flexible else 2
    if flexible and inter:
        while payload[pos] & 0x01:  # P_DIFF entries, N bit set while another follows
            pos += 1
        pos += 1
    if scalability:
        info = payload[pos]
        spatial, sizes, groups = (info >> 5) + 1, info >> 4 & 1, info >> 3 & 1
        pos += 1 + (4 * spatial if sizes else 0)
        if groups:
            count, pos = payload[pos], pos + 1
            for _ in range(count):
                references = payload[pos] >> 2 & 0x03
                pos += 1 + references
    if pos > len(payload):
        raise ValueError("VP9 descriptor is truncated")
    return bool(begin), bool(begin) and not inter, payload[pos:]


def _h264(payload: bytes) -> tuple[bool | None, bool, bytes]:
    _, data = H264PayloadDescriptor.parse(payload)
    nal_type = payload[0] & 0x1F
    if nal_type == 28:  # FU-A: the fragment's own NAL type, and whether it is the first fragment
        first = bool(payload[1] & 0x80)
        return None, first and payload[1] & 0x1F in (5, 7, 9), data
    types = h264_nal_types(data)
    return None, bool(types) and types[0] in (5, 7, 9), data


PARSERS: dict[str, Parser] = {"vp8": _vp8, "vp9": _vp9, "h264": _h264}


class _Sequence:
    """16-bit RTP sequence numbers extended past their wrap, relative to the highest seen."""

    def __init__(self) -> None:
        self.highest: int | None = None

    def extend(self, seq: int) -> int:
        if self.highest is None:
            return seq + (1 << 20)  # room below for packets that arrive out of order
        delta = (seq - self.highest + 0x8000) % 0x10000 - 0x8000
        return self.highest + delta


class VideoAssembler:
    def __init__(
        self,
        codec: str,
        *,
        deadline: float = NACK_DEADLINE,
        nack_interval: float = NACK_INTERVAL,
        keyframe_interval: float = KEYFRAME_REQUEST_INTERVAL,
    ) -> None:
        self.codec = codec
        self._parse = PARSERS[codec]
        self._deadline, self._nack_interval, self._keyframe_interval = deadline, nack_interval, keyframe_interval
        self._sequence = _Sequence()
        self._packets: dict[int, _Packet] = {}
        self._key_starts: list[int] = []  # heap of the packets that can begin a keyframe
        self._missing: dict[int, float] = {}  # sequence number -> when it was first missed
        self._nacked: dict[int, float] = {}  # sequence number -> when it was last asked for
        self._next: int | None = None  # the first packet of the next frame; None: waiting for a keyframe
        self._last_request: float | None = None  # the last PLI
        self._last_written: int | None = None  # RTP timestamp of the last frame written
        self._floor: int | None = None  # packets below this were dropped: a late one is not taken
        self.stats = LossStats()

    @property
    def needs_keyframe(self) -> bool:
        return self._next is None

    def add(self, seq: int, timestamp: int, marker: bool, payload: bytes, now: float) -> list[Frame]:
        """One RTP packet (a retransmission unwrapped to its original); the frames it completes, in order."""
        ext = self._sequence.extend(seq)
        highest = self._sequence.highest
        if highest is not None and abs(ext - highest) > MAX_JUMP:
            self._restart()  # a new stream (the sender restarted): start again from its first keyframe
            ext = seq + (1 << 20)
            highest = None
        late = (self._next is not None and ext < self._next) or (self._floor is not None and ext < self._floor)
        if ext in self._packets or late:
            self.stats.duplicates += 1
            return []
        try:
            start, key_start, data = self._parse(payload)
        except (ValueError, IndexError):
            return self._drain(now, changed=False)  # a packet that does not parse is as good as lost
        self.stats.packets += 1
        self._packets[ext] = _Packet(timestamp, marker, start, key_start, data)
        if key_start:
            heapq.heappush(self._key_starts, ext)
        if highest is None or ext > highest:
            for missed in range(highest + 1 if highest is not None else ext, ext):
                self._missing[missed] = self._nacked[missed] = now  # the receiver NACKs a new hole itself
            self._sequence.highest = ext
        elif self._missing.pop(ext, None) is not None:
            self._nacked.pop(ext, None)
            self.stats.repaired += 1
        if len(self._packets) > MAX_PACKETS:
            self._forget_below(min(self._packets) + len(self._packets) - MAX_PACKETS)
        # a frame can only have become whole with its last packet (the marker, or a new timestamp after it
        # for a sender without markers) or with a packet that fills a hole: the others need no look (per packet)
        before = self._packets.get(ext - 1)
        changed = marker or highest is None or ext < highest or (before is not None and before.timestamp != timestamp)
        return self._drain(now, changed)

    def nacks(self, now: float) -> list[int]:
        """The 16-bit sequence numbers to ask for again now: missing, not given up, not asked for lately."""
        due = [
            s
            for s, since in self._missing.items()
            if now - since < self._deadline and now - self._nacked.get(s, 0.0) >= self._nack_interval
        ]
        for s in due:
            self._nacked[s] = now
        return sorted(s & 0xFFFF for s in due)

    def keyframe_due(self, now: float) -> bool:
        """Whether to ask the sender for a keyframe now (at once when the wait begins, then at a bounded rate)."""
        if not self.needs_keyframe:
            return False
        if self._last_request is not None and now - self._last_request < self._keyframe_interval:
            return False
        self._last_request = now
        self.stats.keyframe_requests += 1
        return True

    # ------------------------------------------------------------------ internals

    def _drain(self, now: float, changed: bool = True) -> list[Frame]:
        """The frames that are whole now, in order; `changed`: whether the last packet could have completed one
        (else only deadlines are checked)."""
        frames: list[Frame] = []
        while True:
            if self._next is None:
                found = self._keyframe() if changed else None
                if found is None:
                    self._expire_waiting(now)
                    return frames
                start, frame, end = found
                self._drop_below(start)
            else:
                complete = self._complete(self._next) if changed else None
                if complete is None:
                    if not self._overdue(now):
                        return frames
                    self._skip_to_keyframe()
                    changed = True
                    continue
                frame, end = complete
                start = self._next
            changed = True  # the next frame may be whole already
            self._take(start, end)
            if self._last_written is not None and self._next is None:
                self.stats.gaps.append((self._last_written, frame.timestamp))
            self._next = end + 1
            self._last_written = frame.timestamp
            frames.append(frame)

    def _complete(self, start: int) -> tuple[Frame, int] | None:
        """The frame that begins at `start`, when all of it is here: (frame, its last packet)."""
        first = self._packets.get(start)
        if first is None or first.start is False:
            return None
        parts, seq = [first.data], start
        while not self._packets[seq].marker:
            following = self._packets.get(seq + 1)
            if following is None:
                return None
            if following.timestamp != first.timestamp:
                break  # a sender that does not set the marker: the next frame has begun
            parts.append(following.data)
            seq += 1
        data = b"".join(parts)
        return Frame(data, first.timestamp, is_keyframe(self.codec, data)), seq

    def _keyframe(self) -> tuple[int, Frame, int] | None:
        """The first complete keyframe among the packets kept: (its first packet, the frame, its last)."""
        for start in sorted(self._key_starts):
            if start not in self._packets or not self._begins_frame(start):
                continue
            complete = self._complete(start)
            if complete is not None and complete[0].keyframe:
                return start, complete[0], complete[1]
        return None

    def _begins_frame(self, seq: int) -> bool:
        packet = self._packets[seq]
        if packet.start is not None:
            return packet.start
        before = self._packets.get(seq - 1)  # H.264: after the previous frame's marker, or an access unit's
        if before is None:  # first NAL (SPS or delimiter) when what came before is not known
            return h264_nal_types(packet.data)[:1] in ([7], [9])
        return before.marker or before.timestamp != packet.timestamp

    def _overdue(self, now: float) -> bool:
        """The frame at `_next` cannot be completed: a hole before it is past its deadline, or its first
        packet is not the start of a frame."""
        first = self._packets.get(self._next) if self._next is not None else None
        if first is not None and first.start is False:
            return True
        return any(now - since >= self._deadline for s, since in self._missing.items() if s >= (self._next or 0))

    def _skip_to_keyframe(self) -> None:
        self.stats.keyframe_waits += 1
        self._next = None
        self._last_request = None  # ask at once

    def _expire_waiting(self, now: float) -> None:
        """While waiting for a keyframe, holes past their deadline are lost and not asked for again."""
        for s in [s for s, since in self._missing.items() if now - since >= self._deadline]:
            del self._missing[s]
            self._nacked.pop(s, None)
            self.stats.lost += 1

    def _take(self, start: int, end: int) -> None:
        for seq in range(start, end + 1):
            del self._packets[seq]

    def _drop_below(self, start: int) -> None:
        """Everything before the keyframe the track starts again at is dropped: frames and holes."""
        self._forget_below(start)
        while self._key_starts and self._key_starts[0] < start:
            heapq.heappop(self._key_starts)

    def _forget_below(self, floor: int) -> None:
        dropped = [s for s in self._packets if s < floor]
        self.stats.frames_dropped += len({self._packets[s].timestamp for s in dropped})
        for s in dropped:
            del self._packets[s]
        for s in [s for s in self._missing if s < floor]:
            del self._missing[s]
            self._nacked.pop(s, None)
            self.stats.lost += 1
        self._floor = floor if self._floor is None else max(self._floor, floor)
        if self._next is not None and self._next < floor:
            self._next = None

    def _restart(self) -> None:
        self._forget_below(max(self._packets, default=0) + 1)
        self._sequence = _Sequence()
        self._key_starts, self._floor, self._next = [], None, None


class AudioReorder:
    """Audio packets in order after a short reorder window; a lost one is skipped, late ones are dropped."""

    def __init__(self, window: float = AUDIO_REORDER_WINDOW) -> None:
        self._window = window
        self._sequence = _Sequence()
        self._pending: dict[int, tuple[int, bytes, float]] = {}  # seq -> (timestamp, payload, arrival)
        self._next: int | None = None
        self.stats = LossStats()

    def add(self, seq: int, timestamp: int, marker: bool, payload: bytes, now: float) -> list[Frame]:
        ext = self._sequence.extend(seq)
        if self._sequence.highest is not None and abs(ext - self._sequence.highest) > MAX_JUMP:
            self._pending.clear()  # a new stream
            self._sequence, self._next = _Sequence(), None
            ext = seq + (1 << 20)
        if ext in self._pending or (self._next is not None and ext < self._next):
            self.stats.duplicates += 1
            return []
        self.stats.packets += 1
        self._pending[ext] = (timestamp, payload, now)
        if self._sequence.highest is None or ext > self._sequence.highest:
            self._sequence.highest = ext
        elif self._next is not None:
            self.stats.repaired += 1  # came after a later one: reordered
        if self._next is None:
            self._next = ext
        return self._release(now)

    def nacks(self, now: float) -> list[int]:
        return []

    def keyframe_due(self, now: float) -> bool:
        return False

    def _release(self, now: float) -> list[Frame]:
        frames: list[Frame] = []
        while self._pending and self._next is not None:
            if self._next not in self._pending:
                oldest = min(self._pending)
                if now - self._pending[oldest][2] < self._window and oldest - self._next < 4:
                    break  # the packets before it may still come
                self.stats.lost += oldest - self._next
                self._next = oldest
            timestamp, payload, _ = self._pending.pop(self._next)
            frames.append(Frame(payload, timestamp, True))
            self._next += 1
        return frames


Assembler = VideoAssembler | AudioReorder


def assembler_for(kind: str, codec: str) -> Assembler:
    """The receive path of one track: video by frames (VP8, VP9, H.264), audio by packets."""
    if kind == "audio":
        return AudioReorder()
    return VideoAssembler(codec)
