"""Cobrowse sessions: events kept in the database while the recording runs, each session written as one JSON
file and stored when the recording ends, and again when more events arrive after it ended.

The key comes from the profile's key template with streamId `cobrowse` and trackId the session id (by
default `<org>/<conversation>/<recorder>/cobrowse/<sessionId>.json`).
"""

from __future__ import annotations

from recorder.clock import now
from recorder.errors import NotFoundError
from recorder.models import CobrowseEvent, CobrowseSession, Recording, UploadJob, UploadKind, UploadState
from recorder.naming import KeyParts
from recorder.sidecars.documents import Sidecar
from storage_providers.base import StoredObject


def _parts(session_id: str) -> KeyParts:
    return KeyParts("cobrowse", "COBROWSE", "cobrowse", session_id, "COBROWSE", "json")


class CobrowseSessions(Sidecar):
    kind = UploadKind.COBROWSE

    async def add(self, recording: Recording, event: CobrowseEvent) -> bool:
        """Keep an event (False: a duplicate of one kept). After the end, its session is stored again at once."""
        async with self._lock:
            added = await self._store.add_cobrowse_event(recording.recorder_id, recording.instance_id, event)
            if added and not await self._is_live(recording):
                await self._write(recording, event.session_id)
            return added

    async def of(self, recordings: list[Recording]) -> list[CobrowseSession]:
        """The sessions of these recordings, in order of their first event."""
        return await self._store.cobrowse_sessions([r.recorder_id for r in recordings])

    async def session(self, recording: Recording, session_id: str) -> CobrowseSession:
        session = next((s for s in await self.of([recording]) if s.session_id == session_id), None)
        if session is None:
            raise NotFoundError(f"recording {recording.recorder_id} has no cobrowse session {session_id!r}")
        return session

    async def store(self, recording: Recording) -> None:
        """At the end of a recording: store every session."""
        async with self._lock:
            for session in await self.of([recording]):
                await self._write(recording, session.session_id)

    async def _write(self, recording: Recording, session_id: str) -> None:
        events = await self._store.cobrowse_events(recording.recorder_id, session_id)
        document = {
            "conversationId": recording.conversation_id,
            "recorderId": recording.recorder_id,
            "sessionId": session_id,
            "events": [{"sequenceId": e.sequence_id, "timestamp": e.timestamp, "payload": e.payload} for e in events],
        }
        await self._documents.store(recording, UploadKind.COBROWSE, session_id, _parts(session_id), document)

    async def _uploaded(self, job: UploadJob, stored: StoredObject | None) -> None:
        """A session's file is stored: say where (the instance stays the one of its first event)."""
        if job.state is UploadState.UPLOADED and stored is not None:
            await self._store.save_cobrowse_session(
                CobrowseSession(job.recorder_id, job.subject, "", stored.location, now())
            )
