"""File and key names made from ids that come from other systems."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from recorder.models import Recording, Stream, Track

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def safe_name(name: str) -> str:
    """`name` with anything but letters, digits, `.`, `_` and `-` replaced; never empty, `.` or `..`."""
    safe = _UNSAFE.sub("_", name)[:100]
    return "_" if safe in ("", ".", "..") else safe


@dataclass(frozen=True)
class KeyParts:
    """What a storage profile's key template can name (storage_providers.settings.KEY_FIELDS)."""

    stream_id: str
    stream_type: str
    user_id: str
    track_id: str
    track_type: str
    ext: str


def videosdk_kind(stream_type: str, track_type: str) -> str:
    """VideoSDK's name of a track's kind: audio, video, screen_audio or screen_video."""
    kind = track_type.lower()
    return f"screen_{kind}" if stream_type == "SCREEN" else kind


def object_key(template: str, recording: Recording, parts: KeyParts) -> str:
    """The key of one file in the application's storage; every value is made safe for a path segment."""
    values = {
        "kind": videosdk_kind(parts.stream_type, parts.track_type),
        "organizationId": recording.organization_id,
        "applicationId": recording.application_id,
        "conversationId": recording.conversation_id,
        "recorderId": recording.recorder_id,
        "streamId": parts.stream_id,
        "streamType": parts.stream_type,
        "userId": parts.user_id,
        "trackId": parts.track_id,
        "trackType": parts.track_type,
        "ext": parts.ext,
    }
    return template.format_map({name: safe_name(value) for name, value in values.items()})


def track_key(template: str, recording: Recording, stream: Stream, track: Track) -> str:
    """The key of a track's file."""
    ext = Path(track.local_location).suffix.lstrip(".")
    return object_key(
        template, recording, KeyParts(stream.id, stream.type, stream.user_id, track.id, track.kind.upper(), ext)
    )
