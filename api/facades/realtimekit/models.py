"""RealtimeKit's request bodies, with the fields of Cloudflare's SDKs (`RecordingStartRecordingsParams`,
`RecordingStartTrackRecordingParams`, `RecordingPauseResumeStopRecordingParams`). Unknown fields are ignored, as
RealtimeKit does; a field this recorder cannot honour is refused by `unsupported` with a sentence saying why."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from recorder.facades.realtimekit.recordings import Action
from recorder.facades.realtimekit.storage import StorageConfig

MeetingId = Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=r"^[^/\\\x00-\x1f\x7f]+$")]
MaxSeconds = Annotated[int, Field(ge=60, le=86400)]
Prefix = Annotated[str, Field(max_length=200)]
NOT_REENCODED = "is not supported: the tracks are kept as they were sent, without re-encoding"


class AudioConfig(BaseModel):
    channel: Literal["mono", "stereo"] | None = None
    codec: Literal["MP3", "AAC"] | None = None
    export_file: bool | None = None


class BucketConfig(BaseModel):
    enabled: bool


class StartRecording(BaseModel):
    model_config = ConfigDict(extra="ignore")

    meeting_id: MeetingId
    max_seconds: MaxSeconds | None = None
    file_name_prefix: Prefix | None = None
    audio_config: AudioConfig | None = None
    allow_multiple_recordings: bool | None = None
    storage_config: StorageConfig | None = None
    video_config: dict[str, Any] | None = None
    interactive_config: dict[str, Any] | None = None
    rtmp_out_config: dict[str, Any] | None = None
    realtimekit_bucket_config: BucketConfig | None = None
    url: str | None = None

    def unsupported(self) -> str | None:
        """Why this start cannot be honoured as asked (None: it can)."""
        if self.allow_multiple_recordings:
            return "allow_multiple_recordings is not supported: a meeting has one active recording at a time"
        audio = self.audio_config
        if audio is not None and (audio.codec is not None or audio.channel is not None):
            return f"audio_config.codec and audio_config.channel {NOT_REENCODED} (Opus)"
        if self.video_config and set(self.video_config) - {"export_file"}:
            return f"video_config {NOT_REENCODED}, one file per participant's track"
        if self.interactive_config:
            return "interactive_config is not supported: no timed metadata (ID3) is written"
        if self.rtmp_out_config:
            return "rtmp_out_config is not supported: this recorder does not live stream"
        if self.url is not None:
            return "url is not supported: this recorder records the meeting's tracks, not a web page"
        if self.realtimekit_bucket_config is not None and not self.realtimekit_bucket_config.enabled:
            return "realtimekit_bucket_config.enabled false is not supported: the files are always handed out"
        return None


class Layer(BaseModel):
    file_name_prefix: Prefix | None = None
    media_kind: Literal["audio"] | None = None


class TrackRecording(BaseModel):
    model_config = ConfigDict(extra="ignore")

    meeting_id: MeetingId
    max_seconds: MaxSeconds | None = None
    layers: dict[str, Layer] | None = None
    user_ids: Annotated[
        list[Annotated[str, StringConstraints(min_length=1, max_length=200)]], Field(max_length=100)
    ] = []

    def unsupported(self) -> str | None:
        if self.layers is not None and len(self.layers) > 1:
            return "layers: one layer is supported (every participant's audio, each in files of its own)"
        return None

    def file_name_prefix(self) -> str | None:
        return next((layer.file_name_prefix for layer in (self.layers or {}).values()), None)


class ActionBody(BaseModel):
    model_config = ConfigDict(extra="ignore")

    action: Action
