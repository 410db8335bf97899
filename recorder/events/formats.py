"""A subscription's payload format: which messages a native event becomes, and their bodies.

- `native`: one message per event, `{type, timestamp, data}` (Standard Webhooks' recommended shape).
- `videosdk`: VideoSDK's participant track recording webhooks, one per track segment: `starting` and `started`
  when its file begins (the recorder has no separate start stage per track), `stopping` when it ends,
  `stopped` with `fileDetails` once it is stored, `failed` when it cannot be stored.
- `realtimekit`: RealtimeKit's `recording.statusUpdate` with the recording object, at each status change:
  RECORDING, PAUSED, UPLOADING (stopped, files on their way), UPLOADED (every file stored), ERRORED.

Messages are chosen when an event is written (each becomes a delivery of its own, in order) and rendered when
sent, with download URLs valid from then on.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from recorder.events.events import Event, EventType
from recorder.naming import videosdk_kind


class Format(StrEnum):
    NATIVE = "native"
    VIDEOSDK = "videosdk"
    REALTIMEKIT = "realtimekit"


_VIDEOSDK = "participant-track-recording-"
_RTK_STATUS = {
    EventType.RECORDING_STARTED: "RECORDING",
    EventType.RECORDING_RESUMED: "RECORDING",
    EventType.RECORDING_RECOVERED: "RECORDING",
    EventType.RECORDING_PAUSED: "PAUSED",
    EventType.RECORDING_STOPPED: "UPLOADING",
    EventType.RECORDING_FAILED: "ERRORED",
    EventType.RECORDING_ABORTED: "ERRORED",
}
RTK_STATUS_UPDATE = "recording.statusUpdate"


def messages(format_: str, event: Event) -> list[str]:
    """The messages (by name) that `event` becomes in `format_`, in the order they are sent; empty: none."""
    if format_ == Format.NATIVE:
        return [event.type.value]
    if format_ == Format.VIDEOSDK:
        track_file = event.data.get("file", {}).get("kind") == "TRACK"
        names = {
            EventType.TRACK_STARTED: ["starting", "started"],
            EventType.TRACK_STOPPED: ["stopping"],
            EventType.UPLOAD_STORED: ["stopped"] if track_file else [],
            EventType.UPLOAD_FAILED: ["failed"] if track_file else [],
        }.get(event.type, [])
        return [_VIDEOSDK + name for name in names]
    if format_ == Format.REALTIMEKIT:
        stored_all = event.type is EventType.UPLOAD_STORED and event.data.get("allStored")
        return [RTK_STATUS_UPDATE] if event.type in _RTK_STATUS or stored_all else []
    raise ValueError(f"unknown webhook format {format_!r}")


def render(format_: str, message: str, event: Event, urls: dict[str, str]) -> dict[str, Any]:
    """The body of one message; `urls`: download URLs by file location, valid from now."""
    if format_ == Format.VIDEOSDK:
        return _videosdk(message, event, urls)
    if format_ == Format.REALTIMEKIT:
        return _realtimekit(event, urls)
    payload = event.payload()
    file = payload["data"].get("file")
    if file is not None and file.get("location") in urls:
        payload["data"]["file"] = {**file, "url": urls[file["location"]]}
    return payload


def _videosdk(message: str, event: Event, urls: dict[str, str]) -> dict[str, Any]:
    recording, track = event.data["recording"], event.data["track"]
    data: dict[str, Any] = {
        "meetingId": recording["conferenceId"],
        "sessionId": recording["recorderId"],
        "participantId": track["userId"],
        "kind": videosdk_kind(track["streamType"], track["type"]),
    }
    if message.endswith("-stopped"):
        location = event.data["file"]["location"]
        data["fileDetails"] = [{"filePath": location, "fileUrl": urls.get(location)}]
    return {"webhookType": message, "data": data}


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


def _realtimekit(event: Event, urls: dict[str, str]) -> dict[str, Any]:
    recording = event.data["recording"]
    status = "UPLOADED" if event.type is EventType.UPLOAD_STORED else _RTK_STATUS[event.type]
    files = event.data.get("files", [])
    audio = [f for f in files if f.get("type") == "AUDIO"]
    return {
        "event": RTK_STATUS_UPDATE,
        "meeting": {"id": recording["conferenceId"], "sessionId": recording["recorderId"]},
        "recording": {
            "id": recording["recorderId"],
            "session_id": recording["recorderId"],
            "status": status,
            "invoked_time": recording["created"],
            "started_time": recording["started"],
            "stopped_time": recording["stopped"],
            "download_url": next((urls.get(f["location"]) for f in files if f.get("type") == "VIDEO"), None),
            "audio_download_url": urls.get(audio[0]["location"]) if audio else None,
            "output_file_name": next((f["location"] for f in files), None),
            "start_reason": _rtk_reason(recording["startReason"]),
            "stop_reason": _rtk_reason(recording["stopReason"]),
        },
    }
