"""Wire models of the Auvious Recorder API (camelCase on the wire; absent fields are left out)."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, StrictBool, StrictStr
from pydantic.alias_generators import to_camel

# Ids come from other systems: any printable text without slashes or control characters.
ID_PATTERN = r"^[^/\\\x00-\x1f\x7f]{1,200}$"


class WireModel(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, frozen=True)

    def wire(self) -> dict[str, object]:
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


_COMMAND = ConfigDict(alias_generator=to_camel, populate_by_name=False, frozen=True, extra="ignore")


def _usable_id(value: str) -> str:
    """Not blank and not a dot segment: clients that normalise paths would reach another resource."""
    if not value.strip() or value in (".", ".."):
        raise ValueError("must not be blank, '.' or '..'")
    return value


Id = Annotated[str, Field(pattern=ID_PATTERN), AfterValidator(_usable_id)]


def _utc(value: datetime) -> datetime:
    try:
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    except OverflowError:  # e.g. 0001-01-01T00:00:00+14:00 is before year 1 in UTC
        raise ValueError("the time is out of range in UTC") from None


UtcDatetime = Annotated[datetime, Field(strict=True), AfterValidator(_utc)]  # no timezone: taken as UTC


def _json_integer(value: object) -> object:
    """A JSON Schema integer: a number without a fraction (2 and 2.0), never a string or a boolean."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError("must be an integer")
    return value


JsonInt = Annotated[int, BeforeValidator(_json_integer)]


class RecordingState(StrEnum):
    ABORTED = "ABORTED"
    ACTIVE = "ACTIVE"
    FAILED = "FAILED"
    INITIALISED = "INITIALISED"
    PENDING_RECOVERY = "PENDING_RECOVERY"
    STOPPED = "STOPPED"


class StreamState(StrEnum):
    FAILED = "FAILED"
    RECORDING = "RECORDING"
    STOPPED = "STOPPED"


class StreamType(StrEnum):
    CAM = "CAM"
    HOLD = "HOLD"
    MIC = "MIC"
    SCREEN = "SCREEN"
    UNKNOWN = "UNKNOWN"
    VIDEO = "VIDEO"


class TrackType(StrEnum):
    AUDIO = "AUDIO"
    VIDEO = "VIDEO"


class StorageProviderType(StrEnum):
    AMAZON_S3 = "AMAZON_S3"
    AZURE_BLOB = "AZURE_BLOB"
    GOOGLE_CLOUD = "GOOGLE_CLOUD"
    SFTP_STORAGE = "SFTP_STORAGE"
    LOCAL_STORAGE = "LOCAL_STORAGE"  # ours: a directory on the recorder's machine


class RuleKind(StrEnum):
    AUDIO = "audio"
    VIDEO = "video"
    SCREEN_AUDIO = "screen_audio"
    SCREEN_VIDEO = "screen_video"


class RuleEntry(WireModel):
    """Matches a participant, a kind, or both (neither: everything)."""

    model_config = _COMMAND
    user_id: StrictStr | None = Field(default=None, min_length=1, max_length=1000)
    kind: RuleKind | None = None


