"""RealtimeKit's request bodies (unknown fields ignored, as its API does)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from recorder.facades.realtimekit.storage import StorageConfig

MeetingId = Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=r"^[^/\\\x00-\x1f\x7f]+$")]
MaxSeconds = Annotated[int, Field(ge=60, le=86400)]


class AudioConfig(BaseModel):
    channel: Literal["mono", "stereo"] | None = None
    codec: Literal["MP3", "AAC"] | None = None
    export_file: bool | None = None


class StartRecording(BaseModel):
    model_config = ConfigDict(extra="ignore")

    meeting_id: MeetingId
    max_seconds: MaxSeconds | None = None
    file_name_prefix: Annotated[str, Field(max_length=200)] | None = None
    audio_config: AudioConfig | None = None
    allow_multiple_recordings: bool | None = None
    storage_config: StorageConfig | None = None


class TrackRecording(BaseModel):
    model_config = ConfigDict(extra="ignore")

    meeting_id: MeetingId
    max_seconds: MaxSeconds | None = None
    layers: dict[str, Any] | None = None


class Action(BaseModel):
    model_config = ConfigDict(extra="ignore")

    action: Literal["stop", "pause", "resume"]
