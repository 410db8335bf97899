"""The tap on aiortc's receive path: every RTP packet goes to our own frame assembly, nothing to its decoder.

aiortc hands each packet, once its retransmission wrapper is undone and it is depayloaded, to the receiver's
jitter buffer (`RTCRtpReceiver.__jitter_buffer`, private API), whose complete frames go to a decoder thread.
We put a stand-in there: packets go to a recording-grade assembler (`recorder.media.assembler`) whose
complete, in-order frames go to the sink, and nothing reaches the decoder, so no frame is ever decoded. The
stand-in answers the receiver with when to send a PLI, and sends NACKs again for holes not yet repaired. The
receiver's RTCP handler is wrapped too: each sender report (the sender's wall clock against its RTP clock)
goes to the sink, which places its track on the wall-clock timeline with it (lip sync across tracks). aiortc
is pinned exactly because of this; `tests/recorder/test_hook.py` fails when the attribute or its behaviour
changes.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Coroutine
from typing import Any, Protocol

from aiortc import RTCPeerConnection, RTCRtpReceiver
from aiortc.jitterbuffer import JitterBuffer, JitterFrame
from aiortc.rtp import AnyRtcpPacket, RtcpSrPacket, RtpPacket

from recorder.media.assembler import PARSERS, Assembler, Frame, LossStats, assembler_for
from recorder.tasks import TaskSet

_ATTRIBUTE = "_RTCRtpReceiver__jitter_buffer"
SO_RCVBUFFORCE = getattr(socket, "SO_RCVBUFFORCE", 33)  # Linux's number; Python does not name it
NTP_EPOCH_OFFSET = 2208988800  # seconds from 1900-01-01 (NTP) to 1970-01-01 (Unix)


class HookError(RuntimeError):
    """aiortc no longer has the jitter buffer we tap: the pinned version was changed."""


class FrameSink(Protocol):
    @property
    def kind(self) -> str:
        """ "audio" or "video"."""

    @property
    def codec(self) -> str | None:
        """The negotiated codec (lower case), None while unknown or when it is not recorded."""

    def on_frame(self, frame: Frame) -> None: ...

    def on_sender_report(self, wall_clock: float, rtp_timestamp: int) -> None:
        """The sender's RTP clock read `rtp_timestamp` at `wall_clock` (Unix seconds)."""


class TappedJitterBuffer:
    """Stands in for the receiver's JitterBuffer: assembles frames for the sink, asks for repairs."""

    def __init__(self, inner: JitterBuffer, sink: FrameSink, receiver: RTCRtpReceiver) -> None:
        self._inner = inner
        self._sink = sink
        self._receiver = receiver
        self.assembler: Assembler | None = None
        self._sending = TaskSet("nacks")
        self.last_packet: float | None = None  # time.monotonic() of the last packet's arrival
        self._keyframe_asked = False

    @property
    def sink(self) -> FrameSink:
        return self._sink

    def retarget(self, sink: FrameSink) -> None:
        """Frames (and sender reports) go to `sink` from now on: the next segment of the same track."""
        self._sink = sink

    def request_keyframe(self) -> None:
        """Ask the sender for a keyframe with the next packet (PLI): a new segment starts with one at once."""
        self._keyframe_asked = True

    @property
    def capacity(self) -> int:
        return self._inner.capacity

    @property
    def stats(self) -> LossStats:
        return self.assembler.stats if self.assembler is not None else LossStats()

    def add(self, packet: RtpPacket) -> tuple[bool, JitterFrame | None]:
        """The receiver's call for each packet: (send a PLI now, nothing for its decoder)."""
        now = self.last_packet = time.monotonic()
        if self.assembler is None:
            codec = self._sink.codec
            if codec is None or (self._sink.kind == "video" and codec not in PARSERS):
                return False, None
            self.assembler = assembler_for(self._sink.kind, codec)
        for frame in self.assembler.add(
            packet.sequence_number, packet.timestamp, bool(packet.marker), packet.payload, now
        ):
            self._sink.on_frame(frame)
        lost = self.assembler.nacks(now)
        if lost:
            self._sending.spawn(self._receiver._send_rtcp_nack(packet.ssrc, lost), name="nack")
        asked, self._keyframe_asked = self._keyframe_asked, False
        return self.assembler.keyframe_due(now) or asked, None


def tap_receiver(receiver: RTCRtpReceiver, sink: FrameSink) -> TappedJitterBuffer:
    """Divert `receiver`'s encoded frames to `sink`; call before media flows (at the track event)."""
    inner = getattr(receiver, _ATTRIBUTE, None)
    if not isinstance(inner, JitterBuffer):
        raise HookError(f"aiortc's RTCRtpReceiver has no {_ATTRIBUTE}: check the pinned aiortc version")
    tapped = TappedJitterBuffer(inner, sink, receiver)
    setattr(receiver, _ATTRIBUTE, tapped)
    receiver._handle_rtcp_packet = _reporting(receiver._handle_rtcp_packet, tapped)  # type: ignore[method-assign,assignment]
    return tapped


def ntp_to_unix(ntp: int) -> float:
    """A 64-bit NTP timestamp as Unix seconds."""
    return (ntp >> 32) - NTP_EPOCH_OFFSET + (ntp & 0xFFFFFFFF) / (1 << 32)


def _reporting(
    handle: Callable[[AnyRtcpPacket], Coroutine[Any, Any, None]], tapped: TappedJitterBuffer
) -> Callable[[AnyRtcpPacket], Coroutine[Any, Any, None]]:
    async def handle_rtcp_packet(packet: AnyRtcpPacket) -> None:
        if isinstance(packet, RtcpSrPacket):
            tapped.sink.on_sender_report(
                ntp_to_unix(packet.sender_info.ntp_timestamp), packet.sender_info.rtp_timestamp
            )
        await handle(packet)

    return handle_rtcp_packet


def enlarge_receive_buffers(pc: RTCPeerConnection, size: int) -> list[int]:
    """Give the peer connection's ICE sockets a receive buffer of `size` bytes, so that a burst (a keyframe)
    that arrives while the event loop is busy (API load, a file being closed) waits in the kernel instead of
    being dropped. Uses SO_RCVBUFFORCE where the process may (root, CAP_NET_ADMIN), else SO_RCVBUF (capped by
    net.core.rmem_max). Call it once the local description is set (the sockets exist then). The sizes the
    kernel granted (it doubles what is asked, for its bookkeeping). Private API of aioice (pinned with aiortc)."""
    granted: list[int] = []
    seen: set[int] = set()
    for transceiver in pc.getTransceivers():
        ice = transceiver.receiver.transport.transport
        connection = getattr(ice, "_connection", None)
        for protocol in getattr(connection, "_protocols", []):
            sock = protocol.transport.get_extra_info("socket") if protocol.transport is not None else None
            if sock is None or sock.fileno() in seen:
                continue
            seen.add(sock.fileno())
            try:
                sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, size)
            except OSError:  # not permitted: as much as rmem_max allows
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, size)
            granted.append(sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF))
    return granted