class PauseRequest(WireModel):
    """Why a recording is paused (optional): PAYMENT, for example. Kept with the pause, said in the manifest."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=False, frozen=True, extra="forbid")
    reason: StrictStr | None = Field(default=None, min_length=1, max_length=200)


class RecordingRules(WireModel):
    """Who and what is recorded. Exclude wins over include; no include entry includes everything."""

    model_config = _COMMAND
    include: list[RuleEntry] = Field(default_factory=list, max_length=1000)
    exclude: list[RuleEntry] = Field(default_factory=list, max_length=1000)


Seconds = Annotated[float, Field(strict=True, ge=1, le=31 * 24 * 3600)]


class StartRecording(WireModel):
    model_config = _COMMAND

    application_id: Id
    conference_id: Id
    conversation_id: Id
    audio: StrictBool = True
    video: StrictBool = True
    screen: StrictBool | None = None  # screen shares (Auvious's newest docs); omitted: the same as `video`
    # extensions: who and what is recorded, and when the recording stops by itself
    rules: RecordingRules | None = None
    max_duration_seconds: Seconds | None = None
    empty_room_timeout_seconds: Seconds | None = None
    no_media_timeout_seconds: Seconds | None = None

    @property
    def records_screen(self) -> bool:
        return self.video if self.screen is None else self.screen


class StopRecording(WireModel):
    """The body of `POST /recordings/stop` (an Auvious Postman collection); `conversationId` is optional."""

    model_config = _COMMAND

    application_id: Id
    recorder_id: Id
    instance_id: Id
    conversation_id: Id | None = None


class ChatTranscriptEntry(WireModel):
    model_config = _COMMAND

    time_stamp: UtcDatetime
    transcript: StrictStr = Field(max_length=100_000)
    user_display_name: StrictStr | None = Field(default=None, max_length=1000)
    user_id: StrictStr = Field(min_length=1, max_length=1000)


class AddChatTranscriptCmd(WireModel):
    model_config = _COMMAND

    chat_transcript_list: list[ChatTranscriptEntry] = Field(max_length=10_000)
    conversation_id: Id
    instance_id: Id
    recorder_id: Id


class CobrowseEvent(WireModel):
    model_config = _COMMAND

    payload: StrictStr
    sequence_id: JsonInt = Field(ge=-(1 << 31), lt=1 << 31)
    session_id: Id
    timestamp: JsonInt = Field(ge=-(1 << 63), lt=1 << 63)


class AddCobrowseEventCmd(WireModel):
    model_config = _COMMAND

    conversation_id: Id
    event: CobrowseEvent
    instance_id: Id
    recorder_id: Id


class CobrowseUrlQuery(WireModel):
    """The ids the spec repeats in the query of the cobrowse URL operation (`id`: the recorderId)."""

    model_config = _COMMAND

    conversation_id: Id
    id: Id
    instance_id: Id


class CobrowseSessionDataMessage(WireModel):
    cobrowse_session_id: str
    recorder_id: str
    recorder_instance_id: str
    uploaded: str | None = None


class ConversationCobrowseSessionDataMessage(WireModel):
    cobrowse_sessions: list[CobrowseSessionDataMessage]
    conversation_id: str


class URLResourceMessage(WireModel):
    url: str
    valid_until: str


class StorageTestResult(WireModel):
    message: str
    passed: bool


class ThroughputTestResult(WireModel):
    """Auvious's throughput probe: bytes up and down, the time both took, and the slower direction's speed."""

    passed: bool
    message: str
    bytes_transferred: int
    duration_millis: int
    throughput_mbps: float


class StorageVerificationStatusMessage(WireModel):
    bucket_test_result: StorageTestResult
    delete_test_result: StorageTestResult
    modify_test_result: StorageTestResult
    read_test_result: StorageTestResult
    write_test_result: StorageTestResult
    throughput_test_result: ThroughputTestResult


class Error(WireModel):
    code: str | None = None
    message: str | None = None
    occurred: str | None = None


class RecordingDataEvent(WireModel):
    conversation_id: str
    recorder_id: str
    instance_id: str
    state: RecordingState
    error: Error | None = None


class LocalFileDataMessage(WireModel):
    created: str | None = None
    deleted: str | None = None
    error: Error | None = None
    location: str | None = None


class UploadDataMessage(WireModel):
    error: Error | None = None
    location: str | None = None
    size: str | None = None
    uploaded: str | None = None


class TrackStorageDataMessage(WireModel):
    local_storage: LocalFileDataMessage | None = None
    object_storage: UploadDataMessage | None = None


class GapData(WireModel):
    """A hole in a track's media (extension): the network lost it and it could not be repaired."""

    started: str
    stopped: str


