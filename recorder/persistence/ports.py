"""The persistence ports: one small interface per capability.

Each is implemented in SQL (`recorder.persistence.sql`) on SQLite (the embedded default) and PostgreSQL
(several instances); `recorder.persistence.store.open_store` makes all of them on one database. Lookups by a
client are scoped by `organization_id`, so that two organizations may use the same conversation id and never
see each other's recordings; lookups for the service's own bookkeeping are not (their docstrings say so).
Writes that several instances may race on are single conditional statements: exactly one instance wins.
"""

from __future__ import annotations

import hashlib
import json
from abc import ABC, abstractmethod
from dataclasses import dataclass, replace
from datetime import datetime

from recorder.events import Event
from recorder.models import (
    ChatEntry,
    ChatTranscript,
    CobrowseEvent,
    CobrowseSession,
    Composition,
    ErrorInfo,
    Recording,
    Stream,
    Track,
    UploadJob,
)
from schemas.sessions import CoachingSession


@dataclass(frozen=True)
class StoredProfile:
    """A storage profile set through the admin API: its settings as JSON without secrets, and its
    credentials as an encrypted token (None: none given)."""

    application_id: str
    settings: str
    credentials: str | None


@dataclass(frozen=True)
class InstanceInfo:
    """A running service process: it heartbeats while it runs (RUNNING, or DRAINING while it shuts down)."""

    id: str
    address: str | None
    state: str
    started: datetime
    heartbeat: datetime | None = None
    locked: bool = False  # it holds its liveness lock: its peers see it die the moment its session ends
    capacity: int | None = None  # how many recordings it runs at most


@dataclass(frozen=True)
class RecordingQuery:
    """Which recordings of an application a page lists: of one conversation (or those whose id starts with
    `conversation_prefix`), with a stream of `user_id`, created in [since, until), in these states; `offset`
    and `limit` cut the page, newest first unless `oldest_first`."""

    application_id: str
    conversation_id: str | None = None
    conversation_prefix: str | None = None
    user_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    states: tuple[str, ...] = ()
    offset: int = 0
    limit: int = 25
    oldest_first: bool = False


@dataclass
class StoredSubscription:
    """A webhook subscription: its secrets as encrypted tokens; `events` None: every event. `recorder_id`: it
    hears that recording only (a per-request webhook URL); `origin`: CONFIGURATION or API."""

    id: str
    application_id: str
    url: str
    events: list[str] | None
    format: str
    secret: str
    origin: str
    created: float
    updated: float
    previous_secret: str | None = None
    previous_until: float | None = None
    recorder_id: str | None = None


@dataclass
class Delivery:
    """One message of one event to one subscription. PENDING until DELIVERED or FAILED (given up)."""

    id: int
    event: Event
    subscription_id: str
    part: int  # the message's place among those its event became (a format may make several)
    message: str
    status: str
    attempts: int
    next_attempt: float
    created: float
    last_error: str | None = None
    last_status: int | None = None
    finished: float | None = None


@dataclass(frozen=True)
class Admit:
    """What a new recording is admitted against: live recordings of its instance and of its application."""

    instance: int | None  # None: no bound
    application: int | None


class AdmissionRefused(Exception):
    def __init__(self, full: str, live: int, most: int) -> None:
        super().__init__(f"{full} has {live} live recordings, the most it may have is {most}")
        self.full, self.live, self.most = full, live, most  # full: "instance" or "application"


