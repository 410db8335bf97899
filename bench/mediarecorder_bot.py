"""Benchmark child process: the baseline, aiortc's MediaRecorder (decodes and re-encodes every frame).

Joins the room like the product's bot (same Janus connector) and records each track with its own
MediaRecorder. Prints `ready` when every track has a frame; reads `go <epoch>`; on `stop` closes the
recorders and prints {"tracks": [{"path", "kind", "userId", "first"}]} (first: when its first frame came).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp
import av
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.contrib.media import MediaRecorder
from aiortc.mediastreams import MediaStreamTrack

from recorder.conference.janus import JanusConference


class CountingTrack(MediaStreamTrack):
    def __init__(self, source: MediaStreamTrack) -> None:
        super().__init__()
        self.kind = source.kind
        self._source = source
        self.arrivals: list[float] = []

    async def recv(self) -> av.frame.Frame | av.Packet[Any]:
        frame = await self._source.recv()
        self.arrivals.append(time.time())
        return frame


async def main(args: argparse.Namespace) -> None:
    out = Path(args.out)
    loop = asyncio.get_running_loop()
    async with aiohttp.ClientSession() as http:
        conference = JanusConference(http, args.janus, args.room)
        publications = await conference.join()
        while len(publications) < args.count:
            event = await conference.next_event()
            publication = getattr(event, "publication", None)
            if publication is not None:
                publications.append(publication)
        recorders: list[tuple[MediaRecorder, CountingTrack, Path]] = []
        pcs: list[RTCPeerConnection] = []
        for publication in publications:
            subscription, offer = await conference.subscribe(publication, publication.kinds)
            pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
            pcs.append(pc)

            @pc.on("track")
            def on_track(track: MediaStreamTrack, user: str = publication.user_id) -> None:
                path = out / f"{user}-{track.kind}.webm"
                counting = CountingTrack(track)
                recorder = MediaRecorder(str(path))
                recorder.addTrack(counting)
                recorders.append((recorder, counting, path))

            await pc.setRemoteDescription(RTCSessionDescription(offer, "offer"))
            await pc.setLocalDescription(await pc.createAnswer())
            await conference.answer(subscription, pc.localDescription.sdp)
        for recorder, _, _ in recorders:
            await recorder.start()
        while not all(c.arrivals for _, c, _ in recorders):  # noqa: ASYNC110 - polling a list is enough here
            await asyncio.sleep(0.05)
        print("ready", flush=True)
        await loop.run_in_executor(None, sys.stdin.readline)  # "go ..."
        await loop.run_in_executor(None, sys.stdin.readline)  # "stop"
        for recorder, _, _ in recorders:
            await recorder.stop()
        for pc in pcs:
            await pc.close()
        await conference.aclose()
        tracks = [
            {"path": str(p), "kind": c.kind, "userId": p.name.rsplit("-", 1)[0], "first": c.arrivals[0]}
            for _, c, p in recorders
        ]
        print(json.dumps({"tracks": tracks}), flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--janus", required=True)
    parser.add_argument("--room", type=int, required=True)
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--out", required=True)
    asyncio.run(main(parser.parse_args()))
