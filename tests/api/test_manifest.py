"""The manifest puts every file of a recording on one wall-clock timeline: aligning the files by it keeps each
participant's picture and sound together."""

from __future__ import annotations

import asyncio
import json
import math
import time
from pathlib import Path

import aiohttp

from tests.builders import Client
from tests.checks import parse_time
from tests.client import API, ids, uploaded
from tests.flashbeep import FLASH, BeepTrack, FlashTrack, Signal, beep_times, decode_audio, flash_times, offsets
from tests.janus_host import JanusHost
from tests.publisher import Publisher, display

ALIGNED = 0.010  # seconds between a flash and its beep, the files placed by the manifest
USERS = {"alice": (0.0, 880.0), "bob": (0.3, 2000.0), "carol": (0.6, 1200.0)}


async def test_files_aligned_by_the_manifest_are_in_lip_sync(
    client: Client, janus: JanusHost, http: aiohttp.ClientSession, room: int, tmp_path: Path
) -> None:
    event = await client.start(room, "conv-manifest")
    epoch = math.floor(time.time())
    publishers = {user: Publisher(http, janus.url, room, display(user)) for user in USERS}
    try:
        for user, (phase, frequency) in USERS.items():
            signal = Signal(epoch, phase, frequency)
            await publishers[user].join()
            await publishers[user].publish([FlashTrack(signal), BeepTrack(signal)])
        for user in USERS:
            await client.wait_tracks(event, user, 2)
        await asyncio.sleep(5)
        # stop 30 ms after one of alice's beeps ended: that beep must be whole in her file
        await asyncio.sleep((epoch + FLASH + 0.03 - time.time()) % 1.0)
        stop_at = time.time()
        await client.stop(event)
    finally:
        for publisher in publishers.values():
            await publisher.leave()
    info = await client.wait_for(
        f"{API}/recordings/{ids(event)}", lambda i: uploaded(i) and "manifest" in i and i["manifest"].get("url")
    )
    async with http.get(info["manifest"]["url"]) as answer:  # a signed link: no Authorization
        assert answer.status == 200
        document = json.loads(await answer.read())
    assert document["recorderId"] == event["recorderId"] and document["pauses"] == []
    tracks = document["tracks"]
    assert {(t["userId"], t["kind"]) for t in tracks} == {(u, k) for u in USERS for k in ("audio", "video")}
    for track in tracks:
        assert set(track) >= {"file", "codec", "mediaStart", "mediaEnd", "frames", "gaps", "clock"}
        assert track["codec"] in ("vp8", "opus") and track["frames"] > 0 and track["clock"] == "sender"

    at = parse_time
    storage = tmp_path / "storage"
    worst: dict[str, float] = {}
    for user in USERS:
        video = next(t for t in tracks if (t["userId"], t["kind"]) == (user, "video"))
        audio = next(t for t in tracks if (t["userId"], t["kind"]) == (user, "audio"))
        flashes = [at(video["mediaStart"]) + t for t in flash_times(storage / video["file"], (0, 0, 1, 1))]
        samples, first = decode_audio(storage / audio["file"])
        beeps = [at(audio["mediaStart"]) + t for t in beep_times(samples, first, USERS[user][1])]
        late = offsets(flashes[1:-1], beeps)  # whole flashes: not one cut by the start or the stop
        assert len(late) >= 3, (user, flashes, beeps)
        worst[user] = max(late, key=abs)
        print(f"{user}: flash - beep by the manifest, ms: {[round(x * 1000, 1) for x in late]}")
    assert all(abs(x) < ALIGNED for x in worst.values()), worst

    # the end: nothing sent before the stop is missing, and alice's last beep (ended 30 ms before it) is whole
    for track in (t for t in tracks if t["kind"] == "audio"):
        missing = stop_at - at(track["mediaEnd"])
        print(f"{track['userId']}: audio sent before the stop and missing from the file: {missing * 1000:.0f} ms")
        assert missing <= 0.005, (track["userId"], missing)
    audio = next(t for t in tracks if (t["userId"], t["kind"]) == ("alice", "audio"))
    samples, first = decode_audio(storage / audio["file"])
    last = at(audio["mediaStart"]) + beep_times(samples, first, USERS["alice"][1])[-1]
    assert abs(last - (stop_at - 0.03 - FLASH)) < 0.005, "the last beep before the stop is in the file"
    assert at(audio["mediaEnd"]) >= last + FLASH, "and whole"