class RecordingStore(ABC):
    """Recordings, their streams and their tracks. A recording read comes whole: streams (oldest first) with
    their tracks (oldest first) and the chat transcript's location."""

    @abstractmethod
    async def create_or_get_live(self, recording: Recording, limits: Admit | None = None) -> tuple[Recording, bool]:
        """Store `recording` unless its conversation (in its organization) has a live one: atomic, so two
        concurrent starts make one recording. Returns (the live recording, whether it is the one given). With
        `limits`, a new one is admitted in the same transaction, across every instance on the database
        (starts at once never overshoot): AdmissionRefused when its instance or its application is full."""

    @abstractmethod
    async def get(
        self, organization_id: str | None, conversation_id: str, recorder_id: str, instance_id: str
    ) -> Recording | None:
        """A recording by its three ids; `instance_id` may name any instance the recording ever had.
        `organization_id` None looks in every organization (a signed link names the recording). None when
        nothing matches."""

    @abstractmethod
    async def get_live(self, organization_id: str, conversation_id: str) -> Recording | None:
        """The conversation's INITIALISED, ACTIVE or PENDING_RECOVERY recording; None when it has none."""

    @abstractmethod
    async def for_conversation(self, organization_id: str, conversation_id: str) -> list[Recording]:
        """Every recording of a conversation, oldest first; empty when it has none."""

    @abstractmethod
    async def page(self, query: RecordingQuery) -> tuple[list[Recording], int]:
        """One page of an application's recordings that match `query`, by creation time; and how many match
        in all."""

    @abstractmethod
    async def by_id(self, recorder_id: str) -> Recording | None:
        """A recording by its id alone, for the service's own bookkeeping (not scoped by organization)."""

    @abstractmethod
    async def save(self, recording: Recording) -> bool:
        """Write the recording's own fields that change (state, times, error, stop reason, pauses, rules, limits;
        not its streams), only while `recording.instance_id` owns it (another instance that took it over is
        never overwritten); whether it was written."""

    @abstractmethod
    async def save_stream(self, stream: Stream) -> None:
        """Insert a stream, or update its state and end (the rest of a stream never changes)."""

    @abstractmethod
    async def save_track(self, recorder_id: str, track: Track) -> None:
        """Insert a track, or update every field that changes as it is written, finished and stored."""

    @abstractmethod
    async def set_track_object(
        self, track_id: str, location: str | None, size: int | None, uploaded: datetime | None, error: ErrorInfo | None
    ) -> None:
        """Record where a track's file is stored (or why it is not: `error`); all None clears both. Nothing
        happens for an unknown track."""

    @abstractmethod
    async def set_manifest(self, recorder_id: str, location: str | None, error: ErrorInfo | None = None) -> None:
        """Record where the recording's manifest is stored (whichever instance stored it), or why it is not
        (`error`; all None clears both). Nothing happens for an unknown recording."""

    @abstractmethod
    async def set_track_local_deleted(self, track_id: str, deleted: datetime) -> None:
        """Record that a track's local file was deleted (it is stored). Nothing happens for an unknown track."""


class UploadJobStore(ABC):
    """Durable upload jobs, each leased to one instance at a time (`owner` until `lease_until`, epoch s)."""

    @abstractmethod
    async def add(self, job: UploadJob, lease_until: float | None = None) -> UploadJob:
        """Store a new job durably, leased by `job.owner` until `lease_until`; returns it with its id."""

    @abstractmethod
    async def save(self, job: UploadJob) -> None:
        """Write the job's state, attempts, next attempt and error (the lease is left as it is)."""

    @abstractmethod
    async def claim(
        self,
        owner: str,
        now: datetime,
        limit: int,
        busy_keys: set[str],
        lease_until: float,
        full_applications: frozenset[str] = frozenset(),
    ) -> list[UploadJob]:
        """Lease to `owner` up to `limit` PENDING or UPLOADED jobs that are due and that nobody else holds,
        oldest first, none with a key in `busy_keys` nor of an application in `full_applications`: atomic, so
        two instances never claim the same job. Empty when none is free."""

    @abstractmethod
    async def release(self, owner: str, job_id: int | None = None) -> int:
        """Give up `owner`'s leases on its unfinished jobs (or on one), so that any instance may take them at
        once; how many were released."""

    @abstractmethod
    async def unfinished(self, owner: str) -> int:
        """How many PENDING or UPLOADED jobs `owner` holds."""

    @abstractmethod
    async def next_due(self) -> datetime | None:
        """When the earliest unfinished job (anyone's) is due; None when there is none."""

    @abstractmethod
    async def for_recording(self, recorder_id: str) -> list[UploadJob]:
        """Every job of a recording, in the order they were added; empty when it has none."""

    @abstractmethod
    async def failed(self, application_id: str | None, recorder_id: str | None) -> list[UploadJob]:
        """FAILED jobs of one recording, or of one application, or all (None, None), oldest first."""

    @abstractmethod
    async def counts(self) -> dict[str, int]:
        """How many jobs are PENDING, UPLOADED and FAILED (a state with none is left out)."""

    @abstractmethod
    async def superseded(self, job: UploadJob) -> bool:
        """Whether a newer job (not failed) goes to the same key of the same application: this one need not
        be sent."""


