"""The read side of the recording service: a recording this instance runs is answered from its session's
own record (always current), with no query; any other read takes one query."""

from __future__ import annotations

from recorder.errors import NotFoundError
from recorder.models import LIVE_STATES, Recording
from recorder.operations.metrics import Live, MediaCounts
from recorder.persistence.ports import RecordingQuery, RecordingStore
from recorder.recordings.commands import Ids
from recorder.recordings.session import RecordingSession


class RecordingReads:
    """Reads of recordings; the service it is the base of keeps `_sessions` (the sessions it runs)."""

    def __init__(self, recordings: RecordingStore) -> None:
        self._repo = recordings
        self._sessions: dict[str, RecordingSession] = {}

    def live_metrics(self) -> Live:
        """The recordings this instance runs by state (PAUSED counted apart), and what their tracks count."""
        live = Live()
        for session in self._sessions.values():
            recording = session.recording
            if recording.state not in LIVE_STATES:
                continue
            state = "PAUSED" if recording.paused else recording.state.value
            live.recordings[state] = live.recordings.get(state, 0) + 1
            writing, counts = session.media_now()
            live.tracks += writing
            for kind, count in counts.items():
                live.media.setdefault(kind, MediaCounts()).add(count)
            live.durability_lag = max(live.durability_lag, session.durability_lag())
        return live

    def _live_here(self, organization_id: str | None, ids: Ids) -> Recording | None:
        """The recording as this instance runs it (no query), when it is one of its live sessions."""
        conversation_id, recorder_id, instance_id = ids
        session = self._sessions.get(recorder_id)
        if session is None:
            return None
        recording = session.recording
        if (
            recording.state not in LIVE_STATES  # ended: what came after its end is in the database only
            or recording.instance_id != instance_id  # an earlier instance's name: the database knows them all
            or recording.conversation_id != conversation_id
            or organization_id not in (None, recording.organization_id)
        ):
            return None
        return recording

    async def get(
        self, organization_id: str | None, conversation_id: str, recorder_id: str, instance_id: str
    ) -> Recording:
        """A recording of the caller's organization (None: any, for signed links only)."""
        ids = (conversation_id, recorder_id, instance_id)
        recording = self._live_here(organization_id, ids) or await self._repo.get(organization_id, *ids)
        if recording is None:
            raise NotFoundError(f"no recording {conversation_id}/{recorder_id}/{instance_id}")
        return recording

    async def by_id(self, recorder_id: str) -> Recording | None:
        """A recording by its id alone (a facade names recordings so; the caller checks it is theirs)."""
        session = self._sessions.get(recorder_id)
        if session is not None and session.recording.state in LIVE_STATES:
            return session.recording
        return await self._repo.by_id(recorder_id)

    async def page(self, query: RecordingQuery) -> tuple[list[Recording], int]:
        """One page of an application's recordings, and how many match in all."""
        return await self._repo.page(query)

    async def live(
        self, organization_id: str, conversation_id: str, application_id: str | None = None
    ) -> Recording | None:
        """The conversation's live recording (of `application_id` when given: a facade's key acts within its
        application); None when it has none."""
        recording = await self._repo.get_live(organization_id, conversation_id)
        if recording is not None and application_id is not None and recording.application_id != application_id:
            return None
        return recording

    async def get_live(self, organization_id: str, conversation_id: str) -> Recording:
        recording = await self.live(organization_id, conversation_id)
        if recording is None:
            raise NotFoundError(f"conversation {conversation_id} has no active recording")
        return recording

    async def recordings(
        self, organization_id: str, conversation_id: str, application_id: str | None = None
    ) -> list[Recording]:
        """Every recording of a conversation (of `application_id` when given), oldest first (NotFoundError when
        it has none)."""
        recordings = await self._repo.for_conversation(organization_id, conversation_id)
        if application_id is not None:
            recordings = [r for r in recordings if r.application_id == application_id]
        if not recordings:
            raise NotFoundError(f"conversation {conversation_id} has no recordings")
        return recordings

    def _forget_finished(self) -> None:
        """Drop sessions that ended by themselves (FAILED, ABORTED)."""
        for recorder_id, session in list(self._sessions.items()):
            if session.recording.state not in LIVE_STATES:
                self._sessions.pop(recorder_id, None)
