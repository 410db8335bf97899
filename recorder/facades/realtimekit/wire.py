"""RealtimeKit's wire shapes: its recording object and statuses as Cloudflare's SDKs type them (`cloudflare` on
PyPI and npm: `RecordingGetOneRecordingResponse.Data` and its siblings), for the API's answers, and the
`realtimekit` webhook format (`recording.statusUpdate` at each status change: RECORDING, PAUSED, UPLOADING once
stopped, UPLOADED when every file is stored, ERRORED), whose recording object has the same fields in camelCase
(`outputFileName`, `downloadUrl`, ...), as RealtimeKit's webhook receivers read them."""

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
# our stop reasons in RealtimeKit's (API_CALL, ALL_PEERS_LEFT, INTERNAL_ERROR); MAX_DURATION, NO_MEDIA and
# PAUSE_TIMEOUT have none there: their stop_reason has no `reason`
_REASONS = {
    "API_CALL": "API_CALL",
    "EMPTY_ROOM": "ALL_PEERS_LEFT",
    "CONFERENCE_ENDED": "ALL_PEERS_LEFT",
    "JOIN_FAILED": "INTERNAL_ERROR",
    "SPOOL_FULL": "INTERNAL_ERROR",
    "SHUTDOWN": "INTERNAL_ERROR",
}
# the fields of each answer's recording object, as the SDKs declare them
COMMON = (
    "id",
    "audio_download_url",
    "download_url",
    "download_url_expiry",
    "file_size",
    "invoked_time",
    "output_file_name",
    "session_id",
    "started_time",
    "status",
    "stopped_time",
    "recording_duration",
)
ONE = (*COMMON, "start_reason", "stop_reason", "storage_config")  # start, fetch one, pause/resume/stop
LISTED = (*COMMON, "storage_config")  # the list's (its optional `meeting` is left out)
ACTIVE = COMMON  # the active recording's, and the track recording's `data.recording`
_STORAGE_FIELDS = ("type", "auth_method", "bucket", "host", "path", "port", "region", "username")


def _rtk_reason(reason: dict[str, Any] | None) -> dict[str, Any] | None:
    if reason is None:
        return None
    data: dict[str, Any] = {}
    mapped = _REASONS.get(reason["reason"])
    if mapped is not None:
        data["reason"] = mapped
    caller = reason.get("caller")
    if caller is not None:  # (the SDKs' user_Id is a string when it is there)
        data["caller"] = {"name": caller["name"], "type": "ORGANIZATION"}
        if caller.get("userId") is not None:
            data["caller"]["user_Id"] = caller["userId"]
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
    *,
    output_file_name: str | None = None,
    urls_valid_until: str | None = None,
) -> dict[str, Any]:
    """RealtimeKit's recording object (`ONE`'s fields) of a recording (`recording_data`'s shape) whose stored
    `files` are `[{type, location, size}]`: its first video file is `download_url`, its first audio file
    `audio_download_url` (RealtimeKit makes one composite file; we keep every track's own), valid until
    `urls_valid_until`. `output_file_name`: the first file's key, else this (the key the manifest will have).
    `storage_config`: the recording's own destination as started, its declared fields only."""
    video = [f for f in files if f.get("type") == "VIDEO"]
    audio = [f for f in files if f.get("type") == "AUDIO"]
    first = video[0] if video else audio[0] if audio else None
    started, stopped = recording["started"], recording["stopped"]
    duration = None
    if started and stopped:
        duration = round((_parse(stopped) - _parse(started)).total_seconds())
    audio_url = urls.get(audio[0]["location"]) if audio else None
    video_url = urls.get(video[0]["location"]) if video else None
    own = {k: storage_config[k] for k in _STORAGE_FIELDS if k in storage_config} if storage_config else None
    return {
        "id": recording["recorderId"],
        "audio_download_url": audio_url,
        "download_url": video_url,
        "download_url_expiry": urls_valid_until if audio_url or video_url else None,
        "file_size": first.get("size") if first else None,
        "invoked_time": recording["created"],
        "output_file_name": first["location"] if first else output_file_name,
        "session_id": recording["recorderId"],
        "started_time": started,
        "status": status,
        "stopped_time": stopped,
        "recording_duration": duration,
        "start_reason": _rtk_reason(recording["startReason"]),
        "stop_reason": _rtk_reason(recording["stopReason"]),
        "storage_config": own,
    }


# fields the SDKs declare optional but not nullable (`recording_duration?: number`): left out when unknown
_OMITTED_WHEN_NONE = {"recording_duration", "start_reason", "stop_reason"}


def shaped(recording: dict[str, Any], fields: tuple[str, ...]) -> dict[str, Any]:
    """The recording object with the fields of one answer (`ONE`, `LISTED`, `ACTIVE`)."""
    return {name: recording[name] for name in fields if recording[name] is not None or name not in _OMITTED_WHEN_NONE}


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def _parse(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def render(_message: str, event: Event, urls: dict[str, str]) -> dict[str, Any]:
    """`recording.statusUpdate`: the meeting, and the recording object in camelCase (`outputFileName`,
    `downloadUrl`, `recordingDuration`, ...; `startReason`/`stopReason` with `caller.userId`)."""
    recording = event.data["recording"]
    status = "UPLOADED" if event.type is EventType.UPLOAD_STORED else RTK_STATUS[event.type]
    data = realtimekit_recording(recording, status, event.data.get("files", []), urls)
    camel = {_camel(k): data[k] for k in (*COMMON, "start_reason", "stop_reason")}  # (nulls kept: not SDK-typed)
    for reason in ("startReason", "stopReason"):
        caller = (camel[reason] or {}).get("caller")
        if caller is not None:
            who = {"name": caller["name"], "type": caller["type"], "userId": caller.get("user_Id")}
            camel[reason] = {**camel[reason], "caller": who}
    return {
        "event": RTK_STATUS_UPDATE,
        "meeting": {"id": recording["conferenceId"], "sessionId": recording["recorderId"]},
        "recording": camel,
    }
