"""A file cut short by a crash is repaired into one that decodes to its last complete frame."""

from __future__ import annotations

from pathlib import Path

import pytest

from recorder.media.passthrough import PassthroughWriter
from recorder.media.repair import repair
from tests.encoded import decode, encode_video


@pytest.mark.parametrize(("encoder", "codec"), [("libvpx", "vp8"), ("libx264", "h264")])
@pytest.mark.parametrize("cut", [50, 2000, 9000])
def test_a_torn_last_frame_is_dropped(tmp_path: Path, encoder: str, codec: str, cut: int) -> None:
    writer = PassthroughWriter(tmp_path / "track", codec, 90000, flush_interval_ms=1000)
    for i, frame in enumerate(encode_video(encoder, 90, width=640, height=480, noise=True)):
        writer.write(frame, 3000 * i)
    # the process dies here: the file is as the last flush left it, and its end is torn
    torn = tmp_path / f"torn{writer.path.suffix}"
    torn.write_bytes(writer.path.read_bytes()[:-cut])
    result = repair(torn)
    assert result.frames >= 45, result  # the first seconds, flushed
    frames, key_first, _ = decode(torn)  # every frame decodes (errors are fatal)
    assert frames == result.frames and key_first
