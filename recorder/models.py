"""The recorder's domain records: a recording holds streams, a stream holds tracks (one file each)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from schemas.composition import CompositionState as CompositionState
from schemas.composition import CompositionType as CompositionType
from schemas.composition import Layout as Layout


class RecordingState(StrEnum):
    INITIALISED = "INITIALISED"
    ACTIVE = "ACTIVE"
    STOPPED = "STOPPED"
    FAILED = "FAILED"
    ABORTED = "ABORTED"
    PENDING_RECOVERY = "PENDING_RECOVERY"


def iso(value: datetime) -> str:
    """The wire form of a time: ISO 8601, UTC, milliseconds, `Z`."""
    return value.isoformat(timespec="milliseconds").replace("+00:00", "Z")


LIVE_STATES = frozenset({RecordingState.INITIALISED, RecordingState.ACTIVE, RecordingState.PENDING_RECOVERY})


class MediaKind(StrEnum):
    """What a track carries; spelled this way everywhere inside (the wire's track `type` is its upper case)."""

    AUDIO = "audio"
    VIDEO = "video"


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
    kind: MediaKind
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
    # the sender's wall-clock time of the file's first frame (RTCP sender reports), set when the track ends;
    # None without reports: then `started` (when the first frame arrived here) places the track
    media_start: datetime | None = None
    writer: str | None = None  # the instance that writes the file (its leftovers are finalized by others)
    # holes in the file's media (seconds from its time 0): what the network lost and could not be repaired
    gaps: list[tuple[float, float]] = field(default_factory=list)
    codec: str | None = None  # vp8, vp9, h264, opus
    # while it is written: how far its media is safe in storage (the last segment the journal has)
    durable_until: datetime | None = None

    @property
    def media_end(self) -> datetime:
        """The sender's wall-clock time of the end of the file's media (its first frame's time + its length)."""
        return self.timeline_start + timedelta(seconds=self.duration)

    @property
    def timeline_start(self) -> datetime:
        """Where the file's time 0 goes on the conversation's wall-clock timeline."""
        return self.media_start or self.started


def media_end(track: Track, otherwise: datetime) -> datetime:
    """When a track's media ends: its first frame's time plus the media in its file (not when the file was
    closed, which can be much later after a stall or a crash); `otherwise` when the file holds nothing."""
    return track.started + timedelta(seconds=track.duration) if track.frames else otherwise


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


class StopReason(StrEnum):
    """Why a recording ended (and `API_CALL` also why one started)."""

    API_CALL = "API_CALL"  # a client asked (its identity in `caller`)
    MAX_DURATION = "MAX_DURATION"  # the recorded time reached the limit
    EMPTY_ROOM = "EMPTY_ROOM"  # no publisher in the room for the limit
    NO_MEDIA = "NO_MEDIA"  # publishers, but no packet on any recorded track for the limit
    PAUSE_TIMEOUT = "PAUSE_TIMEOUT"  # paused longer than the limit
    CONFERENCE_ENDED = "CONFERENCE_ENDED"  # the room was destroyed, or its server stayed away
    SHUTDOWN = "SHUTDOWN"  # the instance shut down with `shutdown_recordings = stop`
    JOIN_FAILED = "JOIN_FAILED"  # the conference could not be joined
    SPOOL_FULL = "SPOOL_FULL"  # the local disk filled while recording: kept up to there


@dataclass(frozen=True)
class Caller:
    """Who asked: a client (OAuth client credentials) or an API key, by name."""

    name: str
    type: str  # CLIENT | API_KEY
    user_id: str | None = None


@dataclass(frozen=True)
class Reason:
    reason: StopReason
    caller: Caller | None = None


@dataclass
class Pause:
    paused: datetime
    resumed: datetime | None = None
    reason: str | None = None  # why (e.g. PAYMENT): nothing of the span is stored - media, chat, cobrowse

    def covers(self, moment: datetime) -> bool:
        return self.paused <= moment and (self.resumed is None or moment < self.resumed)


class RuleKind(StrEnum):
    """What a rule matches: a camera's (or other stream's) audio or video, or a screen share's (VideoSDK's names)."""

    AUDIO = "audio"
    VIDEO = "video"
    SCREEN_AUDIO = "screen_audio"
    SCREEN_VIDEO = "screen_video"

    @classmethod
    def of(cls, stream_type: str, kind: MediaKind) -> RuleKind:
        screen = "screen_" if stream_type == "SCREEN" else ""
        return cls(screen + kind.value)


@dataclass(frozen=True)
class Rule:
    """Matches a participant (`user_id`), a kind, or both; neither matches everything."""

    user_id: str | None = None
    kind: RuleKind | None = None

    def matches(self, user_id: str, kind: RuleKind) -> bool:
        return self.user_id in (None, user_id) and self.kind in (None, kind)


@dataclass(frozen=True)
class Rules:
    """Who and what is recorded. Exclude wins over include; no include entry includes everything."""

    include: tuple[Rule, ...] = ()
    exclude: tuple[Rule, ...] = ()

    def allows(self, user_id: str, kind: RuleKind) -> bool:
        if any(r.matches(user_id, kind) for r in self.exclude):
            return False
        return not self.include or any(r.matches(user_id, kind) for r in self.include)

    def to_data(self) -> dict[str, list[dict[str, str]]]:
        """The rules as JSON data, in the API's shape: {"include": [{"userId", "kind"}], "exclude": [...]}."""

        def entries(rules: tuple[Rule, ...]) -> list[dict[str, str]]:
            return [
                {k: v for k, v in (("userId", r.user_id), ("kind", r.kind.value if r.kind else None)) if v is not None}
                for r in rules
            ]

        return {"include": entries(self.include), "exclude": entries(self.exclude)}

    @classmethod
    def from_data(cls, data: dict[str, list[dict[str, str]]]) -> Rules:
        def entries(key: str) -> tuple[Rule, ...]:
            return tuple(
                Rule(e.get("userId"), RuleKind(e["kind"]) if e.get("kind") else None) for e in data.get(key, [])
            )

        return cls(entries("include"), entries("exclude"))

    def why(self, user_id: str, kind: RuleKind) -> str:
        """A reader's account of the decision."""
        if any(r.matches(user_id, kind) for r in self.exclude):
            return "excluded by a rule"
        if not self.include:
            return "no include rule: everything is recorded"
        if any(r.matches(user_id, kind) for r in self.include):
            return "included by a rule"
        return "no include rule matches"


@dataclass(frozen=True)
class Limits:
    """When a recording stops by itself (seconds)."""

    max_duration: float  # recorded time (pauses left out)
    empty_room: float  # no publisher in the room
    no_media: float  # publishers, but no packet on any recorded track
    pause: float  # paused


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
    chat_transcript: ChatTranscript | None = None
    lease_until: float | None = None  # epoch seconds: `instance_id` owns the live recording until then
    screen: bool = True  # screen shares (SCREEN streams) are recorded
    start_reason: Reason | None = None
    stop_reason: Reason | None = None
    pauses: list[Pause] = field(default_factory=list)
    rules: Rules = field(default_factory=Rules)
    limits: Limits | None = None  # None: none (a recording made before limits existed; a takeover sets them)
    manifest_location: str | None = None  # where the manifest (every file on one timeline) is stored
    manifest_error: ErrorInfo | None = None  # why the manifest is not stored (its upload failed)
    key_template: str | None = None  # where its files go (a facade's layout); None: the storage profile's
    facade: str | None = None  # the facade it was started through (None: the recorder's own API)
    epoch: int = 0  # grows with each takeover: a stale owner's segment writes are refused

    @property
    def paused(self) -> bool:
        return bool(self.pauses) and self.pauses[-1].resumed is None

    def paused_at(self, moment: datetime) -> Pause | None:
        """The pause whose span holds `moment` (what happened then is not stored: media, chat nor cobrowse)."""
        return next((p for p in self.pauses if p.covers(moment)), None)

    def records(self, stream_type: str, user_id: str | None = None) -> frozenset[MediaKind]:
        """The kinds recorded of a stream of this type (and of this participant, by the rules)."""
        if stream_type == "SCREEN" and not self.screen:
            return frozenset()
        video = self.screen if stream_type == "SCREEN" else self.video
        flagged = (k for k, on in ((MediaKind.AUDIO, self.audio), (MediaKind.VIDEO, video)) if on)
        if user_id is None:
            return frozenset(flagged)
        return frozenset(k for k in flagged if self.rules.allows(user_id, RuleKind.of(stream_type, k)))

    def recorded_seconds(self, at: datetime) -> float:
        """Recorded time until `at`: from the start, pauses left out."""
        if self.started is None:
            return 0.0
        paused = sum(((p.resumed or at) - p.paused).total_seconds() for p in self.pauses)
        return max(0.0, (at - self.started).total_seconds() - paused)


@dataclass(frozen=True)
class ChatEntry:
    time_stamp: datetime
    transcript: str
    user_id: str
    user_display_name: str | None = None


@dataclass
class ChatTranscript:
    """The stored file of a recording's chat entries (rewritten when entries come after the recording ended)."""

    id: str
    created: datetime
    location: str


@dataclass(frozen=True)
class CobrowseEvent:
    session_id: str
    sequence_id: int
    timestamp: int
    payload: str


@dataclass
class CobrowseSession:
    recorder_id: str
    session_id: str
    instance_id: str  # the recording's instance when the session's first event came
    location: str | None = None
    uploaded: datetime | None = None


class UploadKind(StrEnum):
    TRACK = "TRACK"  # subject: the track id
    MANIFEST = "MANIFEST"  # subject: the recorder id
    CHAT = "CHAT"  # subject: the recorder id
    COBROWSE = "COBROWSE"  # subject: the cobrowse session id
    COMPOSITION = "COMPOSITION"  # subject: the composition id
    SEAL = "SEAL"  # subject: the recorder id (its signed list of every object it stored)


class UploadState(StrEnum):
    PENDING = "PENDING"  # waiting for its (next) attempt
    UPLOADED = "UPLOADED"  # stored and verified; the local file is still there
    DONE = "DONE"  # the local file is deleted
    FAILED = "FAILED"  # gave up (the destination refused, or too many attempts): the local file is kept
    SUPERSEDED = "SUPERSEDED"  # a newer file for the same key came before this one went up


@dataclass
class UploadJob:
    """One finished local file on its way to the application's storage."""

    application_id: str
    recorder_id: str
    kind: UploadKind
    subject: str
    source: str  # the local file
    key: str  # where it goes
    size: int
    md5: str
    created: datetime
    next_attempt: datetime
    state: UploadState = UploadState.PENDING
    attempts: int = 0
    error: ErrorInfo | None = None
    id: int | None = None
    origin: str | None = None  # the instance that made the local file (only it may not see it: another disk)
    owner: str | None = None  # the instance working on the job while its lease lasts
    sha256: str | None = None  # of the local file's bytes, computed with its MD5 (jobs older than evidence: None)


@dataclass
class Composition:
    """A conversation's tracks composed into one file (VIDEO: MP4, AUDIO: MP3)."""

    id: str
    organization_id: str
    application_id: str
    conversation_id: str
    name: str
    type: CompositionType
    width: int  # VIDEO only: the picture's size and layout
    height: int
    layout: Layout
    priority: int  # higher first, then older first
    state: CompositionState
    created: datetime
    progress: int = 0  # percent
    completed: datetime | None = None
    duration: float | None = None  # seconds
    size: int | None = None  # bytes
    error: ErrorInfo | None = None
    local_location: str | None = None  # the composed file while it is on this machine
    object_location: str | None = None  # its key in the application's storage
    object_uploaded: datetime | None = None
    deleted: datetime | None = None
    owner: str | None = None  # the instance running the job while its lease lasts
    keep_pauses: bool = False  # the recordings' pauses stay in the file as silence (and black); else left out
    # where the file's time 0 is on the wall clock, and the pauses left out of the file (a moment at wall time t
    # plays at t - timeline_start - the pauses before t): how chat and cobrowse times map onto the file
    timeline_start: datetime | None = None
    pauses_left_out: list[Pause] = field(default_factory=list)

    @property
    def extension(self) -> str:
        return "mp4" if self.type is CompositionType.VIDEO else "mp3"

    @property
    def file_name(self) -> str:
        return f"{self.id}.{self.extension}"
