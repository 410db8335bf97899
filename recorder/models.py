"""The recorder's domain records: a recording holds streams, a stream holds tracks (one file each)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum


class RecordingState(StrEnum):
    INITIALISED = "INITIALISED"
    ACTIVE = "ACTIVE"
    STOPPED = "STOPPED"
    FAILED = "FAILED"
    ABORTED = "ABORTED"
    PENDING_RECOVERY = "PENDING_RECOVERY"


LIVE_STATES = frozenset({RecordingState.INITIALISED, RecordingState.ACTIVE, RecordingState.PENDING_RECOVERY})


class StreamState(StrEnum):
    RECORDING = "RECORDING"
    STOPPED = "STOPPED"
    FAILED = "FAILED"


@dataclass
class ErrorInfo:
    code: str
    message: str
    occurred: datetime


@dataclass
class Track:
    id: str
    stream_id: str
    type: str  # AUDIO | VIDEO
    started: datetime
    local_location: str  # the file the recorder writes
    stopped: datetime | None = None
    local_deleted: datetime | None = None
    local_error: ErrorInfo | None = None
    object_location: str | None = None  # the key in the application's storage
    object_size: int | None = None
    object_uploaded: datetime | None = None
    object_error: ErrorInfo | None = None
    frames: int = 0
    duration: float = 0.0


@dataclass
class Stream:
    id: str
    recorder_id: str
    publication_id: str
    type: str  # CAM, MIC, SCREEN, VIDEO, HOLD, UNKNOWN
    user_id: str
    state: StreamState
    started: datetime
    stopped: datetime | None = None
    tracks: list[Track] = field(default_factory=list)


@dataclass
class Recording:
    recorder_id: str
    conversation_id: str
    instance_id: str
    organization_id: str
    application_id: str
    conference_id: str
    audio: bool
    video: bool
    state: RecordingState
    created: datetime
    started: datetime | None = None
    stopped: datetime | None = None
    recovered: datetime | None = None
    error: ErrorInfo | None = None
    streams: list[Stream] = field(default_factory=list)
