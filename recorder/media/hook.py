"""The tap on aiortc's receive path that hands encoded frames to a sink instead of its decoder.

aiortc reassembles RTP packets into encoded frames in the receiver's jitter buffer
(`RTCRtpReceiver.__jitter_buffer`, private API): depayload -> jitter buffer -> decoder queue -> decoder
thread. We wrap that jitter buffer: every complete frame goes to the sink and nothing reaches the
decoder, so no frame is ever decoded. The receiver's RTCP handler is wrapped too: each sender report
(the sender's wall clock against its RTP clock) goes to the sink, which places its track on the wall-clock
timeline with it (lip sync across tracks). aiortc is pinned exactly because of this; `tests/recorder/
test_hook.py` fails when the attribute or its behaviour changes.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Coroutine
from typing import Any, Protocol

from aiortc import RTCRtpReceiver
from aiortc.jitterbuffer import JitterBuffer, JitterFrame
from aiortc.rtp import AnyRtcpPacket, RtcpSrPacket, RtpPacket

_ATTRIBUTE = "_RTCRtpReceiver__jitter_buffer"
KEYFRAME_REQUEST_INTERVAL = 0.5  # seconds between two PLIs while waiting for a keyframe
NTP_EPOCH_OFFSET = 2208988800  # seconds from 1900-01-01 (NTP) to 1970-01-01 (Unix)


class HookError(RuntimeError):
    """aiortc no longer has the jitter buffer we tap: the pinned version was changed."""


class FrameSink(Protocol):
    @property
    def needs_keyframe(self) -> bool: ...

    def on_frame(self, data: bytes, rtp_timestamp: int) -> None: ...

    def on_loss(self) -> None: ...

    def on_sender_report(self, wall_clock: float, rtp_timestamp: int) -> None:
        """The sender's RTP clock read `rtp_timestamp` at `wall_clock` (Unix seconds)."""


class TappedJitterBuffer:
    """Stands in for the receiver's JitterBuffer; keeps its reassembly, diverts its output."""

    def __init__(self, inner: JitterBuffer, sink: FrameSink) -> None:
        self._inner = inner
        self._sink = sink
        self._last_pli = 0.0

    @property
    def capacity(self) -> int:
        return self._inner.capacity

    def add(self, packet: RtpPacket) -> tuple[bool, JitterFrame | None]:
        pli_flag, frame = self._inner.add(packet)
        if pli_flag:
            self._sink.on_loss()
        if frame is not None:
            self._sink.on_frame(frame.data, frame.timestamp)
        if self._sink.needs_keyframe:
            now = time.monotonic()
            if now - self._last_pli >= KEYFRAME_REQUEST_INTERVAL:
                self._last_pli = now
                pli_flag = True  # the receiver sends the PLI (audio receivers ignore it)
        elif pli_flag:
            self._last_pli = time.monotonic()
        return pli_flag, None


def tap_receiver(receiver: RTCRtpReceiver, sink: FrameSink) -> TappedJitterBuffer:
    """Divert `receiver`'s encoded frames to `sink`; call before media flows (at the track event)."""
    inner = getattr(receiver, _ATTRIBUTE, None)
    if not isinstance(inner, JitterBuffer):
        raise HookError(f"aiortc's RTCRtpReceiver has no {_ATTRIBUTE}: check the pinned aiortc version")
    tapped = TappedJitterBuffer(inner, sink)
    setattr(receiver, _ATTRIBUTE, tapped)
    receiver._handle_rtcp_packet = _reporting(receiver._handle_rtcp_packet, sink)  # type: ignore[method-assign,assignment]
    return tapped


def ntp_to_unix(ntp: int) -> float:
    """A 64-bit NTP timestamp as Unix seconds."""
    return (ntp >> 32) - NTP_EPOCH_OFFSET + (ntp & 0xFFFFFFFF) / (1 << 32)


def _reporting(
    handle: Callable[[AnyRtcpPacket], Coroutine[Any, Any, None]], sink: FrameSink
) -> Callable[[AnyRtcpPacket], Coroutine[Any, Any, None]]:
    async def handle_rtcp_packet(packet: AnyRtcpPacket) -> None:
        if isinstance(packet, RtcpSrPacket):
            sink.on_sender_report(ntp_to_unix(packet.sender_info.ntp_timestamp), packet.sender_info.rtp_timestamp)
        await handle(packet)

    return handle_rtcp_packet