class TrackDataMessage(WireModel):
    id: str
    gaps: list[GapData] | None = None  # extension, when the file has holes
    started: str | None = None
    stopped: str | None = None
    # extensions: the sender-clock time of the file's first frame and of the end of its media (RTCP sender
    # reports; without one, the first frame's arrival), and the codec
    media_start: str | None = None
    media_end: str | None = None
    codec: str | None = None
    # extension, while the track is written: how far its media is safe in storage (the last segment stored)
    durable_until: str | None = None
    storage: TrackStorageDataMessage | None = None
    type: TrackType
    url: str | None = None


class StreamDataMessage(WireModel):
    id: str
    state: StreamState
    tracks: list[TrackDataMessage]
    type: StreamType
    user_id: str


class StorageProfileDataMessage(WireModel):
    application_id: str
    provider: StorageProviderType
    url: str | None = None


class ChatTranscriptData(WireModel):
    created: str
    id: str
    location: str


class ManifestData(WireModel):
    location: str | None = None
    url: str | None = None
    error: Error | None = None  # why it is not stored (its upload failed; the retry extension tries again)


class CallerData(WireModel):
    name: str
    type: str
    user_id: str | None = None


class ReasonData(WireModel):
    reason: str
    caller: CallerData | None = None


class PauseData(WireModel):
    paused: str
    resumed: str | None = None
    reason: str | None = None


class RuleData(WireModel):
    user_id: str | None = None
    kind: RuleKind | None = None


class RulesData(WireModel):
    include: list[RuleData]
    exclude: list[RuleData]


class LimitsData(WireModel):
    max_duration_seconds: float
    empty_room_timeout_seconds: float
    no_media_timeout_seconds: float
    pause_timeout_seconds: float


class PublicationData(WireModel):
    publication_id: str
    user_id: str
    type: StreamType
    kinds: list[str]  # what it carries
    recorded: list[str]  # what of it is recorded now
    why: str


class RulesMessage(WireModel):
    """The answer to `PUT .../rules`: the rules in force, and each publication in the room with what of it is
    recorded now and why."""

    rules: RulesData
    publications: list[PublicationData]


class RecordingDataMessage(WireModel):
    audio: bool
    chat_transcript: ChatTranscriptData | None = None
    conference_id: str
    conversation_id: str
    error: Error | None = None
    instance_id: str
    organization_id: str
    recorder_id: str
    recovered: str | None = None
    screen: bool  # extension: whether screen shares are recorded
    started: str | None = None
    state: RecordingState
    stopped: str | None = None
    storage_profile: StorageProfileDataMessage | None = None
    streams: list[StreamDataMessage]
    video: bool
    # extensions: the manifest (every file on one timeline), and the controls
    manifest: ManifestData | None = None
    paused: bool = False
    pauses: list[PauseData] = Field(default_factory=list)
    start_reason: ReasonData | None = None
    stop_reason: ReasonData | None = None
    rules: RulesData | None = None
    limits: LimitsData | None = None


class ConversationTrackStorageData(WireModel):
    location: str | None = None
    size: str | None = None
    uploaded: str | None = None


class ConversationTrackData(WireModel):
    started: str | None = None
    stopped: str | None = None
    storage: ConversationTrackStorageData | None = None
    type: TrackType


class ConversationStreamData(WireModel):
    started: str | None = None
    stopped: str | None = None
    tracks: list[ConversationTrackData]
    type: StreamType
    user_id: str


class ConversationRecordingData(WireModel):
    audio: bool
    conference_id: str
    recorder_id: str
    recovered: str | None = None
    started: str | None = None
    stopped: str | None = None
    streams: list[ConversationStreamData]
    video: bool


class ConversationMessage(WireModel):
    application_id: str | None = None
    chat_transcript: ChatTranscriptData | None = None
    conversation_id: str
    duration: str | None = None
    provider: StorageProviderType | None = None
    recordings: list[ConversationRecordingData]


class ErrorBody(WireModel):
    """Our error answer: every 4xx/5xx has this JSON body."""

    error: str
    message: str
    details: list[dict[str, object]] | None = None
