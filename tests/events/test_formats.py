"""Which events a change causes, and what each format makes of them (no I/O)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from recorder.events import (
    Before,
    EventType,
    composition_changes,
    messages,
    recording_changes,
    track_changes,
    track_stored,
)
from recorder.models import (
    Caller,
    Composition,
    CompositionState,
    CompositionType,
    ErrorInfo,
    Layout,
    MediaKind,
    Pause,
    Reason,
    Recording,
    RecordingState,
    Rule,
    RuleKind,
    Rules,
    StopReason,
    Stream,
    StreamState,
    Track,
)
from recorder.webhooks.formats import render

T0 = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)
INITIALISED = Before(RecordingState.INITIALISED, 0, False)
ACTIVE = Before(RecordingState.ACTIVE, 0, False)


def recording(state: RecordingState = RecordingState.ACTIVE, **fields: Any) -> Recording:
    values: dict[str, Any] = {
        "recorder_id": str(uuid.uuid4()),
        "conversation_id": "c1",
        "instance_id": "i1",
        "organization_id": "org1",
        "application_id": "app1",
        "conference_id": "1234",
        "audio": True,
        "video": True,
        "state": state,
        "created": T0,
        "started": T0 + timedelta(seconds=1),
        "start_reason": Reason(StopReason.API_CALL, Caller("backend", "CLIENT")),
        **fields,
    }
    r = Recording(**values)
    screen = Stream("s2", r.recorder_id, "p2", "SCREEN", "alice", StreamState.RECORDING, T0)
    cam = Stream("s1", r.recorder_id, "p1", "CAM", "alice", StreamState.RECORDING, T0)
    cam.tracks.append(Track("t1", "s1", MediaKind.AUDIO, T0, "/spool/t1.webm"))
    screen.tracks.append(Track("t2", "s2", MediaKind.VIDEO, T0, "/spool/t2.webm"))
    r.streams += [cam, screen]
    return r


def types(events: list[Any]) -> list[str]:
    return [e.type.value for e in events]


@pytest.mark.parametrize(
    ("before", "after", "expected"),
    [
        (INITIALISED, {}, ["recording.started"]),
        (INITIALISED, {"state": RecordingState.FAILED, "started": None}, ["recording.failed"]),
        # a stop right after the start can be the first write since it: it started all the same
        (INITIALISED, {"state": RecordingState.STOPPED}, ["recording.started", "recording.stopped"]),
        (ACTIVE, {"pauses": [Pause(T0)]}, ["recording.paused"]),
        (Before(RecordingState.ACTIVE, 1, True), {"pauses": [Pause(T0, T0)]}, ["recording.resumed"]),
        # a pause that ends with the recording is not a resume
        (
            Before(RecordingState.ACTIVE, 1, True),
            {"state": RecordingState.STOPPED, "pauses": [Pause(T0, T0)]},
            ["recording.stopped"],
        ),
        (ACTIVE, {"state": RecordingState.ABORTED}, ["recording.aborted"]),
        # several changes in one write: each is told, in order
        (
            Before(RecordingState.ACTIVE, 1, True),
            {"pauses": [Pause(T0, T0), Pause(T0, T0), Pause(T0)]},
            ["recording.resumed", "recording.paused", "recording.resumed", "recording.paused"],
        ),
        (INITIALISED, {"pauses": [Pause(T0, T0)]}, ["recording.started", "recording.paused", "recording.resumed"]),
        (
            ACTIVE,
            {"state": RecordingState.STOPPED, "pauses": [Pause(T0, T0), Pause(T0, T0)]},
            ["recording.paused", "recording.resumed", "recording.paused", "recording.stopped"],
        ),
        (Before(RecordingState.STOPPED, 0, False), {"state": RecordingState.STOPPED}, []),
        (ACTIVE, {}, []),  # rules or limits changed: no event
    ],
)
def test_what_a_recordings_write_tells(before: Before, after: dict[str, Any], expected: list[str]) -> None:
    assert types(recording_changes(before, recording(**after))) == expected


def test_a_track_tells_its_start_its_end_and_its_file() -> None:
    r = recording()
    (t1,) = r.streams[0].tracks
    assert types(track_changes(r, t1, None)) == ["track.started"]
    assert track_changes(r, t1, False) == []  # written again while it runs
    t1.stopped, t1.frames, t1.duration = T0 + timedelta(seconds=3), 150, 3.0
    (stopped,) = track_changes(r, t1, False)
    assert (
        stopped.data["track"] | {"frames": 150, "duration": 3.0, "userId": "alice", "type": "AUDIO"}
        == stopped.data["track"]
    )
    t1.object_location, t1.object_uploaded = "k/t1.webm", T0
    (stored,) = track_stored(r, t1, "k/t1.webm", 10)
    assert stored.data["file"] == {"kind": "TRACK", "location": "k/t1.webm", "size": 10, "trackId": "t1"}
    assert "allStored" not in stored.data  # live, and t2 is not stored
    r.state = RecordingState.STOPPED
    (t2,) = r.streams[1].tracks
    t2.object_location, t2.object_uploaded = "k/t2.webm", T0
    (last,) = track_stored(r, t2, "k/t2.webm", 20)
    assert last.data["allStored"] is True and [f["type"] for f in last.data["files"]] == ["AUDIO", "VIDEO"]


def test_the_videosdk_format_tells_each_segment_with_its_kind_and_file() -> None:
    r = recording()
    (t2,) = r.streams[1].tracks
    (started,) = track_changes(r, t2, None)
    assert messages("videosdk", started) == ["participant-track-recording-started"]  # (its first frame)
    body = render("videosdk", "participant-track-recording-started", started, {})
    assert body == {
        "webhookType": "participant-track-recording-started",
        "data": {"meetingId": "1234", "sessionId": r.recorder_id, "participantId": "alice", "kind": "screen_video"},
    }
    t2.object_location, t2.object_uploaded = "k/t2.webm", T0
    (stored,) = track_stored(r, t2, "k/t2.webm", 20)
    assert messages("videosdk", stored) == ["participant-track-recording-stopped"]
    body = render("videosdk", "participant-track-recording-stopped", stored, {"k/t2.webm": "https://x/t2"})
    assert body["data"]["fileDetails"] == [{"filePath": "k/t2.webm", "fileUrl": "https://x/t2"}]
    assert messages("videosdk", recording_changes(INITIALISED, r)[0]) == []  # no participant's kind: nothing


def test_the_videosdk_format_tells_starting_for_each_participants_kind_a_start_or_a_change_takes_in() -> None:
    alice, bob = Rule("alice", RuleKind.AUDIO), Rule("bob", RuleKind.VIDEO)
    r = recording(rules=Rules(include=(alice,)))
    (started,) = recording_changes(INITIALISED, r)
    assert messages("videosdk", started) == ["participant-track-recording-starting#0"]
    body = render("videosdk", "participant-track-recording-starting#0", started, {})
    assert body == {
        "webhookType": "participant-track-recording-starting",
        "data": {"meetingId": "1234", "sessionId": r.recorder_id, "participantId": "alice", "kind": "audio"},
    }
    before = Before(RecordingState.ACTIVE, 0, False, r.rules)
    r.rules = Rules(include=(alice, bob, Rule(kind=RuleKind.SCREEN_VIDEO)))  # (a rule for everyone: not told)
    (changed,) = [e for e in recording_changes(before, r) if e.type is EventType.RECORDING_RULES_CHANGED]
    assert changed.data["rules"]["before"] == {
        "include": [{"userId": "alice", "kind": "audio"}],
        "exclude": [],
    }
    assert messages("videosdk", changed) == ["participant-track-recording-starting#0"]
    assert render("videosdk", "participant-track-recording-starting#0", changed, {})["data"]["participantId"] == "bob"
    assert messages("native", changed) == ["recording.rules_changed"] and messages("realtimekit", changed) == []
    r.state, r.error = RecordingState.FAILED, ErrorInfo("JOIN_FAILED", "Janus is unreachable", T0)
    (failed,) = [e for e in recording_changes(INITIALISED, r) if e.type is EventType.RECORDING_FAILED]
    assert messages("videosdk", failed) == [f"participant-track-recording-failed#{i}" for i in range(2)]


def test_the_realtimekit_format_tells_each_status_with_the_recording_object() -> None:
    r = recording(stop_reason=Reason(StopReason.EMPTY_ROOM))
    (started,) = recording_changes(INITIALISED, r)
    assert messages("realtimekit", started) == ["recording.statusUpdate"]
    body = render("realtimekit", "recording.statusUpdate", started, {})
    assert body["event"] == "recording.statusUpdate" and body["meeting"]["id"] == "1234"
    rec = body["recording"]
    assert (rec["id"], rec["status"], rec["invokedTime"], rec["startedTime"]) == (
        r.recorder_id,
        "RECORDING",
        "2026-11-27T10:00:00.000Z",
        "2026-11-27T10:00:01.000Z",
    )
    assert rec["startReason"] == {
        "reason": "API_CALL",
        "caller": {"name": "backend", "type": "ORGANIZATION", "userId": None},
    }
    assert rec["stopReason"] == {"reason": "ALL_PEERS_LEFT"}
    assert rec["recordingDuration"] is None and rec["outputFileName"] is None  # (camelCase, as its receivers read)
    r.state = RecordingState.STOPPED
    (stopped,) = recording_changes(ACTIVE, r)
    assert render("realtimekit", "recording.statusUpdate", stopped, {})["recording"]["status"] == "UPLOADING"
    r.state, r.stop_reason = RecordingState.STOPPED, Reason(StopReason.MAX_DURATION)
    (at_most,) = recording_changes(ACTIVE, r)  # no RealtimeKit reason says it: no `reason`
    assert render("realtimekit", "recording.statusUpdate", at_most, {})["recording"]["stopReason"] == {}
    (t1,) = r.streams[0].tracks
    assert messages("realtimekit", track_changes(r, t1, None)[0]) == []


def test_a_composition_tells_its_end_once() -> None:
    c = Composition(
        "comp1", "org1", "app1", "c1", "n", CompositionType.AUDIO, 0, 0, Layout.GRID, 1, CompositionState.COMPLETED, T0
    )
    (done,) = composition_changes(CompositionState.PROCESSING, c)
    assert (done.type, done.subject, done.data["composition"]["state"]) == (
        EventType.COMPOSITION_COMPLETED,
        "comp1",
        "COMPLETED",
    )
    assert composition_changes(CompositionState.COMPLETED, c) == []
    c.state = CompositionState.PROCESSING
    assert composition_changes(CompositionState.PREPROCESSING, c) == []


def test_an_unknown_format_is_an_error() -> None:
    with pytest.raises(ValueError, match="unknown webhook format"):
        messages("zoom", recording_changes(INITIALISED, recording())[0])
