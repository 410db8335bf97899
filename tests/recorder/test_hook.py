"""The aiortc pin is load-bearing: these fail when the tap on the receiver's jitter buffer breaks."""

from __future__ import annotations

import asyncio
import time

import pytest
from aiortc import RTCConfiguration, RTCPeerConnection
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from recorder.media.assembler import Frame
from recorder.media.hook import HookError, enlarge_receive_buffers, tap_receiver
from recorder.media.passthrough import is_keyframe
from tests.publisher import PatternTrack, ToneTrack


class CollectingSink:
    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.codec = "vp8" if kind == "video" else "opus"
        self.frames: list[tuple[bytes, int]] = []
        self.first_arrival: float | None = None
        self.reports: list[tuple[float, int]] = []

    def on_frame(self, frame: Frame) -> None:
        self.frames.append((frame.data, frame.timestamp))
        if self.first_arrival is None:
            self.first_arrival = time.time()

    def on_sender_report(self, wall_clock: float, rtp_timestamp: int) -> None:
        self.reports.append((wall_clock, rtp_timestamp))


async def test_encoded_frames_reach_the_sink_and_never_the_decoder() -> None:
    sender = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    receiver = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    video, audio = PatternTrack(), ToneTrack()
    sender.addTrack(video)
    sender.addTrack(audio)
    sinks: dict[str, CollectingSink] = {}
    remote: dict[str, MediaStreamTrack] = {}

    @receiver.on("track")
    def on_track(track: MediaStreamTrack) -> None:
        for transceiver in receiver.getTransceivers():
            if transceiver.receiver.track is track:
                sinks[track.kind] = CollectingSink(track.kind)
                tap_receiver(transceiver.receiver, sinks[track.kind])
                remote[track.kind] = track

    try:
        await sender.setLocalDescription(await sender.createOffer())
        await receiver.setRemoteDescription(sender.localDescription)
        await receiver.setLocalDescription(await receiver.createAnswer())
        granted = enlarge_receive_buffers(receiver, 4 << 20)
        assert granted and min(granted) >= 4 << 20, f"the ICE sockets were not enlarged: {granted}"
        await sender.setRemoteDescription(receiver.localDescription)
        await asyncio.sleep(2.0)
        assert set(sinks) == {"audio", "video"}
        assert len(sinks["video"].frames) >= 30, "the hook stopped being called for video"
        assert len(sinks["audio"].frames) >= 50, "the hook stopped being called for audio"
        assert is_keyframe("vp8", sinks["video"].frames[0][0]), "video starts at a keyframe"
        # nothing reached the decoders: the remote tracks never yield a frame
        for track in remote.values():
            with pytest.raises((asyncio.TimeoutError, MediaStreamError)):
                await asyncio.wait_for(track.recv(), 0.3)
        stamps = [ts for _, ts in sinks["video"].frames]
        assert stamps == sorted(stamps) and len(set(stamps)) == len(stamps)
        # the sender's reports reach the sink, and date the first frame to when it was sent (and arrived)
        for kind, rate in (("audio", 48000), ("video", 90000)):
            sink = sinks[kind]
            assert sink.reports, f"no RTCP sender report reached the {kind} sink"
            wall, rtp = sink.reports[0]
            first_sent = wall - ((rtp - sink.frames[0][1]) % (1 << 32)) / rate
            # (a wrong clock rate or wrap would be off by seconds; a loaded machine delays the first packets
            # behind the DTLS handshake by a few hundred ms, seen 0.33 s once in CI)
            assert sink.first_arrival is not None and abs(first_sent - sink.first_arrival) < 0.5, kind
    finally:
        await sender.close()
        await receiver.close()


def test_a_receiver_without_the_jitter_buffer_is_refused() -> None:
    class NotAReceiver:
        pass

    with pytest.raises(HookError):
        tap_receiver(NotAReceiver(), CollectingSink("video"))  # type: ignore[arg-type]
