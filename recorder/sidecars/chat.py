"""Chat transcripts and cobrowse sessions: kept in the repository while the recording runs, written as JSON
files and uploaded to the application's storage when it ends, and again when more arrives after it ended.

Keys come from the profile's key template, with streamId `chat` and trackId `transcript` for the transcript,
and streamId `cobrowse` and trackId the session id for a cobrowse session (by default
`<org>/<conversation>/<recorder>/chat/transcript.json` and `.../cobrowse/<sessionId>.json`).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import tempfile
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from recorder.models import (
    LIVE_STATES,
    ChatEntry,
    ChatTranscript,
    CobrowseEvent,
    CobrowseSession,
    Recording,
    UploadJob,
    UploadKind,
    iso,
)
from recorder.naming import KeyParts, object_key, safe_name
from recorder.repository import Repository
from recorder.uploads import Uploader
from storage_providers.base import StoredObject

logger = logging.getLogger(__name__)


CHAT = KeyParts("chat", "CHAT", "chat", "transcript", "CHAT", "json")


def _cobrowse(session_id: str) -> KeyParts:
    return KeyParts("cobrowse", "COBROWSE", "cobrowse", session_id, "COBROWSE", "json")


class Artifacts:
    def __init__(
        self, repository: Repository, key_template: Callable[[str], str], uploader: Uploader, spool: Path
    ) -> None:
        self._repo = repository
        self._key_template = key_template
        self._uploader = uploader
        self._spool = spool
        # adding after the end and storing at the end never interleave (small JSON files: one lock will do)
        self._lock = asyncio.Lock()

    async def _is_live(self, recording: Recording) -> bool:
        current = await self._repo.get(
            recording.organization_id, recording.conversation_id, recording.recorder_id, recording.instance_id
        )
        return current is not None and current.state in LIVE_STATES

    async def add_chat(self, recording: Recording, entries: list[ChatEntry]) -> int:
        async with self._lock:
            added = await self._repo.add_chat_entries(recording.recorder_id, entries)
            if added and not await self._is_live(recording):
                await self._store_chat(recording)
            return added

    async def add_cobrowse(self, recording: Recording, event: CobrowseEvent) -> bool:
        async with self._lock:
            added = await self._repo.add_cobrowse_event(recording.recorder_id, recording.instance_id, event)
            if added and not await self._is_live(recording):
                await self._store_cobrowse(recording, event.session_id)
            return added

    async def store_all(self, recording: Recording) -> None:
        """At the end of a recording: store its transcript and every cobrowse session."""
        async with self._lock:
            await self._store_chat(recording)
            for session in await self._repo.cobrowse_sessions([recording.recorder_id]):
                await self._store_cobrowse(recording, session.session_id)

    async def _store_chat(self, recording: Recording) -> None:
        entries = await self._repo.chat_entries(recording.recorder_id)
        if not entries:
            return
        document = {
            "conversationId": recording.conversation_id,
            "recorderId": recording.recorder_id,
            "chatTranscriptList": [
                {
                    "timeStamp": iso(e.time_stamp),
                    "userId": e.user_id,
                    "userDisplayName": e.user_display_name,
                    "transcript": e.transcript,
                }
                for e in entries
            ],
        }
        await self._upload(recording, UploadKind.CHAT, recording.recorder_id, CHAT, document)

    async def _store_cobrowse(self, recording: Recording, session_id: str) -> None:
        events = await self._repo.cobrowse_events(recording.recorder_id, session_id)
        document = {
            "conversationId": recording.conversation_id,
            "recorderId": recording.recorder_id,
            "sessionId": session_id,
            "events": [{"sequenceId": e.sequence_id, "timestamp": e.timestamp, "payload": e.payload} for e in events],
        }
        await self._upload(recording, UploadKind.COBROWSE, session_id, _cobrowse(session_id), document)

    async def _upload(
        self, recording: Recording, kind: UploadKind, subject: str, parts: KeyParts, document: object
    ) -> None:
        """Write the document to the spool and hand it to the uploader (which deletes it once stored)."""
        key = object_key(self._key_template(recording.application_id), recording, parts)
        self._spool.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=self._spool, prefix=f"{safe_name(recording.recorder_id)}-", suffix=".json")
        with os.fdopen(fd, "w", encoding="utf-8") as file:
            json.dump(document, file, ensure_ascii=False, indent=1)
        await self._uploader.enqueue(recording.application_id, recording.recorder_id, kind, subject, Path(name), key)

    async def uploaded(self, job: UploadJob, stored: StoredObject) -> None:
        """A transcript or cobrowse file is stored: say where."""
        if job.kind is UploadKind.CHAT:
            recording = await self._repo.recording_by_id(job.recorder_id)
            previous = recording.chat_transcript if recording else None
            transcript = ChatTranscript(
                id=previous.id if previous else str(uuid.uuid4()),
                created=previous.created if previous else datetime.now(UTC),
                location=stored.location,
            )
            await self._repo.save_chat_transcript(job.recorder_id, transcript)
        elif job.kind is UploadKind.COBROWSE:
            # only the location and time are written; the instance stays the one of the first event
            session = CobrowseSession(job.recorder_id, job.subject, "", stored.location, datetime.now(UTC))
            await self._repo.save_cobrowse_session(session)