class CompositionJobStore(ABC):
    """Compositions: a queue (highest priority, then oldest), each running one leased to one instance."""

    @abstractmethod
    async def add(self, composition: Composition) -> None:
        """Store a new composition (QUEUED)."""

    @abstractmethod
    async def save(self, composition: Composition) -> None:
        """Write every field but the ids and the request; a CANCELLED composition is left as it is unless the
        write keeps it CANCELLED (its worker's late progress does not bring it back)."""

    @abstractmethod
    async def cancel(self, composition_id: str, now: datetime) -> bool:
        """Make a QUEUED or running composition CANCELLED (atomic); False when it was neither."""

    @abstractmethod
    async def requeue(self, composition_id: str) -> bool:
        """Make a FAILED or CANCELLED composition QUEUED again, its results cleared; False when it was neither."""

    @abstractmethod
    async def for_conversation(self, organization_id: str, conversation_id: str) -> list[Composition]:
        """A conversation's compositions, oldest first; deleted ones are left out; empty when none."""

    @abstractmethod
    async def by_id(self, composition_id: str) -> Composition | None:
        """A composition by its id alone, deleted ones included (not scoped by organization); None if unknown."""

    @abstractmethod
    async def claim(self, owner: str, now: float, lease_until: float) -> Composition | None:
        """The composition to run next (QUEUED, or running under a lease that ran out), made PREPROCESSING and
        leased to `owner`: atomic, so two instances never run the same one. None when nothing waits."""

    @abstractmethod
    async def counts(self) -> dict[str, int]:
        """How many compositions are QUEUED, PREPROCESSING and PROCESSING (a state with none is left out)."""

    @abstractmethod
    async def release(self, owner: str) -> int:
        """`owner`'s running compositions (their workers were stopped) go back to QUEUED; how many."""


class SidecarStore(ABC):
    """What a recording carries beside its media: chat entries and cobrowse events, and where their files are
    stored."""

    @abstractmethod
    async def add_chat_entries(self, recorder_id: str, entries: list[ChatEntry]) -> int:
        """Append entries in one transaction; one already there (same time, user, name and text: a retry) is
        not added again. Returns how many were new."""

    @abstractmethod
    async def chat_entries(self, recorder_id: str) -> list[ChatEntry]:
        """The recording's entries in time order (then arrival order); empty when none."""

    @abstractmethod
    async def save_chat_transcript(self, recorder_id: str, transcript: ChatTranscript) -> None:
        """Record where the recording's transcript file is stored (its id and creation time stay the first's)."""

    @abstractmethod
    async def add_cobrowse_event(self, recorder_id: str, instance_id: str, event: CobrowseEvent) -> bool:
        """Keep an event (and its session, at its first event) unless its (session, sequenceId) is there
        already; False for such a duplicate."""

    @abstractmethod
    async def cobrowse_events(self, recorder_id: str, session_id: str) -> list[CobrowseEvent]:
        """A session's events ordered by sequenceId; empty for an unknown session."""

    @abstractmethod
    async def cobrowse_sessions(self, recorder_ids: list[str]) -> list[CobrowseSession]:
        """The cobrowse sessions of these recordings, in order of their first event; empty when none."""

    @abstractmethod
    async def save_cobrowse_session(self, session: CobrowseSession) -> None:
        """Record where a session's file is stored and when. Nothing happens for an unknown session."""


