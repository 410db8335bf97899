"""Chat transcripts: entries kept in the database while the recording runs, written as one JSON file and
stored when it ends, and again when more entries arrive after it ended.

The key comes from the profile's key template with streamId `chat` and trackId `transcript` (by default
`<org>/<conversation>/<recorder>/chat/transcript.json`).
"""

from __future__ import annotations

import uuid

from recorder.clock import now
from recorder.models import ChatEntry, ChatTranscript, Recording, UploadJob, UploadKind, UploadState, iso
from recorder.naming import KeyParts
from recorder.sidecars.documents import Sidecar
from storage_providers.base import StoredObject

CHAT = KeyParts("chat", "CHAT", "chat", "transcript", "CHAT", "json")


class ChatTranscripts(Sidecar):
    kind = UploadKind.CHAT

    async def add(self, recording: Recording, entries: list[ChatEntry]) -> int:
        """Add entries (a retry adds nothing again); how many were new. After the end, stored again at once."""
        async with self._lock:
            added = await self._store.add_chat_entries(recording.recorder_id, entries)
            if added and not await self._is_live(recording):
                await self._write(recording)
            return added

    async def entries(self, recording: Recording) -> list[ChatEntry]:
        """The recording's chat entries, in time order."""
        return sorted(await self._store.chat_entries(recording.recorder_id), key=lambda e: e.time_stamp)

    async def store(self, recording: Recording) -> None:
        """At the end of a recording: store its transcript (nothing when it has no entries)."""
        async with self._lock:
            await self._write(recording)

    async def _write(self, recording: Recording) -> None:
        entries = await self._store.chat_entries(recording.recorder_id)
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
        await self._documents.store(recording, UploadKind.CHAT, recording.recorder_id, CHAT, document)

    async def _uploaded(self, job: UploadJob, stored: StoredObject | None) -> None:
        """The transcript file is stored: say where (its id and creation time stay those of the first)."""
        if job.state is not UploadState.UPLOADED or stored is None:
            return
        recording = await self._recordings.by_id(job.recorder_id)
        previous = recording.chat_transcript if recording else None
        transcript = ChatTranscript(
            id=previous.id if previous else str(uuid.uuid4()),
            created=previous.created if previous else now(),
            location=stored.location,
        )
        await self._store.save_chat_transcript(job.recorder_id, transcript)
