"""RealtimeKit's wire shapes: its recording object and statuses, for the API's answers and the `realtimekit`
webhook format (`recording.statusUpdate` at each status change: RECORDING, PAUSED, UPLOADING once stopped,
UPLOADED when every file is stored, ERRORED)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from recorder.events import RTK_STATUS, RTK_STATUS_UPDATE, Event, EventType
from recorder.models import Recording, RecordingState

STATUSES = {  # RealtimeKit's status -> our states
    "INVOKED": ("INITIALISED", "PENDING_RECOVERY"),
    "RECORDING": ("ACTIVE",),
    "PAUSED": ("ACTIVE",),
    "UPLOADING": ("STOPPED",),
    "UPLOADED": ("STOPPED",),
    "ERRORED": ("FAILED", "ABORTED"),
}


def _rtk_reason(reason: dict[str, Any] | None) -> dict[str, Any] | None:
    if reason is None:
        return None
    why = reason["reason"]
    mapped = {"EMPTY_ROOM": "ALL_PEERS_LEFT", "JOIN_FAILED": "INTERNAL_ERROR", "SPOOL_FULL": "INTERNAL_ERROR"}
    data: dict[str, Any] = {"reason": mapped.get(why, "API_CALL" if why == "API_CALL" else why)}
    caller = reason.get("caller")
    if caller is not None:
        data["caller"] = {"name": caller["name"], "type": "ORGANIZATION", "user_Id": caller.get("userId")}
    return data


def realtimekit_status(recording: Recording) -> str:
    """RealtimeKit's status of a recording: INVOKED until it records, RECORDING or PAUSED, UPLOADING once it
    stopped until every file is stored, then UPLOADED; ERRORED when it failed or was cut short."""
    if recording.state in (RecordingState.INITIALISED, RecordingState.PENDING_RECOVERY):
        return "INVOKED"
    if recording.state is RecordingState.ACTIVE:
        return "PAUSED" if recording.paused else "RECORDING"
    if recording.state is not RecordingState.STOPPED:
        return "ERRORED"
    tracks = [t for s in recording.streams for t in s.tracks]
    return "UPLOADED" if all(t.object_uploaded or t.object_error for t in tracks) else "UPLOADING"


def realtimekit_recording(
    recording: dict[str, Any],
    status: str,
    files: list[dict[str, Any]],
    urls: dict[str, str],
    storage_config: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """RealtimeKit's recording object of a recording (`recording_data`'s shape) whose stored `files` are
    `[{type, location, size}]`: its first video file is `download_url`, its first audio file
    `audio_download_url` (RealtimeKit makes one composite file; we keep every track's own).
    `storage_config`: the recording's own destination as started, without its write-only fields."""
    video = [f for f in files if f.get("type") == "VIDEO"]
    audio = [f for f in files if f.get("type") == "AUDIO"]
    first = video[0] if video else audio[0] if audio else None
    started, stopped = recording["started"], recording["stopped"]
    duration = None
    if started and stopped:
        duration = round((_parse(stopped) - _parse(started)).total_seconds(), 3)
    return {
        "id": recording["recorderId"],
        "audio_download_url": urls.get(audio[0]["location"]) if audio else None,
        "download_url": urls.get(video[0]["location"]) if video else None,
        "download_url_expiry": None,
        "file_size": first.get("size") if first else None,
        "invoked_time": recording["created"],
        "output_file_name": first["location"] if first else None,
        "session_id": recording["recorderId"],
        "started_time": started,
        "status": status,
        "stopped_time": stopped,
        "recording_duration": duration,
        "start_reason": _rtk_reason(recording["startReason"]),
        "stop_reason": _rtk_reason(recording["stopReason"]),
        "storage_config": storage_config,
    }


def _parse(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def render(_message: str, event: Event, urls: dict[str, str]) -> dict[str, Any]:
    recording = event.data["recording"]
    status = "UPLOADED" if event.type is EventType.UPLOAD_STORED else RTK_STATUS[event.type]
    return {
        "event": RTK_STATUS_UPDATE,
        "meeting": {"id": recording["conferenceId"], "sessionId": recording["recorderId"]},
        "recording": realtimekit_recording(recording, status, event.data.get("files", []), urls),
    }
