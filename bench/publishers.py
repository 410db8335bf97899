"""Benchmark child process: N publishers sending pre-encoded VP8 + Opus into a Janus room.

Protocol on stdin/stdout: prints `ready` once every publisher is up; reads `go <epoch>`; sends for
`--seconds` after it, leaves, and prints one JSON line {userId: {"audio": [t...], "video": [t...]}}: when
each frame was sent.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path

import aiohttp

from bench.media import PacketTrack, encode_clip
from tests.publisher import Publisher, display


async def main(args: argparse.Namespace) -> None:
    video, audio = encode_clip(Path(args.cache))
    async with aiohttp.ClientSession() as http:
        publishers = [Publisher(http, args.janus, args.room, display(f"user{i}")) for i in range(args.count)]
        tracks: list[tuple[PacketTrack, PacketTrack]] = []
        for publisher in publishers:
            pair = (PacketTrack("audio", audio), PacketTrack("video", video))
            await publisher.join()
            await publisher.publish(list(pair))
            tracks.append(pair)
        print("ready", flush=True)
        line = await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
        await asyncio.sleep(max(0.0, float(line.split()[1]) + args.seconds - time.time()))
        for publisher in publishers:
            await publisher.leave()
        result = {f"user{i}": {"audio": a.sent, "video": v.sent} for i, (a, v) in enumerate(tracks)}
        print(json.dumps(result), flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--janus", required=True)
    parser.add_argument("--room", type=int, required=True)
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--cache", required=True)
    parser.add_argument("--seconds", type=float, required=True)
    asyncio.run(main(parser.parse_args()))
