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


def test_a_track_that_runs_past_the_next_of_the_same_participant_ends_where_it_begins() -> None:
    """A drain hands a recording over while its instance still records: A's track and B's overlap a moment;
    the composition plays A's up to B's start, never both (doubled sound); other participants are untouched."""
    alice = Stream("s1", "r1", "p1", "CAM", "alice", StreamState.STOPPED, T0)
    bob = Stream("s2", "r1", "p2", "CAM", "bob", StreamState.STOPPED, T0)
    a = Track("t1", "s1", MediaKind.AUDIO, T0, "/a/t1.webm", media_start=at(0), duration=10.2, frames=510)
    b = Track("t2", "s1", MediaKind.AUDIO, at(10), "/b/t2.webm", media_start=at(10), duration=5.0, frames=250)
    video = Track("t3", "s1", MediaKind.VIDEO, T0, "/a/t3.webm", media_start=at(0), duration=10.2, frames=306)
    other = Track("t4", "s2", MediaKind.AUDIO, at(1), "/a/t4.webm", media_start=at(1), duration=14.0, frames=700)
    files = [(alice, a, Path("t1.webm")), (alice, b, Path("t2.webm")), (alice, video, Path("t3.webm"))]
    plan = timeline(composition(), [*files, (bob, other, Path("t4.webm"))], Path("out.mp4"))
    assert [(s.path, s.offset, s.until) for s in plan.sources] == [
        ("t1.webm", 0.0, 10.0),
        ("t2.webm", 10.0, None),
        ("t3.webm", 0.0, None),
        ("t4.webm", 1.0, None),
    ]