class StorageProfileStore(ABC):
    """Storage profiles set through the admin API (the configuration's are not kept here)."""

    @abstractmethod
    async def all(self) -> list[StoredProfile]:
        """Every profile, by application id."""

    @abstractmethod
    async def save(self, profile: StoredProfile) -> None:
        """Insert or replace an application's profile."""

    @abstractmethod
    async def delete(self, application_id: str) -> bool:
        """Delete an application's profile; False when it had none."""

    @abstractmethod
    async def save_own(self, recorder_id: str, profile: StoredProfile, public: str) -> None:
        """A recording's own destination (keyed by `recorder_id`; the profile's `application_id` is not read),
        with a description of it that holds no secret (`public`, JSON)."""

    @abstractmethod
    async def own(self, recorder_id: str) -> tuple[StoredProfile, str] | None:
        """A recording's own destination (its `application_id`: the recorder id) and its public description;
        None when the recording uses its application's."""


class SessionStore(ABC):
    """Coaching sessions an application's backend registers; a session's recording is claimed once."""

    @abstractmethod
    async def get(self, application_id: str, session_id: str) -> CoachingSession | None:
        """The session with its recording's id (None: not registered)."""

    @abstractmethod
    async def save(self, session: CoachingSession) -> None:
        """Insert or replace a session as the backend tells it (its recording's id is not changed here)."""

    @abstractmethod
    async def claim_recording(self, application_id: str, session_id: str, recorder_id: str) -> bool:
        """Set the session's recording if it has none: False when it has one (another start won)."""

    @abstractmethod
    async def replace_recording(
        self, application_id: str, session_id: str, claimed: str, recorder_id: str | None
    ) -> None:
        """Replace a claim by the recording that started (None: it did not start, the claim is taken back)."""


class ClusterStore(ABC):
    """Instances on one database: heartbeats, leases, and the recordings and tracks a dead instance left."""

    @abstractmethod
    async def heartbeat(self, instance: InstanceInfo, now: datetime, lease_until: float) -> set[str]:
        """In one transaction: say the instance is alive and renew the leases it still holds on recordings,
        upload jobs and compositions (one that ran out is lost, not renewed). The ids of the live recordings
        whose lease it holds."""

    @abstractmethod
    async def watched(self, instance_id: str, now: float) -> list[str]:
        """The other instances with a live lease that hold a liveness lock (their peers watch the lock)."""

    @abstractmethod
    async def capacity(self, now: float, instance_id: str) -> Capacity:
        """The running instances (a live lease, not draining): their capacity and the live recordings, and
        those of `instance_id`."""

    @abstractmethod
    async def fence(self, instance_id: str) -> int:
        """An instance is gone (its liveness lock was let go): its leases end now, on its instance row, its
        live recordings, upload jobs and compositions, for the others to take over; how many recordings."""

    @abstractmethod
    async def instances(self) -> list[InstanceInfo]:
        """Every instance ever registered, oldest first."""

    @abstractmethod
    async def expire_recordings(self, now: float) -> list[str]:
        """INITIALISED and ACTIVE recordings whose lease ran out become PENDING_RECOVERY; their ids."""

    @abstractmethod
    async def claim_recovery(
        self, instance_id: str, now: float, lease_until: float, recorder_id: str | None = None
    ) -> Recording | None:
        """Take the oldest PENDING_RECOVERY recording nobody holds (or that one): `instance_id` becomes its
        instance (atomic: one instance wins). None when there is none to take."""

    @abstractmethod
    async def release_recordings(self, instance_id: str, recorder_id: str | None = None) -> int:
        """Hand `instance_id`'s live recordings (or that one) over: PENDING_RECOVERY with no lease, for any
        instance to claim at once; how many."""

    @abstractmethod
    async def leftover_tracks(self, now: float, alive_but: str | None) -> list[tuple[str, Track]]:
        """(recorder id, track) of tracks never finished whose writer is not alive; `alive_but` counts as not
        alive (an instance at its start: what its earlier run left). Oldest first."""

    @abstractmethod
    async def finish_leftover(self, recorder_id: str, track: Track) -> bool:
        """Write a leftover track's end, unless another instance did it first (then False)."""


@dataclass(frozen=True)
class Capacity:
    """Recordings the running instances may run, and how many are live (on any instance, or none yet)."""

    instances: int
    total: int
    live: int
    here: int  # live recordings of the instance that asked
    own: int = 0  # that instance's capacity

    @property
    def free(self) -> int:
        return max(self.total - self.live, 0)

    @property
    def free_here(self) -> int:
        return max(self.own - self.here, 0)


