"""A call recorded while the network loses packets: a VP8 and an H.264 publisher in a Janus room whose host
drops a share of every UDP packet it sends (iptables inside its namespace), clean before and after. What
reached the files is measured by decoding them. Shared by the fault tests and `bench/bench_loss.py`."""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import aiohttp
import av

from tests.client import ApiClient
from tests.eventually import eventually
from tests.janus_host import JanusHost
from tests.publisher import Publisher, display

CODECS = {"vp8": "VP8", "h264": "H264"}  # publisher (user id) -> its video codec


@dataclass
class TrackReport:
    track_id: str
    user: str
    kind: str  # AUDIO | VIDEO
    frames: int  # in the file
    sent: int  # by the publisher, from the file's first frame on
    decode_errors: int
    longest_gap: float  # seconds between two frames in the file
    back_after: float | None  # seconds from the loss's end to the first frame after it
    holes: list[float]  # the file's holes of more than 0.2 s (seconds)
    gaps: list[float]  # the track's gaps in the API's answer (seconds)
    manifest_gaps: list[float]  # the track's gaps in the recording's manifest (seconds)

    @property
    def share(self) -> float:
        return self.frames / max(self.sent, 1)


def inspect(path: Path, kind: str) -> tuple[list[float], int]:
    """(each frame's time in the file, frames that do not decode); every frame is decoded."""
    times: list[float] = []
    errors = 0
    with av.open(str(path)) as container:
        stream = container.streams.video[0] if kind == "VIDEO" else container.streams.audio[0]
        for packet in container.demux(stream):
            if not packet.size or packet.pts is None or packet.time_base is None:
                continue
            times.append(float(packet.pts * packet.time_base))
            try:
                packet.decode()
            except av.FFmpegError:
                errors += 1
    return times, errors


def epoch(value: str) -> float:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


async def record_with_loss(
    api: ApiClient,
    storage: Path,
    janus: JanusHost,
    room: int,
    conversation: str,
    loss: float,
    *,
    clean: float = 2.0,
    lossy: float = 8.0,
    after: float = 3.0,
    delay: float = 0.01,
    jitter: float = 0.0,
) -> list[TrackReport]:
    """Record `clean` seconds, `lossy` seconds at `loss` (and `jitter`), `after` seconds clean again; one
    report a track. Every packet Janus sends takes `delay` (a LAN's round trip: without one, Janus measures
    a round-trip time of 0 and keeps no packets to answer NACKs with)."""
    event = await api.start(room, conversation)
    assert event["state"] == "ACTIVE", event
    async with aiohttp.ClientSession() as http:
        publishers = {
            codec: Publisher(http, janus.url, room, display(codec), video_codec=name) for codec, name in CODECS.items()
        }
        try:
            for publisher in publishers.values():
                await publisher.join()
                await publisher.publish(noise=True)
            await eventually(
                lambda: api.recording(event),
                lambda info: sum(len(s["tracks"]) for s in info["streams"]) >= 4,
                within=10,
                what="every track started",
            )
            await asyncio.sleep(clean)
            janus.impair(loss=loss, delay=delay, jitter=jitter)
            await asyncio.sleep(lossy)
            janus.impair(delay=delay)
            loss_end = time.time()
            await asyncio.sleep(after)
        finally:
            janus.impair(delay=delay)
            for publisher in publishers.values():
                await publisher.leave()
    await api.stop(event)
    info = await eventually(lambda: api.recording(event), lambda i: "url" in i.get("manifest", {}), what="manifest")
    async with aiohttp.ClientSession() as http, http.get(info["manifest"]["url"]) as answer:
        manifest = {t["trackId"]: t for t in json.loads(await answer.read())["tracks"]}
    reports = []
    for stream in info["streams"]:
        publisher = publishers[stream["userId"]]
        for track in stream["tracks"]:
            kind = track["type"]
            times, errors = inspect(storage / track["storage"]["objectStorage"]["location"], kind)
            source = publisher.video_track if kind == "VIDEO" else publisher.audio_track
            assert source is not None
            first = epoch(track["started"])  # when its first frame was written, about when it was sent
            base = min(times)
            sent = sum(1 for t in source.sent if t >= first - 0.1)
            after_end = [first + t - base for t in times if first + t - base >= loss_end]
            gaps = [b - a for a, b in itertools.pairwise(times)]
            reports.append(
                TrackReport(
                    track["id"],
                    stream["userId"],
                    kind,
                    len(times),
                    sent,
                    errors,
                    max(gaps, default=0.0),
                    (after_end[0] - loss_end) if after_end else None,
                    [g for g in gaps if g > 0.2],
                    [epoch(g["stopped"]) - epoch(g["started"]) for g in track.get("gaps", [])],
                    [epoch(g["stopped"]) - epoch(g["started"]) for g in manifest[track["id"]]["gaps"]],
                )
            )
    return reports
