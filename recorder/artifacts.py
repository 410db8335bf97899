"""Chat transcripts and cobrowse sessions: kept in the repository while the recording runs, stored as JSON
files in the application's storage when it ends, and stored again when more arrives after it ended.

Keys: `<conversationId>/<recorderId>/chat-transcript.json` and
`<conversationId>/<recorderId>/cobrowse/<sessionId>.json`.
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
    iso,
)
from recorder.naming import safe_name
from recorder.repository import Repository
from storage_providers.base import StorageError, StorageProvider, StoredObject

logger = logging.getLogger(__name__)


def cobrowse_file_name(session_id: str) -> str:
    return f"{safe_name(session_id)}.json"


class Artifacts:
    def __init__(self, repository: Repository, storage: Callable[[str], StorageProvider], spool: Path) -> None:
        self._repo = repository
        self._storage = storage
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
        stored = await self._store_json(recording, "chat-transcript.json", document)
        if stored is None:
            return
        previous = recording.chat_transcript
        transcript = ChatTranscript(
            id=previous.id if previous else str(uuid.uuid4()),
            created=previous.created if previous else datetime.now(UTC),
            location=stored.location,
        )
        await self._repo.save_chat_transcript(recording.recorder_id, transcript)
        recording.chat_transcript = transcript

    async def _store_cobrowse(self, recording: Recording, session_id: str) -> None:
        events = await self._repo.cobrowse_events(recording.recorder_id, session_id)
        document = {
            "conversationId": recording.conversation_id,
            "recorderId": recording.recorder_id,
            "sessionId": session_id,
            "events": [{"sequenceId": e.sequence_id, "timestamp": e.timestamp, "payload": e.payload} for e in events],
        }
        stored = await self._store_json(recording, f"cobrowse/{cobrowse_file_name(session_id)}", document)
        if stored is not None:
            session = CobrowseSession(
                recording.recorder_id, session_id, recording.instance_id, stored.location, datetime.now(UTC)
            )
            await self._repo.save_cobrowse_session(session)

    async def _store_json(self, recording: Recording, name: str, document: object) -> StoredObject | None:
        key = f"{safe_name(recording.conversation_id)}/{safe_name(recording.recorder_id)}/{name}"
        self._spool.mkdir(parents=True, exist_ok=True)
        fd, temporary = tempfile.mkstemp(dir=self._spool, suffix=".json")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as file:
                json.dump(document, file, ensure_ascii=False, indent=1)
            return await self._storage(recording.application_id).store(Path(temporary), key)
        except StorageError as exc:
            # the entries stay in the repository: the next addition or end of recording stores them again
            logger.warning("recording %s: cannot store %s: %s", recording.recorder_id, key, exc)
            return None
        finally:
            os.unlink(temporary)
