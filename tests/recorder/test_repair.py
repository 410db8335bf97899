"""A file cut short by a crash is repaired into one that decodes to its last complete frame."""

from __future__ import annotations

import functools
from pathlib import Path

import pytest

from recorder.media.passthrough import PassthroughWriter, WriterResult
from recorder.media.repair import finish, repair
from tests.encoded import decode, encode_audio, encode_video, problems


@functools.cache
def _frames(encoder: str) -> list[bytes]:
    """Three seconds of one codec's frames (encoded once for every case)."""
    return encode_audio(150) if encoder == "libopus" else encode_video(encoder, 90, width=640, height=480, noise=True)


@pytest.mark.parametrize(("encoder", "codec"), [("libvpx", "vp8"), ("libx264", "h264")])
@pytest.mark.parametrize("cut", [50, 2000, 9000])
def test_a_torn_last_frame_is_dropped(tmp_path: Path, encoder: str, codec: str, cut: int) -> None:
    writer = PassthroughWriter(tmp_path / "track", codec, 90000, flush_interval_ms=1000)
    for i, frame in enumerate(_frames(encoder)):
        writer.write(frame, 3000 * i)
    # the process dies here: the file is as the last flush left it, and its end is torn
    torn = tmp_path / f"torn{writer.path.suffix}"
    torn.write_bytes(writer.path.read_bytes()[:-cut])
    result = repair(torn)
    assert result.frames >= 45, result  # the first seconds, flushed
    frames, key_first, _ = decode(torn)  # every frame decodes (errors are fatal)
    assert frames == result.frames and key_first


@pytest.mark.parametrize(("encoder", "codec"), [("libvpx", "vp8"), ("libx264", "h264"), ("libopus", "opus")])
@pytest.mark.parametrize("closed", [False, True])
@pytest.mark.parametrize("cut", [1, 2000, 30000])
def test_a_full_disk_leaves_a_file_cut_back_to_whole_frames(
    tmp_path: Path, encoder: str, codec: str, closed: bool, cut: int
) -> None:
    """A write cut short by a full disk tears the file's end (a cluster or fragment, or the index): `finish`
    cuts it back, with no room needed, to a file that decodes to its end with errors made fatal."""
    writer = PassthroughWriter(tmp_path / "track", codec, 90000 if codec != "opus" else 48000)
    for i, frame in enumerate(_frames(encoder)):
        writer.write(frame, (3000 if codec != "opus" else 960) * i)
    written = writer.close() if closed else WriterResult(writer.path, writer.frames, 0.0)
    torn = tmp_path / f"torn{writer.path.suffix}"
    torn.write_bytes(writer.path.read_bytes()[:-cut])
    readable = problems(torn)[0]  # frames that decode before the torn end
    result = finish(torn, written)
    decoded, found = problems(torn)
    assert found == [] and decoded == result.frames, (found, decoded, result)
    # every whole WebM block stays; an MP4 loses its torn fragment (at most a second)
    assert result.frames >= readable - (30 if codec == "h264" else 1), (readable, result)


@pytest.mark.parametrize(("encoder", "codec"), [("libvpx", "vp8"), ("libx264", "h264"), ("libopus", "opus")])
def test_the_whole_bytes_of_a_live_file_decode_to_the_media_they_claim(
    tmp_path: Path, encoder: str, codec: str
) -> None:
    """What is shipped while recording is the file's first `whole_bytes`: at every point of the writing, those
    bytes alone (put together again after a machine loss) decode with errors fatal and hold at least
    `whole_media` seconds, which trails the writing by no more than a cluster/fragment (about 1 s)."""
    rate, step = (48000, 960) if codec == "opus" else (90000, 3000)
    writer = PassthroughWriter(tmp_path / "track", codec, rate, flush_interval_ms=1000)
    marks: list[tuple[int, float, float]] = []  # (whole bytes, whole media, media written)
    for i, frame in enumerate(_frames(encoder)):
        writer.write(frame, step * i)
        if not marks or marks[-1][0] != writer.whole_bytes:
            marks.append((writer.whole_bytes, writer.whole_media, step * i / rate))
    data = writer.path.read_bytes()  # (as it was while recording: the close rewrites its header)
    assert len(marks) >= 3, marks  # a header, then a cluster/fragment about every second
    for size, media, written in marks[1:]:
        assert written - media <= 1.1, (size, media, written)
        prefix = tmp_path / f"prefix-{size}{writer.path.suffix}"
        prefix.write_bytes(data[:size])
        result = repair(prefix)
        decoded, found = problems(prefix)
        assert found == [] and decoded == result.frames, (size, found)
        assert result.duration >= media, (size, media, result)
    writer.close()
