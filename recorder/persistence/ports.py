"""The repository port: where recordings, streams and tracks are kept.

`SqlRepository` implements it on SQLite (the embedded default) and on PostgreSQL (several instances).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType

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


class Repository(ABC):
    """Conversations belong to organizations: every lookup is scoped by `organization_id`, so that two
    organizations may use the same conversation id and never see each other's recordings."""

    @abstractmethod
    async def create_or_get_live(self, recording: Recording) -> tuple[Recording, bool]:
        """Store `recording` unless its conversation has a live one; return (the live one, created)."""

    @abstractmethod
    async def get(
        self, organization_id: str | None, conversation_id: str, recorder_id: str, instance_id: str
    ) -> Recording | None:
        """A recording by its three ids; `instance_id` may name any instance the recording ever had.
        `organization_id` None looks in every organization (a signed link names the recording)."""

    @abstractmethod
    async def get_live(self, organization_id: str, conversation_id: str) -> Recording | None:
        """The conversation's INITIALISED, ACTIVE or PENDING_RECOVERY recording, if any."""

    @abstractmethod
    async def list_for_conversation(self, organization_id: str, conversation_id: str) -> list[Recording]:
        """Every recording of a conversation, oldest first."""

    @abstractmethod
    async def save_recording(self, recording: Recording) -> bool:
        """Write the recording's own fields (not its streams), only while `recording.instance_id` owns it
        (another instance that took it over is never overwritten); whether it was written."""

    @abstractmethod
    async def save_stream(self, stream: Stream) -> None:
        """Insert or update a stream's own fields (not its tracks)."""

    @abstractmethod
    async def save_track(self, recorder_id: str, track: Track) -> None:
        """Insert or update a track."""

    @abstractmethod
    async def add_chat_entries(self, recorder_id: str, entries: list[ChatEntry]) -> int:
        """Append entries; one already there (same time, user, name and text: a retry) is not added again.
        Returns how many were new."""

    @abstractmethod
    async def chat_entries(self, recorder_id: str) -> list[ChatEntry]:
        """The recording's entries in time order (then arrival order)."""

    @abstractmethod
    async def save_chat_transcript(self, recorder_id: str, transcript: ChatTranscript) -> None: ...

    @abstractmethod
    async def add_cobrowse_event(self, recorder_id: str, instance_id: str, event: CobrowseEvent) -> bool:
        """Keep an event unless its (session, sequenceId) is there already; False for such a duplicate."""

    @abstractmethod
    async def cobrowse_events(self, recorder_id: str, session_id: str) -> list[CobrowseEvent]:
        """A session's events ordered by sequenceId."""

    @abstractmethod
    async def cobrowse_sessions(self, recorder_ids: list[str]) -> list[CobrowseSession]:
        """The cobrowse sessions of these recordings, in order of their first event."""

    @abstractmethod
    async def save_cobrowse_session(self, session: CobrowseSession) -> None:
        """Record where a session's file is stored."""

    @abstractmethod
    async def set_track_object(
        self,
        track_id: str,
        location: str | None,
        size: int | None,
        uploaded: datetime | None,
        error: ErrorInfo | None,
    ) -> None:
        """Record where a track's file is stored (or why it is not)."""

    @abstractmethod
    async def set_track_local_deleted(self, track_id: str, deleted: datetime) -> None: ...

    @abstractmethod
    async def recording_by_id(self, recorder_id: str) -> Recording | None:
        """For the service's own bookkeeping (uploads): not scoped by organization."""

    @abstractmethod
    async def add_upload(self, job: UploadJob, lease_until: float | None = None) -> UploadJob:
        """Store a new upload job durably (leased by `job.owner` until `lease_until`); it gets its id."""

    @abstractmethod
    async def save_upload(self, job: UploadJob) -> None: ...

    @abstractmethod
    async def claim_uploads(
        self, owner: str, now: datetime, limit: int, busy_keys: set[str], lease_until: float
    ) -> list[UploadJob]:
        """Lease to `owner` PENDING and UPLOADED jobs whose time has come and that nobody else holds, oldest
        first, none with a key in `busy_keys`."""

    @abstractmethod
    async def release_uploads(self, owner: str, job_id: int | None = None) -> int:
        """Give up the leases of `owner`'s unfinished jobs, or of one (another instance may take them at once)."""

    @abstractmethod
    async def unfinished_uploads(self, owner: str) -> int: ...

    @abstractmethod
    async def next_upload_due(self) -> datetime | None:
        """When the earliest unfinished job is due."""

    @abstractmethod
    async def uploads(self, recorder_id: str) -> list[UploadJob]: ...

    @abstractmethod
    async def failed_uploads(self, application_id: str | None, recorder_id: str | None) -> list[UploadJob]:
        """FAILED jobs of one recording, or of one application, or all (None, None)."""

    @abstractmethod
    async def upload_superseded(self, job: UploadJob) -> bool:
        """Whether a newer, unfinished job goes to the same key of the same application."""

    @abstractmethod
    async def storage_profiles(self) -> list[StoredProfile]: ...

    @abstractmethod
    async def save_storage_profile(self, profile: StoredProfile) -> None: ...

    @abstractmethod
    async def delete_storage_profile(self, application_id: str) -> bool: ...

    @abstractmethod
    async def add_composition(self, composition: Composition) -> None: ...

    @abstractmethod
    async def save_composition(self, composition: Composition) -> None:
        """Write every field but the ids and the request; a CANCELLED composition is left as it is unless
        the write keeps it CANCELLED (its worker's late progress does not bring it back)."""

    @abstractmethod
    async def cancel_composition(self, composition_id: str, now: datetime) -> bool:
        """A QUEUED or running composition made CANCELLED; False when it was neither."""

    @abstractmethod
    async def requeue_composition(self, composition_id: str) -> bool:
        """A FAILED or CANCELLED composition made QUEUED again, its results cleared; False when it was neither."""

    @abstractmethod
    async def compositions(self, organization_id: str, conversation_id: str) -> list[Composition]:
        """A conversation's compositions, oldest first; deleted ones are left out."""

    @abstractmethod
    async def composition_by_id(self, composition_id: str) -> Composition | None:
        """For the service's own bookkeeping: not scoped by organization, deleted ones included."""

    @abstractmethod
    async def claim_composition(self, owner: str, now: float, lease_until: float) -> Composition | None:
        """The composition to run next (QUEUED, or running under a lease that ran out; highest priority, then
        oldest), made PREPROCESSING and leased to `owner`."""

    @abstractmethod
    async def release_compositions(self, owner: str) -> int:
        """`owner`'s running compositions (their workers were stopped) go back to QUEUED."""

    @abstractmethod
    async def heartbeat(self, instance: InstanceInfo, now: datetime, lease_until: float) -> set[str]:
        """Say the instance is alive and renew the leases it still holds (one that ran out is lost); the ids
        of the live recordings it owns."""

    @abstractmethod
    async def instances(self) -> list[InstanceInfo]: ...

    @abstractmethod
    async def expire_recordings(self, now: float) -> list[str]:
        """INITIALISED and ACTIVE recordings whose lease ran out become PENDING_RECOVERY; their ids."""

    @abstractmethod
    async def claim_recovery(
        self, instance_id: str, now: float, lease_until: float, recorder_id: str | None = None
    ) -> Recording | None:
        """Take the oldest PENDING_RECOVERY recording nobody holds (or that one): `instance_id` becomes its
        instance."""

    @abstractmethod
    async def release_recordings(self, instance_id: str, recorder_id: str | None = None) -> int:
        """Hand `instance_id`'s live recordings (or that one) over: PENDING_RECOVERY with no lease, for any
        instance to claim at once."""

    @abstractmethod
    async def leftover_tracks(self, now: float, alive_but: str | None) -> list[tuple[str, Track]]:
        """(recorder id, track) of tracks never finished whose writer is not alive; `alive_but` counts as not
        alive (an instance at its start: what its earlier run left)."""

    @abstractmethod
    async def finish_leftover(self, recorder_id: str, track: Track) -> bool:
        """Write a leftover track's end, unless another instance did it first."""

    @abstractmethod
    async def aclose(self) -> None: ...

    async def __aenter__(self) -> Repository:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()