@dataclass(frozen=True)
class SegmentRecord:
    """One segment object of a live track in storage: the bytes [offset, offset + size) of its file, holding its
    media up to `media_end` seconds from the file's time 0."""

    recorder_id: str
    track_id: str
    epoch: int  # the recording's owner's epoch when it was written (also in its key)
    seq: int
    key: str
    offset: int
    size: int
    sha256: str
    media_end: float


class SegmentJournal(ABC):
    """What of each live track is durable in storage: a row per segment object, written only once the storage
    has the object, and only by the recording's current owner."""

    @abstractmethod
    async def record(self, segment: SegmentRecord) -> bool:
        """Journal a stored segment; False when the writer is stale (the recording's epoch moved on, or the
        track was ended by another instance): it must stop writing."""

    @abstractmethod
    async def segments(self, track_id: str) -> list[SegmentRecord]:
        """A track's segments in order."""

    @abstractmethod
    async def durable(self, recorder_id: str) -> dict[str, float]:
        """Each of a recording's tracks with segments: the media end (seconds) of its last one."""

    @abstractmethod
    async def forget(self, track_id: str) -> None:
        """Drop a track's rows (its segment objects are deleted, or its final file is verified)."""


class WebhookStore(ABC):
    """Webhook subscriptions, the outbox's events and their deliveries. Events are written by the other stores,
    in the transaction of the change that causes them (`recorder.persistence.sql.outbox`), with a delivery for
    each message to each subscription that wants them."""

    @abstractmethod
    async def subscriptions(self, application_id: str | None = None) -> list[StoredSubscription]:
        """Every subscription (of one application), oldest first."""

    @abstractmethod
    async def subscription(self, subscription_id: str) -> StoredSubscription | None:
        """One subscription; None when unknown."""

    @abstractmethod
    async def save_subscription(self, subscription: StoredSubscription) -> None:
        """Insert or replace a subscription."""

    @abstractmethod
    async def delete_subscription(self, subscription_id: str) -> bool:
        """Delete a subscription and its deliveries; False when unknown."""

    @abstractmethod
    async def claim(self, owner: str, now: float, limit: int, lease_until: float) -> list[Delivery]:
        """Lease to `owner` up to `limit` PENDING deliveries that are due, nobody else holds, and come first in
        their order (no earlier message of the same subject to the same subscription is PENDING): atomic, so two
        instances never send the same one at once. Oldest due first; empty when none."""

    @abstractmethod
    async def finish(self, delivery: Delivery, owner: str | None = None, lease_until: float = 0) -> Delivery | None:
        """Write a delivery's outcome (status, attempts, next attempt, last error and status) and free its lease.
        With an `owner`, in the same transaction: the next message of the same subject to the same subscription,
        if it is due and free, leased to `owner` (a subject's messages follow each other without waiting for
        the next look); None when there is none."""

    @abstractmethod
    async def release(self, owner: str) -> int:
        """Give up `owner`'s leases at once; how many."""

    @abstractmethod
    async def next_due(self) -> float | None:
        """When the earliest PENDING delivery is due (epoch s); None when there is none."""

    @abstractmethod
    async def deliveries(
        self, subscription_id: str, status: str | None, limit: int, before: int | None = None
    ) -> list[Delivery]:
        """A subscription's deliveries, newest first (ids below `before`), of one status or all."""

    @abstractmethod
    async def redeliver(self, subscription_id: str, delivery_id: int, now: float) -> Delivery | None:
        """Make a delivery PENDING again, due now, its attempts from zero; None when unknown."""

    @abstractmethod
    async def replay(
        self, subscription_id: str, recorder_id: str | None, since: float | None, until: float | None, now: float
    ) -> int:
        """New deliveries to a subscription of every event it wants (of one recording, or occurred in a time
        range), in their order; how many."""

    @abstractmethod
    async def counts(self) -> tuple[int, int, float | None]:
        """(PENDING deliveries, FAILED deliveries, when the oldest PENDING one was made)."""


