"""The composition's timeline leaves the recordings' pauses out (fast, no files)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from recorder.compositions.timeline import recorded_time, timeline
from recorder.models import CompositionType, MediaKind, Pause, Stream, StreamState, Track
from tests.builders import composition

T0 = datetime(2026, 11, 27, 10, 0, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def test_recorded_time_leaves_pauses_out() -> None:
    pauses = [Pause(at(10), at(15)), Pause(at(20), at(21))]
    assert [recorded_time(at(s), T0, pauses) for s in (5, 10, 12, 15, 20.5, 30)] == [5, 10, 10, 10, 15, 24]


def test_tracks_after_a_pause_sit_earlier_by_it_and_the_file_is_the_recorded_time() -> None:
    stream = Stream("s1", "r1", "p1", "CAM", "alice", StreamState.STOPPED, T0)
    before = Track("t1", "s1", MediaKind.AUDIO, T0, "/spool/t1.webm", media_start=at(0), duration=10.0, frames=500)
    after = Track("t2", "s1", MediaKind.AUDIO, at(15), "/spool/t2.webm", media_start=at(15), duration=5.0, frames=250)
    files = [(stream, before, Path("t1.webm")), (stream, after, Path("t2.webm"))]
    plan = timeline(composition(type=CompositionType.AUDIO), files, Path("out.mp3"), [Pause(at(10), at(15))])
    assert [s.offset for s in plan.sources] == [0.0, 10.0] and plan.duration == 15.0
    kept = timeline(composition(type=CompositionType.AUDIO), files, Path("out.mp3"), [])
    assert [s.offset for s in kept.sources] == [0.0, 15.0] and kept.duration == 20.0
