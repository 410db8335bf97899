"""A sidecar's file: a JSON document written to the spool and handed to the uploader (which deletes it once
stored), under a key made from the profile's key template."""

from __future__ import annotations

import asyncio
import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import ClassVar

from recorder.models import LIVE_STATES, Recording, UploadJob, UploadKind
from recorder.naming import KeyParts, object_key, safe_name
from recorder.persistence.ports import RecordingStore, SidecarStore
from recorder.uploads.uploader import Uploader
from storage_providers.base import StoredObject


class Documents:
    def __init__(self, uploader: Uploader, key_template: Callable[[str], str], spool: Path) -> None:
        self._uploader = uploader
        self._key_template = key_template
        self._spool = spool

    async def store(
        self, recording: Recording, kind: UploadKind, subject: str, parts: KeyParts, document: object
    ) -> str:
        """Write `document` to the spool and hand it to the uploader; the key it will have."""
        key = object_key(recording.key_template or self._key_template(recording.application_id), recording, parts)
        self._spool.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=self._spool, prefix=f"{safe_name(recording.recorder_id)}-", suffix=".json")
        with os.fdopen(fd, "w", encoding="utf-8") as file:
            json.dump(document, file, ensure_ascii=False, indent=1)
        await self._uploader.enqueue(recording.application_id, recording.recorder_id, kind, subject, Path(name), key)
        return key


class Sidecar:
    """What chat transcripts and cobrowse sessions share: their store, the recordings (to know whether one is
    still live: what comes after its end is stored at once), their documents, one lock (adding after the end
    and storing at the end never interleave), and their upload kind's completion handler."""

    kind: ClassVar[UploadKind]  # the upload kind of its files

    def __init__(
        self, store: SidecarStore, recordings: RecordingStore, documents: Documents, uploader: Uploader
    ) -> None:
        self._store = store
        self._recordings = recordings
        self._documents = documents
        self._lock = asyncio.Lock()
        uploader.on(self.kind, self._uploaded)

    async def _is_live(self, recording: Recording) -> bool:
        current = await self._recordings.get(
            recording.organization_id, recording.conversation_id, recording.recorder_id, recording.instance_id
        )
        return current is not None and current.state in LIVE_STATES

    async def _uploaded(self, job: UploadJob, stored: StoredObject | None) -> None:
        raise NotImplementedError