@dataclass(frozen=True)
class Cutoffs:
    """What an application keeps: events, finished deliveries and finished upload jobs younger than these
    (Unix times), and a recording's own storage destination until this long after it ended (its uploads done)."""

    events: float
    deliveries: float
    upload_jobs: float


class RetentionStore(ABC):
    """Pruning what outlived its application's retention. Any instance may prune at any time: each statement
    deletes only rows that are done with, so two instances pruning together delete each row once."""

    @abstractmethod
    async def prune(self, application_id: str, cutoffs: Cutoffs) -> dict[str, int]:
        """Delete the application's finished deliveries older than `cutoffs.deliveries`; its events older than
        `cutoffs.events` that no delivery still names; the per-recording webhook subscriptions and own storage
        destinations (with their sealed secrets) of recordings that ended before `cutoffs.upload_jobs` and have
        no unfinished delivery or upload; its DONE and SUPERSEDED upload jobs older than `cutoffs.upload_jobs`.
        How many rows of each were deleted."""


# ---------------------------------------------------------------- evidence


@dataclass(frozen=True)
class StoredRecord:
    """One object as it was stored: its key, size and SHA-256 (of the bytes sent), and the digest that chained
    it (`digest_seq`); `deleted` once a deletion removed it (its receipt says so)."""

    organization_id: str
    application_id: str
    conversation_id: str
    recorder_id: str | None
    composition_id: str | None
    kind: str  # the upload kind (TRACK, MANIFEST, CHAT, COBROWSE, SEAL, COMPOSITION, RECEIPT)
    subject: str
    key: str
    size: int
    sha256: str
    version: str | None
    own_storage: bool  # in the recording's own destination, not the application's storage
    stored: datetime
    id: int | None = None
    digest_seq: int | None = None
    deleted: datetime | None = None
    receipt_id: str | None = None


@dataclass(frozen=True)
class DigestRecord:
    application_id: str
    seq: int
    key: str
    sha256: str  # of the digest object's bytes
    kid: str
    signature: str
    objects: int
    created: datetime


@dataclass(frozen=True)
class AccessEntry:
    """One row of the access log: who did what to which object, when. `prev` and `hash` chain the rows of an
    organization (set by the store); `seq` is the row's place."""

    organization_id: str
    application_id: str | None
    at: datetime
    action: str
    caller: str
    caller_type: str
    roles: tuple[str, ...]
    user_id: str | None = None
    conversation_id: str | None = None
    recorder_id: str | None = None
    object: str | None = None
    detail: str | None = None
    seq: int = 0
    prev: str = ""
    hash: str = ""

    def content(self) -> bytes:
        """What a row's hash covers (everything but its place and its chain)."""
        fields = {
            "organizationId": self.organization_id,
            "applicationId": self.application_id,
            "at": self.at.isoformat(),
            "action": self.action,
            "caller": self.caller,
            "callerType": self.caller_type,
            "roles": list(self.roles),
            "userId": self.user_id,
            "conversationId": self.conversation_id,
            "recorderId": self.recorder_id,
            "object": self.object,
            "detail": self.detail,
        }
        return json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()

    def chained(self, prev: str) -> AccessEntry:
        """This row after `prev` (the previous row's hash; "" for the first): hash = SHA-256(prev, content)."""
        digest = hashlib.sha256(prev.encode() + b"\n" + self.content()).hexdigest()
        return replace(self, prev=prev, hash=digest)


@dataclass(frozen=True)
class AccessQuery:
    organization_id: str
    conversation_id: str | None = None
    caller: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    after_seq: int = 0
    limit: int = 100


@dataclass(frozen=True)
class Hold:
    organization_id: str
    conversation_id: str
    application_id: str | None
    reason: str
    placed_by: str
    placed: datetime


