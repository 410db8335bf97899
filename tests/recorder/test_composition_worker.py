"""The composer on track files made here, whose every flash and beep time is known exactly."""

from __future__ import annotations

from pathlib import Path

import av
import pytest

from recorder.compositions.worker import Plan, Rect, Source, compose, grid, spotlight
from tests.flashbeep import Signal, beep_times, decode_audio, flash_times, offsets, write_track_files


def _overlap(a: Rect, b: Rect) -> bool:
    return a.x < b.x + b.width and b.x < a.x + a.width and a.y < b.y + b.height and b.y < a.y + a.height


@pytest.mark.parametrize("count", range(1, 10))
@pytest.mark.parametrize("size", [(320, 240), (1280, 720), (640, 360)])
def test_layouts_fill_the_picture_without_overlap(count: int, size: tuple[int, int]) -> None:
    width, height = size
    for layout in (grid, spotlight):
        cells = layout(count, width, height)
        assert len(cells) == count
        for n, cell in enumerate(cells):
            assert cell.x % 2 == cell.y % 2 == cell.width % 2 == cell.height % 2 == 0
            assert cell.x >= 0 and cell.y >= 0 and cell.x + cell.width <= width and cell.y + cell.height <= height
            assert not any(_overlap(cell, other) for other in cells[n + 1 :])
        if layout is spotlight and count > 1:
            assert cells[0].width * cells[0].height > max(c.width * c.height for c in cells[1:])


def _sources(tmp_path: Path, seconds: float) -> list[Source]:
    """Alice's camera from 0 s, flashing at whole seconds; Bob's screen share from 1.3 s, flashing half a
    second into each of its file's seconds: at 1.8, 2.8, ... s on the timeline."""
    sources = []
    for user, kind, phase, frequency, offset in (
        ("alice", "CAM", 0.0, 880.0, 0.0),
        ("bob", "SCREEN", 0.5, 2000.0, 1.3),
    ):
        length = seconds - offset
        video, audio = write_track_files(Signal(0.0, phase, frequency), tmp_path / user, length, 320, 240)
        for media, path in (("video", video), ("audio", audio)):
            sources.append(
                Source(
                    tile=f"{user}/{kind}",
                    screen=kind == "SCREEN",
                    kind=media,  # type: ignore[arg-type]
                    path=str(path),
                    offset=offset,
                    duration=length,
                )
            )
    return sources


def test_spotlight_gives_the_screen_share_the_large_tile_in_sync(tmp_path: Path) -> None:
    sources = _sources(tmp_path, 6.0)
    output = tmp_path / "spotlight.mp4"
    plan = Plan(
        kind="VIDEO", output=str(output), duration=6.0, sources=sources, width=320, height=240, layout="SPOTLIGHT"
    )
    assert compose(plan) == pytest.approx(6.0, abs=0.04)
    with av.open(str(output)) as container:
        assert (container.streams.video[0].width, container.streams.video[0].height) == (320, 240)
    samples, _ = decode_audio(output)
    # the large tile (top 3/4): Alice alone until Bob's screen share comes at 1.3 s, then Bob's screen
    main = flash_times(output, (0.1, 0.1, 0.9, 0.6))
    strip = flash_times(output, (0.42, 0.8, 0.58, 0.95))  # Alice's small tile, alone in the strip: centred
    assert [round(t, 1) for t in main] == [1.0, 1.8, 2.8, 3.8, 4.8, 5.8]
    strip = [t for t in strip if t > 1.3]  # before, Alice's tile is the whole picture
    assert [round(t, 1) for t in strip] == [2.0, 3.0, 4.0, 5.0]
    for frequency, flashes in ((2000.0, main[1:]), (880.0, strip)):
        beeps = beep_times(samples, 0.0, frequency)
        # each beep where its file's offset puts it (the frames are 1/30 s apart: nearest one shown)
        assert max(abs(x) for x in offsets(flashes, beeps)) < 1 / 60 + 0.005, (frequency, offsets(flashes, beeps))


def test_audio_is_mixed_on_the_timeline_with_silence_in_gaps(tmp_path: Path) -> None:
    """Alice's 1.2 s file at 0 s, Bob's 2.5 s file at 3 s, in a 4 s timeline: nothing plays from 1.2 to 3 s."""
    _, alice = write_track_files(Signal(0.0, 0.0, 880.0), tmp_path / "alice", 1.2, 320, 240)
    _, bob = write_track_files(Signal(0.0, 0.5, 2000.0), tmp_path / "bob", 2.5, 320, 240)
    sources = [
        Source(tile="alice/MIC", kind="audio", path=str(alice), offset=0.0, duration=1.2),
        Source(tile="bob/MIC", kind="audio", path=str(bob), offset=3.0, duration=2.5),
    ]
    output = tmp_path / "mix.mp3"
    compose(Plan(kind="AUDIO", output=str(output), duration=4.0, sources=sources))
    samples, first = decode_audio(output)  # (an MP3 decoder starts its sound by the encoder's delay, 23 ms)
    assert first + len(samples) / 48000 == pytest.approx(4.0, abs=0.03)
    assert [round(t, 2) for t in beep_times(samples, first, 880.0)] == [0.02, 1.0]  # the first beep from 23 ms
    assert [round(t, 2) for t in beep_times(samples, first, 2000.0)] == [3.5]  # the timeline ends at 4 s
    gap = samples[int(1.25 * 48000) : int(2.95 * 48000)]
    assert abs(gap).max() < 0.001, "nothing plays: silence"


def test_a_file_cut_short_is_composed_up_to_the_cut(tmp_path: Path) -> None:
    """A crash leaves a file whose end is missing: what is there is composed, the rest is black/silence."""
    video, audio = write_track_files(Signal(0.0, 0.0, 880.0), tmp_path / "alice", 4.0, 320, 240)
    for path in (video, audio):
        data = path.read_bytes()
        path.write_bytes(data[: len(data) * 6 // 10] + b"\x1f\x43\xb6\x75\xff" * 20)  # and some garbage
    sources = [
        Source(tile="alice/CAM", kind="video", path=str(video), offset=0.0, duration=4.0),
        Source(tile="alice/CAM", kind="audio", path=str(audio), offset=0.0, duration=4.0),
    ]
    output = tmp_path / "cut.mp4"
    compose(Plan(kind="VIDEO", output=str(output), duration=4.0, sources=sources, width=320, height=240))
    assert [round(t, 1) for t in flash_times(output, (0.1, 0.1, 0.9, 0.9))][:1] == [1.0]
    samples, _ = decode_audio(output)
    assert [round(t, 2) for t in beep_times(samples, 0.0, 880.0)][:2] == [0.0, 1.0]
