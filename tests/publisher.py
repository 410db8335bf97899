"""Real aiortc publishers for tests: moving test video and a tone, published to Janus's VideoRoom."""

from __future__ import annotations

import asyncio
import contextlib
import fractions
import json
import math
import secrets
import time
from typing import TYPE_CHECKING, Any

import aiohttp
import av
import numpy as np
from aiortc import RTCConfiguration, RTCPeerConnection, RTCRtpSender, RTCSessionDescription
from aiortc.mediastreams import MediaStreamTrack, VideoStreamTrack

if TYPE_CHECKING:
    from tests.client import ApiClient
    from tests.janus_host import JanusHost

SAMPLES = 960  # 20 ms at 48 kHz


class PatternTrack(VideoStreamTrack):
    """Moving bars at 30 fps; remembers when each frame was handed to the encoder."""

    def __init__(self, width: int = 320, height: int = 240, noise: bool = False) -> None:
        super().__init__()
        self.width, self.height = width, height
        self.sent: list[float] = []
        # a noisy corner makes every frame span several RTP packets, as a camera's do
        self._noise = (
            np.random.default_rng(1).integers(0, 255, (height // 3, width // 3, 3), np.uint8) if noise else None
        )

    async def recv(self) -> av.VideoFrame:
        pts, time_base = await self.next_timestamp()
        n = len(self.sent)
        image = np.zeros((self.height, self.width, 3), np.uint8)
        image[:, :, 0] = (np.arange(self.width) + n * 8) % 256
        image[(n * 4) % self.height, :, :] = 255
        if self._noise is not None:
            image[: self.height // 3, : self.width // 3] = np.roll(self._noise, n * 3, axis=1)
        frame = av.VideoFrame.from_ndarray(image, format="rgb24")
        frame.pts, frame.time_base = pts, time_base
        self.sent.append(time.time())
        return frame


class ToneTrack(MediaStreamTrack):
    """A 440 Hz tone at 48 kHz in 20 ms frames, paced in real time."""

    kind = "audio"

    def __init__(self) -> None:
        super().__init__()
        self.sent: list[float] = []
        self._start: float | None = None
        self._samples = 0

    async def recv(self) -> av.AudioFrame:
        if self._start is None:
            self._start = time.time()
        else:
            self._samples += SAMPLES
            await asyncio.sleep(max(0.0, self._start + self._samples / 48000 - time.time()))
        t = (np.arange(SAMPLES) + self._samples) / 48000
        tone = (np.sin(2 * math.pi * 440 * t) * 8000).astype(np.int16)
        frame = av.AudioFrame.from_ndarray(np.repeat(tone, 2).reshape(1, -1), format="s16", layout="stereo")
        frame.sample_rate, frame.pts, frame.time_base = 48000, self._samples, fractions.Fraction(1, 48000)
        self.sent.append(time.time())
        return frame


class Publisher:
    """A participant: joins a room over Janus's HTTP API and publishes audio and/or video."""

    def __init__(
        self,
        http: aiohttp.ClientSession,
        url: str,
        room: int | str,
        display: str,
        audio: bool = True,
        video: bool = True,
        video_codec: str | None = None,
    ) -> None:
        self.http, self.url, self.room, self.display = http, url, room, display
        self.audio, self.video = audio, video
        self.video_codec = video_codec  # e.g. "H264": offer only that codec (else aiortc's order, VP8 first)
        self.session: int | None = None
        self.handle: int | None = None
        self.feed: int | None = None
        self.pc: RTCPeerConnection | None = None
        self.video_track: PatternTrack | None = None
        self.audio_track: ToneTrack | None = None
        self.closed_at: float | None = None
        self._poll: asyncio.Task[None] | None = None
        self._events: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

    async def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        async with self.http.post(self.url + path, json={**body, "transaction": secrets.token_hex(6)}) as r:
            answer: dict[str, Any] = await r.json(content_type=None)
        assert answer.get("janus") != "error", answer
        return answer

    async def _poller(self) -> None:
        with contextlib.suppress(aiohttp.ClientError):
            while True:
                async with self.http.get(f"{self.url}/{self.session}", params={"maxev": "5"}) as r:
                    for event in await r.json(content_type=None):
                        await self._events.put(event)

    async def request(self, body: dict[str, Any], jsep: dict[str, Any] | None = None) -> dict[str, Any]:
        payload: dict[str, Any] = {"janus": "message", "body": body}
        if jsep:
            payload["jsep"] = jsep
        answer = await self._post(f"/{self.session}/{self.handle}", payload)
        if answer["janus"] == "success":
            assert "error" not in answer["plugindata"]["data"], answer
            return answer
        while True:
            event = await asyncio.wait_for(self._events.get(), 10)
            if event.get("janus") == "event" and event.get("transaction") == answer["transaction"]:
                data = event["plugindata"]["data"]
                assert "error" not in data, data
                return event

    async def join_plugin(self) -> None:
        self.session = (await self._post("", {"janus": "create"}))["data"]["id"]
        self._poll = asyncio.create_task(self._poller())
        self.handle = (await self._post(f"/{self.session}", {"janus": "attach", "plugin": "janus.plugin.videoroom"}))[
            "data"
        ]["id"]

    async def join(self) -> None:
        await self.join_plugin()
        joined = await self.request(
            {"request": "join", "ptype": "publisher", "room": self.room, "display": self.display}
        )
        self.feed = joined["plugindata"]["data"]["id"]

    async def publish(self, tracks: list[MediaStreamTrack] | None = None, noise: bool = False) -> None:
        """Publish a tone and moving test video (as asked at construction), or the given tracks."""
        self.pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        if tracks is None:
            tracks = []
            if self.audio:
                self.audio_track = ToneTrack()
                tracks.append(self.audio_track)
            if self.video:
                self.video_track = PatternTrack(noise=noise)
                tracks.append(self.video_track)
        for track in tracks:
            self.pc.addTrack(track)
        if self.video_codec is not None:
            wanted = {f"video/{self.video_codec}".lower(), "video/rtx"}
            codecs = [c for c in RTCRtpSender.getCapabilities("video").codecs if c.mimeType.lower() in wanted]
            for transceiver in self.pc.getTransceivers():
                if transceiver.kind == "video":
                    transceiver.setCodecPreferences(codecs)
        await self.pc.setLocalDescription(await self.pc.createOffer())
        event = await self.request({"request": "publish"}, {"type": "offer", "sdp": self.pc.localDescription.sdp})
        await self.pc.setRemoteDescription(RTCSessionDescription(event["jsep"]["sdp"], "answer"))
        self.closed_at = None

    async def unpublish(self) -> None:
        assert self.pc is not None
        await self.request({"request": "unpublish"})
        await self._close_pc()

    async def _close_pc(self) -> None:
        if self.pc is not None:
            self.closed_at = time.time()
            await self.pc.close()
            self.pc = None

    async def leave_lost(self) -> None:
        """Leave after the server lost the session (it restarted): only our side is closed."""
        self.session = None
        await self.leave()

    async def leave(self) -> None:
        await self._close_pc()
        if self._poll is not None:
            self._poll.cancel()
            self._poll = None
        if self.session is not None:
            session, self.session = self.session, None
            await self._post(f"/{session}", {"janus": "destroy"})


def display(user_id: str, stream_type: str = "CAM") -> str:
    return json.dumps({"userId": user_id, "type": stream_type})


async def publish_two_seconds(
    client: ApiClient, janus: JanusHost, room: int | str, http: aiohttp.ClientSession, event: Any
) -> None:
    """Two seconds of one publisher's camera and microphone in the recorded room."""
    assert event["state"] == "ACTIVE", event
    publisher = Publisher(http, janus.url, room, display("alice", "CAM"))
    try:
        await publisher.join()
        await publisher.publish()
        await client.wait_tracks(event, "alice", 2)
        await asyncio.sleep(2)
    finally:
        await publisher.leave()
