"""Chat transcripts: entries kept in the database while the recording runs, written as one JSON file and
stored when it ends, and again when more entries arrive after it ended.

The key comes from the profile's key template with streamId `chat` and trackId `transcript` (by default
`<org>/<conversation>/<recorder>/chat/transcript.json`).
"""

from __future__ import annotations

import asyncio
import time
import uuid

from recorder.clock import now
from recorder.errors import TooLargeError
from recorder.models import ChatEntry, ChatTranscript, Recording, UploadJob, UploadKind, UploadState, iso
from recorder.naming import KeyParts
from recorder.persistence.ports import RecordingStore, SidecarStore
from recorder.sidecars.documents import Documents, Sidecar
from recorder.tasks import TaskSet
from recorder.uploads.uploader import Uploader
from storage_providers.base import StoredObject

CHAT = KeyParts("chat", "CHAT", "chat", "transcript", "CHAT", "json")


BATCH_SECONDS = 1.0  # after a recording's end, its transcript is stored again at most once in this long


class ChatTranscripts(Sidecar):
    kind = UploadKind.CHAT

    def __init__(
        self,
        store: SidecarStore,
        recordings: RecordingStore,
        documents: Documents,
        uploader: Uploader,
        most_entries: int = 10_000,
    ) -> None:
        super().__init__(store, recordings, documents, uploader)
        self.most_entries = most_entries  # a recording's chat entries (`chat_entries_per_recording`)
        self._due: set[str] = set()  # recordings whose transcript is stored again soon (after their end)
        self._written: dict[str, float] = {}  # when each recording's transcript was last stored after its end
        self._later = TaskSet("chat-later")

    async def add(self, recording: Recording, entries: list[ChatEntry]) -> int:
        """Add entries (a retry adds nothing again); how many were new. After the end, the transcript is stored
        again: at once, unless it was stored less than `BATCH_SECONDS` ago; then once at the end of that second
        for every entry that came meanwhile. TooLargeError (nothing added) past `most_entries`."""
        async with self._lock:
            known = await self._store.chat_entries(recording.recorder_id)
            new = {(e.time_stamp, e.user_id, e.transcript) for e in entries} - {
                (e.time_stamp, e.user_id, e.transcript) for e in known
            }
            if len(known) + len(new) > self.most_entries:
                raise TooLargeError(
                    f"recording {recording.recorder_id} has {len(known)} chat entries; it may have {self.most_entries}"
                )
            added = await self._store.add_chat_entries(recording.recorder_id, entries)
            if added and recording.recorder_id not in self._due and not await self._is_live(recording):
                now = time.monotonic()
                self._written = {k: t for k, t in self._written.items() if now - t < BATCH_SECONDS}
                last = self._written.get(recording.recorder_id)
                if last is None:
                    self._written[recording.recorder_id] = now
                    await self._write(recording)
                else:
                    self._due.add(recording.recorder_id)
                    wait = BATCH_SECONDS - (now - last)
                    self._later.spawn(self._write_later(recording, wait), name=f"chat-{recording.recorder_id}")
            return added

    async def _write_later(self, recording: Recording, wait: float) -> None:
        await asyncio.sleep(wait)
        async with self._lock:
            self._due.discard(recording.recorder_id)
            self._written[recording.recorder_id] = time.monotonic()
            await self._write(recording)

    async def aclose(self) -> None:
        """Store at once what was waiting for its batch."""
        await self._later.aclose()
        async with self._lock:
            for recorder_id in list(self._due):
                self._due.discard(recorder_id)
                recording = await self._recordings.by_id(recorder_id)
                if recording is not None:
                    await self._write(recording)

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
