"""Events: what happened to a recording, a track, an upload or a composition, as the outbox keeps it.

An event is made from the change that causes it (`recording_changes`, `track_changes`, ...) by the store that
writes the change, in the same transaction (see `recorder.persistence.sql.outbox`). Its `data` is the native
payload's `data`, a snapshot taken at the change: a retry sends what was true then. Events of one `subject` (a
recording, or a composition) are numbered in order (`sequence`) and delivered in that order.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from recorder.clock import now
from recorder.models import (
    LIVE_STATES,
    Composition,
    CompositionState,
    ErrorInfo,
    Reason,
    Recording,
    RecordingState,
    Rules,
    Stream,
    Track,
    UploadJob,
    iso,
)


class EventType(StrEnum):
    RECORDING_STARTED = "recording.started"
    RECORDING_PAUSED = "recording.paused"
    RECORDING_RESUMED = "recording.resumed"
    RECORDING_STOPPED = "recording.stopped"
    RECORDING_FAILED = "recording.failed"
    RECORDING_ABORTED = "recording.aborted"
    RECORDING_RECOVERED = "recording.recovered"
    RECORDING_RULES_CHANGED = "recording.rules_changed"
    TRACK_STARTED = "track.started"
    TRACK_STOPPED = "track.stopped"
    UPLOAD_STORED = "upload.stored"
    UPLOAD_FAILED = "upload.failed"
    CHAT_TRANSCRIPT_STORED = "chat_transcript.stored"
    COBROWSE_SESSION_STORED = "cobrowse_session.stored"
    MANIFEST_STORED = "manifest.stored"
    COMPOSITION_COMPLETED = "composition.completed"
    COMPOSITION_FAILED = "composition.failed"


ENDED = {
    RecordingState.STOPPED: EventType.RECORDING_STOPPED,
    RecordingState.FAILED: EventType.RECORDING_FAILED,
    RecordingState.ABORTED: EventType.RECORDING_ABORTED,
}


@dataclass
class Event:
    type: EventType
    subject: str  # the recording's id (a composition's for its events): events of one subject keep their order
    application_id: str
    organization_id: str
    data: dict[str, Any]
    occurred: datetime = field(default_factory=now)
    id: str = field(default_factory=lambda: f"evt_{uuid.uuid4().hex}")
    sequence: int = 0  # given by the outbox: 1, 2, ... per subject

    def payload(self) -> dict[str, Any]:
        """The native payload (Standard Webhooks' recommended shape: type, timestamp, data)."""
        data = {**self.data, "sequence": self.sequence}
        return {"type": self.type.value, "timestamp": iso(self.occurred), "data": data}


def _time(value: datetime | None) -> str | None:
    return iso(value) if value else None


def _reason(reason: Reason | None) -> dict[str, Any] | None:
    if reason is None:
        return None
    data: dict[str, Any] = {"reason": reason.reason.value}
    if reason.caller is not None:
        caller = {"name": reason.caller.name, "type": reason.caller.type, "userId": reason.caller.user_id}
        data["caller"] = {k: v for k, v in caller.items() if v is not None}
    return data


def _error(error: ErrorInfo | None) -> dict[str, str] | None:
    return None if error is None else {"code": error.code, "message": error.message, "occurred": iso(error.occurred)}


def recording_data(recording: Recording) -> dict[str, Any]:
    """A recording as events carry it: ids, state, times, pauses and reasons (its tracks come in their own events)."""
    return {
        "organizationId": recording.organization_id,
        "applicationId": recording.application_id,
        "conversationId": recording.conversation_id,
        "recorderId": recording.recorder_id,
        "instanceId": recording.instance_id,
        "conferenceId": recording.conference_id,
        "state": recording.state.value,
        "paused": recording.paused,
        "pauses": [{"paused": iso(p.paused), "resumed": _time(p.resumed)} for p in recording.pauses],
        "created": iso(recording.created),
        "started": _time(recording.started),
        "stopped": _time(recording.stopped),
        "startReason": _reason(recording.start_reason),
        "stopReason": _reason(recording.stop_reason),
        "error": _error(recording.error),
        "rules": recording.rules.to_data(),
    }


def track_data(stream: Stream, track: Track) -> dict[str, Any]:
    data: dict[str, Any] = {
        "trackId": track.id,
        "type": track.kind.upper(),
        "streamId": stream.id,
        "streamType": stream.type,
        "userId": stream.user_id,
        "started": iso(track.started),
        "stopped": _time(track.stopped),
        "mediaStart": _time(track.media_start),
        "codec": track.codec,
    }
    if track.stopped is not None:
        data.update(frames=track.frames, duration=round(track.duration, 3), error=_error(track.local_error))
    return data


def recording_event(type_: EventType, recording: Recording, **extra: Any) -> Event:
    return Event(
        type_,
        recording.recorder_id,
        recording.application_id,
        recording.organization_id,
        {"recording": recording_data(recording), **extra},
    )


@dataclass(frozen=True)
class Before:
    """What a recording was before a write: the state and the pauses (count, and whether the last is open)."""

    state: RecordingState
    pauses: int
    paused: bool
    rules: Rules | None = None  # (None: not read)


def recording_changes(before: Before, after: Recording) -> list[Event]:
    """The events a recording's write causes, in the order they happened: started, each pause and resume since
    the last write (one write may carry several: a pause and a resume saved while the other's write waited),
    and how it ended. A pause that ends with the recording is not a resume."""
    events: list[Event] = []
    if before.state is RecordingState.INITIALISED and after.state is not before.state and after.started is not None:
        # (a stop right after the start may be the first write since it: it started all the same)
        events.append(recording_event(EventType.RECORDING_STARTED, after))
    live, last, open_ = after.state in LIVE_STATES, len(after.pauses) - 1, before.pauses - 1
    if before.paused and 0 <= open_ <= last and after.pauses[open_].resumed is not None and (live or open_ < last):
        events.append(recording_event(EventType.RECORDING_RESUMED, after))
    for index in range(before.pauses, len(after.pauses)):
        events.append(recording_event(EventType.RECORDING_PAUSED, after))
        if after.pauses[index].resumed is not None and (live or index < last):
            events.append(recording_event(EventType.RECORDING_RESUMED, after))
    # (a change before it started is told by `recording.started`, which carries the rules)
    started = before.state is RecordingState.ACTIVE and after.state in LIVE_STATES
    if started and before.rules is not None and before.rules != after.rules:
        rules = {"before": before.rules.to_data(), "after": after.rules.to_data()}
        events.append(recording_event(EventType.RECORDING_RULES_CHANGED, after, rules=rules))
    ended = ENDED.get(after.state)
    if ended is not None and before.state is not after.state:
        events.append(recording_event(ended, after))
    return events


def recovered(recording: Recording, previous_instance_id: str) -> Event:
    return recording_event(
        EventType.RECORDING_RECOVERED,
        recording,
        previousInstanceId=previous_instance_id,
        instanceId=recording.instance_id,
    )


MEDIA_LOST = "MEDIA_LOST"  # a track's media did not survive its instance (its machine was lost before any was stored)


def track_changes(recording: Recording, track: Track, was_stopped: bool | None) -> list[Event]:
    """A track's write: it started (it is new: `was_stopped` None), or its file ended."""
    stream = next((s for s in recording.streams if s.id == track.stream_id), None)
    if stream is None:
        return []
    if was_stopped is None:
        return [recording_event(EventType.TRACK_STARTED, recording, track=track_data(stream, track))]
    if not was_stopped and track.stopped is not None:
        data = track_data(stream, track)
        events = [recording_event(EventType.TRACK_STOPPED, recording, track=data)]
        if track.object_error is not None and track.object_error.code == MEDIA_LOST:  # its file will never be stored
            file = {"kind": "TRACK", "subject": track.id, "key": None}
            error = _error(track.object_error)
            events.append(
                recording_event(EventType.UPLOAD_FAILED, recording, track=data, file=file, attempts=0, error=error)
            )
        return events
    return []


def rtk_file(track: Track) -> dict[str, Any]:
    """A stored track file as the RealtimeKit format lists it."""
    return {"type": track.kind.upper(), "location": track.object_location, "size": track.object_size}


def file_data(kind: str, location: str, size: int | None = None, **extra: Any) -> dict[str, Any]:
    return {"kind": kind, "location": location, **({"size": size} if size is not None else {}), **extra}


def track_stored(recording: Recording, track: Track, location: str, size: int | None) -> list[Event]:
    """A track's file is stored; `allStored` when it was the last of an ended recording (with every file)."""
    stream = next((s for s in recording.streams if s.id == track.stream_id), None)
    if stream is None:
        return []
    tracks = [t for s in recording.streams for t in s.tracks]
    extra: dict[str, Any] = {}
    if recording.state not in LIVE_STATES and all(t.object_uploaded or t.object_error for t in tracks):
        files = [rtk_file(t) for t in tracks if t.object_location]
        extra = {"allStored": True, "files": files}
    return [
        recording_event(
            EventType.UPLOAD_STORED,
            recording,
            track=track_data(stream, track),
            file=file_data("TRACK", location, size, trackId=track.id),
            **extra,
        )
    ]


def upload_failed(recording: Recording, job: UploadJob, track: tuple[Stream, Track] | None) -> Event:
    extra: dict[str, Any] = {
        "file": {"kind": job.kind.value, "subject": job.subject, "key": job.key},
        "attempts": job.attempts,
        "error": _error(job.error),
    }
    if track is not None:
        extra["track"] = track_data(*track)
    return recording_event(EventType.UPLOAD_FAILED, recording, **extra)


def composition_changes(before: CompositionState | None, after: Composition) -> list[Event]:
    type_ = {
        CompositionState.COMPLETED: EventType.COMPOSITION_COMPLETED,
        CompositionState.FAILED: EventType.COMPOSITION_FAILED,
    }.get(after.state)
    if type_ is None or before is after.state:
        return []
    data = {
        "composition": {
            "id": after.id,
            "organizationId": after.organization_id,
            "applicationId": after.application_id,
            "conversationId": after.conversation_id,
            "name": after.name,
            "type": after.type.value,
            "state": after.state.value,
            "duration": after.duration,
            "size": after.size,
            "location": after.object_location,
            "completed": _time(after.completed),
            "error": _error(after.error),
        }
    }
    return [Event(type_, after.id, after.application_id, after.organization_id, data)]


# ------------------------------------------------------------ which messages an event becomes in each format


class Format(StrEnum):
    NATIVE = "native"
    VIDEOSDK = "videosdk"
    REALTIMEKIT = "realtimekit"


VIDEOSDK_PREFIX = "participant-track-recording-"
RTK_STATUS = {
    EventType.RECORDING_STARTED: "RECORDING",
    EventType.RECORDING_RESUMED: "RECORDING",
    EventType.RECORDING_RECOVERED: "RECORDING",
    EventType.RECORDING_PAUSED: "PAUSED",
    EventType.RECORDING_STOPPED: "UPLOADING",
    EventType.RECORDING_FAILED: "ERRORED",
    EventType.RECORDING_ABORTED: "ERRORED",
}
RTK_STATUS_UPDATE = "recording.statusUpdate"


def videosdk_targets(event: Event) -> list[dict[str, str]]:
    """The participants' kinds (`{userId, kind}`) a recording's event tells VideoSDK about: what its start
    records, what a change of its rules adds, what its failure ends."""
    if event.type is EventType.RECORDING_RULES_CHANGED:
        before = event.data["rules"]["before"]["include"]
        rules = [rule for rule in event.data["rules"]["after"]["include"] if rule not in before]
    else:
        rules = event.data["recording"].get("rules", {}).get("include", [])
    return [rule for rule in rules if "userId" in rule and "kind" in rule]


def messages(format_: str, event: Event) -> list[str]:
    """The messages (by name) that `event` becomes in `format_`, in the order they are sent; empty: none."""
    if format_ == Format.NATIVE:
        return [event.type.value]
    if format_ == Format.VIDEOSDK:
        track_file = event.data.get("file", {}).get("kind") == "TRACK"
        names = {
            EventType.TRACK_STARTED: ["started"],
            EventType.TRACK_STOPPED: ["stopping"],
            EventType.UPLOAD_STORED: ["stopped"] if track_file else [],
            EventType.UPLOAD_FAILED: ["failed"] if track_file else [],
        }.get(event.type, [])
        per_target = {
            EventType.RECORDING_STARTED: "starting",
            EventType.RECORDING_RULES_CHANGED: "starting",
            EventType.RECORDING_FAILED: "failed",
        }.get(event.type)
        if per_target is not None:  # one message per participant's kind it is about: `name#index`
            names = [f"{per_target}#{index}" for index in range(len(videosdk_targets(event)))]
        return [VIDEOSDK_PREFIX + name for name in names]
    if format_ == Format.REALTIMEKIT:
        stored_all = event.type is EventType.UPLOAD_STORED and event.data.get("allStored")
        return [RTK_STATUS_UPDATE] if event.type in RTK_STATUS or stored_all else []
    raise ValueError(f"unknown webhook format {format_!r}")
