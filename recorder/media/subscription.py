"""Subscription: one peer connection that receives one publication and writes each track to a file."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from aiortc import RTCConfiguration, RTCIceServer, RTCPeerConnection, RTCRtpReceiver, RTCSessionDescription
from aiortc.mediastreams import MediaStreamTrack
from aiortc.sdp import SessionDescription, candidate_from_sdp

from recorder.clock import now
from recorder.media.assembler import Frame, LossStats
from recorder.media.hook import TappedJitterBuffer, enlarge_receive_buffers, tap_receiver
from recorder.media.passthrough import OPUS_PRE_SKIP, PassthroughWriter, UnsupportedCodecError, WriterResult
from recorder.models import MediaKind

logger = logging.getLogger(__name__)
SENDER_REPORTS_KEPT = 8  # the first reports place a track; later ones would only carry clock drift in
ARRIVAL_FRAMES = 300  # the first frames date a track's start; later ones would only carry clock drift in


@dataclass
class TrackSink:
    """Receives one track's complete frames from the hook and feeds its writer."""

    kind: MediaKind
    mid: str
    on_started: Callable[[TrackSink], None]
    on_write_failed: Callable[[TrackSink, Exception], None] = lambda sink, exc: None
    id: str = field(default_factory=lambda: str(uuid.uuid4()))
    writer: PassthroughWriter | None = None
    started: datetime | None = None
    error: str | None = None
    frames_received: int = 0
    reports: list[tuple[float, int]] = field(default_factory=list)  # (sender's wall clock, RTP timestamp)
    tap: TappedJitterBuffer | None = None
    arrival: float | None = None  # Unix time the first frame arrived, had it not waited (see on_frame)
    params: tuple[str, int, int] | None = None  # the negotiated (codec, clock rate, channels)

    @property
    def codec(self) -> str | None:
        return self.params[0] if self.params is not None and self.error is None else None

    def open(self, directory: Path, flush_interval_ms: int) -> None:
        """Start writing: a new file in `directory` named by this sink's id."""
        if self.params is None or self.error is not None:
            return
        name, clock_rate, channels = self.params
        try:
            self.writer = PassthroughWriter(
                directory / self.id, name, clock_rate, channels=max(channels, 1), flush_interval_ms=flush_interval_ms
            )
        except UnsupportedCodecError as exc:
            self.error = str(exc)
            logger.warning("track %s: %s", self.id, exc)

    def successor(self) -> TrackSink:
        """The sink of the same track's next segment: a new id (a new file), the same codec, callbacks, tap
        and sender reports (the sender's RTP clock runs on)."""
        return TrackSink(
            self.kind,
            self.mid,
            self.on_started,
            self.on_write_failed,
            tap=self.tap,
            params=self.params,
            error=self.error,
            reports=list(self.reports),
        )

    @property
    def stats(self) -> LossStats:
        """What the network did to the track: packets lost and repaired, frames dropped, keyframe waits."""
        return self.tap.stats if self.tap is not None else LossStats()

    def on_frame(self, frame: Frame) -> None:
        self.frames_received += 1
        if self.writer is None or self.error is not None:
            return
        try:
            written = self.writer.write(frame.data, frame.timestamp, frame.keyframe)
        except Exception as exc:  # a broken file must not break the receive path of the others
            logger.exception("track %s: writing %s failed", self.id, self.writer.path)
            self.error = f"cannot write {self.writer.path.name}: {exc}"
            self.on_write_failed(self, exc)
            return
        if not written:
            return
        if self.writer.frames <= ARRIVAL_FRAMES and self.writer.first_rtp is not None:
            # when the first frame would have arrived had it not waited (for a repair, behind a keyframe):
            # each frame's arrival less its media time since the first; the earliest is the least delayed
            since = _rtp_delta(frame.timestamp, self.writer.first_rtp) / self.writer.clock_rate
            estimate = time.time() - since
            self.arrival = estimate if self.arrival is None else min(self.arrival, estimate)
        if self.writer.frames == 1:
            self.started = now()
            logger.info("track %s (%s): first frame written to %s", self.id, self.kind, self.writer.path.name)
            self.on_started(self)

    def on_sender_report(self, wall_clock: float, rtp_timestamp: int) -> None:
        if len(self.reports) < SENDER_REPORTS_KEPT:
            self.reports.append((wall_clock, rtp_timestamp))

    def gaps(self) -> list[tuple[float, float]]:
        """Where the file's media has holes the network made (the track waited for a keyframe): from its last
        frame before, to its first frame after, in seconds from the file's time 0."""
        if self.writer is None or self.writer.first_rtp is None:
            return []
        first, rate = self.writer.first_rtp, self.writer.clock_rate
        return [
            (round(_rtp_delta(a, first) / rate, 3), round(_rtp_delta(b, first) / rate, 3))
            for a, b in self.stats.gaps
            if _rtp_delta(a, first) >= 0
        ]

    def media_start(self) -> datetime | None:
        """Where the file's time 0 goes on the sender's wall clock, from its RTCP sender reports (None
        without a report). Each report dates the first frame as its wall clock minus the RTP time elapsed
        since; a report is late by however long the last packet took to reach the sender's socket, never
        early, so the earliest estimate is the best one. An Opus file's decoded sound starts its pre-skip
        later than its first packet's RTP time says (the encoder's look-ahead): that is counted, so that a
        player placing the file at this time plays each sound when it was made."""
        if self.writer is None or self.writer.first_rtp is None or not self.reports:
            return None
        first, rate = self.writer.first_rtp, self.writer.clock_rate
        estimates = [wall - _rtp_delta(rtp, first) / rate for wall, rtp in self.reports]
        look_ahead = OPUS_PRE_SKIP / 48000 if self.codec == "opus" else 0.0
        return datetime.fromtimestamp(min(estimates) - look_ahead, UTC)

    def close(self) -> WriterResult:
        if self.writer is None:
            return WriterResult(None, 0, 0.0)
        return self.writer.close()