class EvidenceStore(ABC):
    """What the recorder can prove: the stored objects' hashes, the signing keys' public halves, seals, digests,
    the access log, legal holds, deletion receipts, and the chores one instance runs at a time."""

    @abstractmethod
    async def publish_key(self, kid: str, public_pem: str) -> None:
        """Keep a signing key's public half (once; kept when the key is rotated)."""

    @abstractmethod
    async def keys(self) -> list[tuple[str, str, datetime]]:
        """(kid, public PEM, first seen) of every key that signed, oldest first."""

    @abstractmethod
    async def record_object(self, record: StoredRecord) -> bool:
        """Keep an object's hash (an object stored again with the same bytes is kept once); whether it is new."""

    @abstractmethod
    async def objects(
        self, organization_id: str, conversation_id: str | None = None, recorder_id: str | None = None
    ) -> list[StoredRecord]:
        """The objects of a conversation (or of one recording of it), deleted ones too, oldest first."""

    @abstractmethod
    async def undigested(self, application_id: str, limit: int) -> list[StoredRecord]:
        """The application's objects no digest names yet, oldest first."""

    @abstractmethod
    async def digest_head(self, application_id: str) -> DigestRecord | None:
        """The application's last digest."""

    @abstractmethod
    async def add_digest(self, digest: DigestRecord, object_ids: list[int]) -> bool:
        """Keep a digest and mark the objects it names; False (nothing changed) when that seq exists."""

    @abstractmethod
    async def applications_to_digest(self) -> list[str]:
        """The applications with objects no digest names yet."""

    @abstractmethod
    async def to_seal(self, ended_before: datetime, limit: int) -> list[str]:
        """Recordings ended before `ended_before` (and within 30 days of it), with no seal, their manifest stored
        or failed (or no media), and no upload of theirs unfinished."""

    @abstractmethod
    async def add_seal(self, recorder_id: str, key: str, kid: str, signature: str) -> bool:
        """Keep a recording's seal; False when it has one."""

    @abstractmethod
    async def seal(self, recorder_id: str) -> tuple[str, str, str] | None:
        """(key, kid, signature) of a recording's seal."""

    @abstractmethod
    async def append(self, entries: list[AccessEntry]) -> None:
        """Append rows to the access log in order, each chained to the organization's previous row (serialized
        per organization across instances: one chain however many instances write)."""

    @abstractmethod
    async def access(self, query: AccessQuery) -> list[AccessEntry]:
        """Rows of an organization matching the query, in order, after `after_seq`, at most `limit`."""

    @abstractmethod
    async def access_chain(self, organization_id: str, after_seq: int, limit: int) -> list[AccessEntry]:
        """Every row of an organization after `after_seq`, in order (to check the chain)."""

    @abstractmethod
    async def access_head(self, organization_id: str) -> tuple[int, str] | None:
        """(seq, hash) of the organization's last row."""

    @abstractmethod
    async def place_hold(self, hold: Hold) -> Hold:
        """Place a hold (a conversation already held keeps its first hold); the hold in force."""

    @abstractmethod
    async def release_hold(self, organization_id: str, conversation_id: str) -> Hold | None:
        """Remove a conversation's hold; the hold it had."""

    @abstractmethod
    async def holds(self, organization_id: str, conversation_id: str | None = None) -> list[Hold]:
        """An organization's holds (or one conversation's), oldest first."""

    @abstractmethod
    async def expired(self, application_id: str, ended_before: datetime, limit: int) -> list[tuple[str, str, str]]:
        """(organization, conversation, recorder id) of the application's recordings that ended before
        `ended_before`, whose conversation is not held, oldest first."""

    @abstractmethod
    async def forget(
        self, organization_id: str, conversation_id: str, recorder_ids: list[str], receipt: tuple[str, str, str]
    ) -> None:
        """After a deletion: the recordings' rows gone (tracks, streams, chat, cobrowse, uploads, segments, their
        own destinations and per-recording subscriptions), their objects (and, when no recording of the
        conversation is left, its compositions') marked deleted with the receipt, and the receipt
        (id, application, document) kept, in one transaction."""

    @abstractmethod
    async def receipt(self, organization_id: str, receipt_id: str) -> str | None:
        """A deletion receipt's document."""

    @abstractmethod
    async def claim_chore(self, name: str, holder: str, lease_until: float, now: float) -> bool:
        """Whether `holder` runs the chore `name` until `lease_until` (it held it, or its holder's lease ran out)."""
