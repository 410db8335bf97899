"""PassthroughWriter: files that decode, start with a keyframe, survive a killed process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import av
import numpy as np
import pytest

from recorder.media.passthrough import PassthroughWriter, UnsupportedCodecError, is_keyframe
from tests.encoded import FPS, decode, encode_audio, encode_video


@pytest.mark.parametrize(("encoder", "codec", "suffix"), [("libvpx", "vp8", ".webm"), ("libx264", "h264", ".mp4")])
def test_writes_from_the_first_keyframe(tmp_path: Path, encoder: str, codec: str, suffix: str) -> None:
    packets = encode_video(encoder, 150)
    writer = PassthroughWriter(tmp_path / "track", codec, 90000)
    start = 2**32 - 90000  # the RTP timestamp wraps one second in
    written = [writer.write(p, (start + 3000 * i) % 2**32) for i, p in enumerate(packets[10:])]
    result = writer.close()
    assert result.path == tmp_path / f"track{suffix}"
    # the 20 frames before the second keyframe are dropped; everything after it is written
    assert written.index(True) == 20 and all(written[20:])
    assert result.path is not None
    frames, key_first, duration = decode(result.path)
    assert frames == 120 == result.frames
    assert key_first
    assert duration == pytest.approx(4.0, abs=0.05)


def test_opus_goes_to_webm(tmp_path: Path) -> None:
    packets = encode_audio(150)
    writer = PassthroughWriter(tmp_path / "audio", "opus", 48000, channels=2)
    for i, packet in enumerate(packets):
        writer.write(packet, 1000 + 960 * i)
    result = writer.close()
    assert result.path is not None and result.path.suffix == ".webm"
    with av.open(str(result.path)) as container:
        samples = sum(f.samples for f in container.decode(audio=0))
    assert samples / 48000 == pytest.approx(len(packets) * 0.02, abs=0.03)


def test_unknown_codecs_are_refused(tmp_path: Path) -> None:
    with pytest.raises(UnsupportedCodecError):
        PassthroughWriter(tmp_path / "x", "pcmu", 8000)
    assert not is_keyframe("vp8", b"")


@pytest.mark.parametrize(("encoder", "codec"), [("libvpx", "vp8"), ("libx264", "h264")])
def test_a_killed_process_leaves_a_playable_file(tmp_path: Path, encoder: str, codec: str) -> None:
    """SIGKILL mid-recording: the file plays up to the last flush (at most one second back)."""
    packets = encode_video(encoder, 150)
    source = tmp_path / "packets.npy"
    np.save(source, np.array(packets, dtype=object), allow_pickle=True)
    script = textwrap.dedent(f"""
        import sys, time, numpy as np
        from pathlib import Path
        sys.path.insert(0, {str(Path(__file__).resolve().parents[2])!r})
        from recorder.media.passthrough import PassthroughWriter
        writer = PassthroughWriter(Path({str(tmp_path / "track")!r}), {codec!r}, 90000)
        for i, packet in enumerate(np.load({str(source)!r}, allow_pickle=True)):
            writer.write(bytes(packet), 3000 * i)
        print("written", flush=True)
        time.sleep(60)
    """)
    process = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None and process.stdout.readline().strip() == "written"
        os.kill(process.pid, signal.SIGKILL)
    finally:
        process.wait(10)
        if process.stdout is not None:
            process.stdout.close()
    assert process.returncode == -signal.SIGKILL
    path = next(tmp_path.glob("track.*"))
    frames, key_first, duration = decode(path)
    assert key_first
    assert frames >= 150 - FPS - 1, f"only {frames} of 150 frames survived"
    assert duration >= 4.0