def _rtp_delta(later: int, earlier: int) -> int:
    """`later - earlier` of two 32-bit RTP timestamps, across a wrap."""
    return (later - earlier + (1 << 31)) % (1 << 32) - (1 << 31)


def negotiated_codecs(sdp: str) -> dict[str, tuple[str, int, int]]:
    """mid -> (codec name, clock rate, channels) of the first codec of each media section of our answer."""
    out: dict[str, tuple[str, int, int]] = {}
    for media in SessionDescription.parse(sdp).media:
        codecs = [c for c in media.rtp.codecs if c.name.lower() not in ("rtx", "red", "ulpfec")]
        if media.rtp.muxId and codecs:
            out[media.rtp.muxId] = (codecs[0].name.lower(), codecs[0].clockRate, codecs[0].channels or 1)
    return out


class Subscription:
    def __init__(
        self,
        directory: Path,
        *,
        ice_servers: list[str],
        flush_interval_ms: int,
        on_track_started: Callable[[TrackSink], None],
        on_failed: Callable[[], None],
        on_write_failed: Callable[[TrackSink, Exception], None],
        receive_buffer_bytes: int = 0,
        paused: bool = False,
    ) -> None:
        self.directory = directory
        self.paused = paused  # negotiated without writers: nothing is written until `resume_all`
        self._receive_buffer_bytes = receive_buffer_bytes  # 0: the kernel's default
        self.sinks: list[TrackSink] = []
        self._flush_interval_ms = flush_interval_ms
        self._on_track_started = on_track_started
        self._on_failed = on_failed
        self._on_write_failed = on_write_failed
        self._pc = RTCPeerConnection(RTCConfiguration(iceServers=[RTCIceServer(u) for u in ice_servers]))
        self._pc.on("track", self._on_track)
        self._pc.on("connectionstatechange", self._on_state)

    def _on_track(self, track: MediaStreamTrack) -> None:
        for transceiver in self._pc.getTransceivers():
            if transceiver.receiver.track is track:
                sink = TrackSink(
                    MediaKind(track.kind), str(transceiver.mid), self._on_track_started, self._on_write_failed
                )
                sink.tap = tap_receiver(transceiver.receiver, sink)
                self.sinks.append(sink)

    @property
    def last_packet(self) -> float | None:
        """When (time.monotonic()) the last packet of any of its tracks arrived; None before the first."""
        arrivals = [s.tap.last_packet for s in self.sinks if s.tap is not None and s.tap.last_packet is not None]
        return max(arrivals, default=None)

    def cut(self, resume: bool) -> list[tuple[TrackSink, WriterResult]]:
        """End every track's current segment (its file is finished and given back with its sink). Each track
        goes on in a new sink: writing at once with a keyframe asked for (`resume`), or dropping what arrives
        until `resume_all` (a pause: nothing reaches the disk)."""
        ended: list[tuple[TrackSink, WriterResult]] = []
        self.paused = not resume
        for i, sink in enumerate(self.sinks):
            following = sink.successor()
            if sink.tap is not None:
                sink.tap.retarget(following)  # from here on, frames go to the next segment (or nowhere)
            ended.append((sink, sink.close()))
            self.sinks[i] = following
        if resume:
            self.resume_all()
        return ended

    def resume_all(self) -> None:
        """Every track starts writing a new file, beginning at a keyframe asked for now."""
        self.paused = False
        for sink in self.sinks:
            if sink.writer is None:
                sink.open(self.directory, self._flush_interval_ms)
                if sink.tap is not None and sink.kind is MediaKind.VIDEO:
                    sink.tap.request_keyframe()

    async def _on_state(self) -> None:
        state = self._pc.connectionState
        logger.info("subscription %s: peer connection %s", self.directory.name, state)
        if state == "failed":
            self._on_failed()

    async def negotiate(self, offer: str, kinds: frozenset[MediaKind] = frozenset(MediaKind)) -> str:
        """Take the SFU's (or a WHIP publisher's) offer; return our answer, receiving `kinds` only (the others are
        inactive: never sent). Each track's writer is ready before media can flow."""
        await self._pc.setRemoteDescription(RTCSessionDescription(offer, "offer"))
        for transceiver in self._pc.getTransceivers():
            transceiver.direction = "recvonly" if MediaKind(transceiver.kind) in kinds else "inactive"
            # Take the DTLS server role: the SFU then starts the handshake itself, which avoids Janus
            # dropping our first handshake message while it is still setting up (a 1 s resend delay).
            transceiver.receiver.transport._set_role("server")
            # No RTX: Janus then answers NACKs with the lost packets themselves. (With RTX it sends them
            # from an SSRC its offer does not name, which aiortc cannot route: nothing would be repaired.)
            capabilities = RTCRtpReceiver.getCapabilities(transceiver.kind)
            offered = capabilities.codecs if capabilities is not None else []
            transceiver.setCodecPreferences([c for c in offered if c.mimeType.lower() != f"{transceiver.kind}/rtx"])
        await self._pc.setLocalDescription(await self._pc.createAnswer())
        if self._receive_buffer_bytes:
            enlarge_receive_buffers(self._pc, self._receive_buffer_bytes)
        answer = self._pc.localDescription.sdp
        codecs = negotiated_codecs(answer)
        for sink in self.sinks:
            sink.params = codecs.get(sink.mid, ("", 0, 0))
            if not self.paused:
                sink.open(self.directory, self._flush_interval_ms)
        return answer

    async def add_candidates(self, fragment: str) -> None:
        """Remote ICE candidates trickled in an SDP fragment (RFC 8840: `a=mid:` then `a=candidate:` lines)."""
        mid: str | None = None
        for line in fragment.splitlines():
            line = line.strip()
            if line.startswith("a=mid:"):
                mid = line[len("a=mid:") :]
            elif line.startswith("a=candidate:"):
                candidate = candidate_from_sdp(line[len("a=candidate:") :])
                candidate.sdpMid = mid
                candidate.sdpMLineIndex = None if mid is not None else 0
                await self._pc.addIceCandidate(candidate)

    async def close(self) -> list[tuple[TrackSink, WriterResult]]:
        await self._pc.close()
        return [(sink, sink.close()) for sink in self.sinks]
