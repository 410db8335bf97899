"""Checks of what a client gets: stored files that decode, signed links that hold."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import av
import yarl

from recorder.signing import UrlSigner


def parse_time(value: str) -> float:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


async def download(http: aiohttp.ClientSession, base: str, url: str, path: Any) -> bytes:
    assert url.startswith(base), url
    async with http.get(url) as resp:  # a plain GET, no Authorization header
        assert resp.status == 200, await resp.text()
        data = await resp.read()
    path.write_bytes(data)
    return data


async def check_signed_link(http: aiohttp.ClientSession, url: str, size: int) -> None:
    """Range answers 206/416; an altered, expired or path-swapped link answers 403 with a JSON body."""
    async with http.get(url, headers={"Range": "bytes=10-99"}) as resp:
        assert resp.status == 206 and len(await resp.read()) == 90
        assert resp.headers["Content-Range"] == f"bytes 10-99/{size}"
    async with http.get(url, headers={"Range": f"bytes={size + 10}-"}) as resp:
        assert resp.status == 416
    parsed = yarl.URL(url)
    signature = parsed.query["Signature"]
    tampered = [
        parsed.update_query(Signature=("A" if signature[0] != "A" else "B") + signature[1:]),
        parsed.update_query(Expires="604800"),
        parsed.update_query(Date="20990101T000000Z"),
        parsed.with_path(parsed.path.rsplit("/", 1)[0] + "/other.webm"),
        parsed.with_query({}),
        parsed.update_query(By="someone-else"),  # whom it was issued to is signed too (the access log names them)
        parsed.with_query({k: v for k, v in parsed.query.items() if k != "By"}),
    ]
    key = b"test-signing-key-0123456789"
    past = datetime.now(UTC) - timedelta(hours=2)
    expired_path, _ = UrlSigner(key, 3600).sign(parsed.raw_path, now=past)
    tampered.append(parsed.join(yarl.URL(expired_path, encoded=True)))
    for bad in tampered:
        async with http.get(bad) as resp:
            assert resp.status == 403, (bad, resp.status)
            assert (await resp.json())["error"] == "FORBIDDEN"
    legacy = parsed.with_path("/auvious.video" + parsed.path, encoded=False)
    async with http.get(legacy.with_query(parsed.query)) as resp:
        assert resp.status == 200 and len(await resp.read()) == size


def check_file(path: Any, kind: str, sent: list[float], started: float, ended: float) -> None:
    """Decodes without errors, starts with a keyframe, >= 95 % of the frames, duration within 5 %."""
    expected = [t for t in sent if started - 0.05 <= t <= ended]
    with av.open(str(path)) as container:
        stream = container.streams.video[0] if kind == "VIDEO" else container.streams.audio[0]
        stream.codec_context.options = {"err_detect": "explode"} if kind == "VIDEO" else {}
        frames = 0
        first_key = None
        last_end = 0.0
        first_start: float | None = None
        for packet in container.demux(stream):
            if packet.size == 0:
                continue
            if first_key is None:
                first_key = packet.is_keyframe
            for frame in packet.decode():
                assert isinstance(frame, av.VideoFrame | av.AudioFrame)
                frames += 1
                assert frame.time is not None
                first_start = frame.time if first_start is None else first_start
                step = 1 / 30 if kind == "VIDEO" else frame.samples / 48000  # type: ignore[union-attr]
                last_end = max(last_end, frame.time + step)
    assert first_key is True, f"{path} does not start with a keyframe"
    assert frames >= 0.95 * len(expected), f"{path}: {frames} frames of {len(expected)} sent"
    duration = last_end - (first_start or 0.0)
    wall = ended - started
    assert abs(duration - wall) <= 0.05 * wall, f"{path}: {duration:.3f} s of media for {wall:.3f} s recorded"
