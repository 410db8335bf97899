"""The ledger: every stored object's hash kept as it is stored, a recording's seal once it is complete, the hourly
digests that chain an application's objects, and a recording's verification against its storage.

Sealing and digests are chores (`chores`): every instance tries each `evidence_interval_seconds`, the one that
holds the chore's lease does them, so an application's digests form one chain."""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from recorder.clock import now
from recorder.errors import LimitError
from recorder.evidence.access import AccessLog, Action
from recorder.evidence.checks import DIGESTS, Status, check_document, check_object, digest_name, evidence_key, read_all
from recorder.evidence.documents import EvidenceSigner, Keyring, PublicKey
from recorder.logcontext import bind
from recorder.models import Recording, UploadJob, UploadKind, iso
from recorder.naming import KeyParts
from recorder.persistence.ports import (
    CompositionJobStore,
    DigestRecord,
    EvidenceStore,
    RecordingStore,
    StoredRecord,
)
from recorder.settings import Settings
from recorder.storage.providers import Providers
from storage_providers.base import ObjectNotFoundError, StorageError, StoredObject

logger = logging.getLogger(__name__)

SEAL = KeyParts("seal", "SEAL", "seal", "seal", "SEAL", "json")
VERSION = 1
DIGEST_OBJECTS = 50_000  # at most this many objects in one digest (the next one takes the rest)
VERIFY_SHARE = 2  # verifications one organization may run at once

# store a recording's document through the uploader: (recording, kind, subject, key parts, document) -> its key
DocumentStore = Callable[[Recording, UploadKind, str, KeyParts, object], Awaitable[str]]
# what a hold on a stored object does in its storage (set when its conversation is held)
HoldHook = Callable[[StoredRecord], Awaitable[None]]


def object_json(record: StoredRecord) -> dict[str, Any]:
    out: dict[str, Any] = {
        "kind": record.kind,
        "key": record.key,
        "size": record.size,
        "sha256": record.sha256,
        "stored": iso(record.stored),
        "conversationId": record.conversation_id,
    }
    for name, value in (
        ("version", record.version),
        ("recorderId", record.recorder_id),
        ("compositionId", record.composition_id),
    ):
        if value is not None:
            out[name] = value
    if record.own_storage:
        out["storage"] = "RECORDING"  # the recording's own destination, not the application's storage
    return out


def latest(records: list[StoredRecord]) -> list[StoredRecord]:
    """The last stored version of each key (a chat transcript stored again replaces the one before)."""
    by_key = {r.key: r for r in records}
    return sorted(by_key.values(), key=lambda r: r.id or 0)


class Ledger:
    def __init__(
        self,
        settings: Settings,
        store: EvidenceStore,
        recordings: RecordingStore,
        compositions: CompositionJobStore,
        providers: Providers,
        signer: EvidenceSigner,
        access: AccessLog,
        documents: DocumentStore,
    ) -> None:
        self._settings = settings
        self._store = store
        self._recordings = recordings
        self._compositions = compositions
        self._providers = providers
        self.signer = signer
        self._access = access
        self._documents = documents
        self._last_digest: dict[str, float] = {}
        self._verifying: dict[str, int] = {}  # organization -> verifications running
        self.on_stored: HoldHook | None = None  # the holds: an object stored while its conversation is held

    async def start(self) -> None:
        await self._store.publish_key(self.signer.kid, self.signer.public_pem)

    async def keyring(self) -> Keyring:
        return Keyring(PublicKey(kid, pem) for kid, pem, _ in await self._store.keys())

    async def public_keys(self) -> dict[str, Any]:
        """`GET /evidence/keys`: every key that signed, the current one marked."""
        keys = [
            {"kid": kid, "alg": "Ed25519", "publicKey": pem, "created": iso(created), "current": kid == self.signer.kid}
            for kid, pem, created in await self._store.keys()
        ]
        return {"keys": keys}

    # ------------------------------------------------------------ objects as they are stored

    async def stored(self, job: UploadJob, stored: StoredObject | None) -> None:
        """The uploader stored an object: keep its hash (the SHA-256 of the bytes sent)."""
        if job.sha256 is None or stored is None:
            return  # a job from before evidence: nothing was hashed
        recorder_id: str | None = job.recorder_id
        composition_id: str | None = None
        if job.kind is UploadKind.COMPOSITION:
            composition = await self._compositions.by_id(job.subject)
            if composition is None:
                return
            organization, conversation = composition.organization_id, composition.conversation_id
            recorder_id, composition_id, own = None, composition.id, False
        else:
            recording = await self._recordings.by_id(job.recorder_id)
            if recording is None:
                return
            organization, conversation = recording.organization_id, recording.conversation_id
            own = await self._providers.has_own(job.recorder_id)
        record = StoredRecord(
            organization,
            job.application_id,
            conversation,
            recorder_id,
            composition_id,
            job.kind.value,
            job.subject,
            job.key,
            job.size,
            job.sha256,
            stored.version,
            own,
            now(),
        )
        if await self._store.record_object(record) and self.on_stored is not None:
            await self.on_stored(record)

    async def record_document(
        self, organization_id: str, application_id: str, conversation_id: str, kind: str, key: str, data: bytes
    ) -> None:
        """Keep the hash of a document the ledger stored itself (a deletion receipt): the next digest chains it."""
        record = StoredRecord(
            organization_id,
            application_id,
            conversation_id,
            None,
            None,
            kind,
            key.rsplit("/", 1)[-1],
            key,
            len(data),
            hashlib.sha256(data).hexdigest(),
            None,
            False,
            now(),
        )
        await self._store.record_object(record)

    # ------------------------------------------------------------ chores

    async def chores(self, force_digest: bool = False) -> bool:
        """One round: if this instance holds the chore, seal what is complete and write the digests that are
        due; whether it held the chore."""
        interval = self._settings.evidence_interval_seconds
        at = time.time()
        if not await self._store.claim_chore("evidence", self._settings.instance_id, at + 3 * interval + 5, at):
            return False
        await self.seal_due()
        await self.digest_due(force_digest)
        return True

    async def seal_due(self) -> int:
        ended_before = now() - timedelta(seconds=self._settings.evidence_seal_after_seconds)
        sealed = 0
        for recorder_id in await self._store.to_seal(ended_before, 100):
            recording = await self._recordings.by_id(recorder_id)
            if recording is not None:
                sealed += await self.seal(recording)
        return sealed

    async def seal(self, recording: Recording) -> bool:
        """Sign the list of every object the recording stored and store it beside them."""
        bind(recorderId=recording.recorder_id, conversationId=recording.conversation_id)
        stored = await self._store.objects(recording.organization_id, recorder_id=recording.recorder_id)
        objects = [o for o in latest(stored) if o.deleted is None]
        document = self.signer.sign(
            {
                "type": "recording-seal",
                "version": VERSION,
                "organizationId": recording.organization_id,
                "applicationId": recording.application_id,
                "conversationId": recording.conversation_id,
                "recorderId": recording.recorder_id,
                "started": iso(recording.started) if recording.started else None,
                "stopped": iso(recording.stopped) if recording.stopped else None,
                "pauses": [
                    {"paused": iso(p.paused), "resumed": iso(p.resumed) if p.resumed else None, "reason": p.reason}
                    for p in recording.pauses
                ],
                "objects": [object_json(o) for o in objects if o.kind != UploadKind.SEAL.value],
                "sealed": iso(now()),
            }
        )
        key = await self._documents(recording, UploadKind.SEAL, recording.recorder_id, SEAL, document)
        await self._store.add_seal(recording.recorder_id, key, self.signer.kid, document["signature"]["value"])
        logger.info("recording %s sealed: %d objects", recording.recorder_id, len(document["objects"]))
        return True

    async def digest_due(self, force: bool = False) -> int:
        made = 0
        every = self._settings.evidence_digest_seconds
        for application_id in await self._store.applications_to_digest():
            head = await self._store.digest_head(application_id)
            last = self._last_digest.get(application_id) or (head.created.timestamp() if head else 0.0)
            if force or time.time() - last >= every:
                made += await self.digest(application_id, head)
        return made

    async def digest(self, application_id: str, head: DigestRecord | None) -> bool:
        """Write the application's next digest: every object stored since the previous one, chained to it."""
        objects = await self._store.undigested(application_id, DIGEST_OBJECTS)
        if not objects:
            return False
        seq = (head.seq if head else 0) + 1
        organization = objects[0].organization_id
        access = await self._store.access_head(organization)
        document = self.signer.sign(
            {
                "type": "evidence-digest",
                "version": VERSION,
                "organizationId": organization,
                "applicationId": application_id,
                "seq": seq,
                "previous": None
                if head is None
                else {"seq": head.seq, "sha256": head.sha256, "signature": head.signature},
                "from": iso(objects[0].stored),
                "to": iso(objects[-1].stored),
                "objects": [object_json(o) for o in objects],
                "accessLog": None if access is None else {"seq": access[0], "hash": access[1]},
                "made": iso(now()),
            }
        )
        data = json.dumps(document, ensure_ascii=False, indent=1).encode()
        key = evidence_key(self._settings.evidence_prefix, application_id, DIGESTS, digest_name(seq))
        await self.put(application_id, key, data)
        record = DigestRecord(
            application_id,
            seq,
            key,
            hashlib.sha256(data).hexdigest(),
            self.signer.kid,
            document["signature"]["value"],
            len(objects),
            now(),
        )
        if not await self._store.add_digest(record, [o.id for o in objects if o.id is not None]):
            return False  # (another holder wrote this seq: its object is the one kept under the key)
        self._last_digest[application_id] = time.time()
        logger.info("evidence digest %d of application %s: %d objects", seq, application_id, len(objects))
        return True

    async def put(self, application_id: str, key: str, data: bytes) -> None:
        """Store a small document in the application's storage (raises StorageError)."""
        folder = self._settings.spool / "artifacts"
        await asyncio.to_thread(folder.mkdir, parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=folder, prefix="evidence-", suffix=".json")
        with os.fdopen(fd, "wb") as file:
            file.write(data)
        try:
            await (await self._providers.of(application_id)).upload(Path(name), key)
        finally:
            await asyncio.to_thread(Path(name).unlink, missing_ok=True)

    # ------------------------------------------------------------ verification

    async def verify(self, recording: Recording) -> dict[str, Any]:
        """Re-read every object the recording stored and re-hash it; check its seal's signature. An
        organization runs `VERIFY_SHARE` at once (LimitError beyond: re-reading files is the storage's work)."""
        organization = recording.organization_id
        if self._verifying.get(organization, 0) >= VERIFY_SHARE:
            raise LimitError(f"{VERIFY_SHARE} verifications of this organization are running: try again", retry_after=5)
        self._verifying[organization] = self._verifying.get(organization, 0) + 1
        try:
            return await self._verify(recording)
        finally:
            self._verifying[organization] -= 1

    async def _verify(self, recording: Recording) -> dict[str, Any]:
        records = latest(await self._store.objects(recording.organization_id, recorder_id=recording.recorder_id))
        provider = await self._providers.of(recording.application_id, recording.recorder_id)
        checks = []
        for record in records:
            if record.deleted is not None:
                checks.append({**object_json(record), "status": Status.DELETED.value, "receiptId": record.receipt_id})
                continue
            check = await check_object(provider, record.key, record.kind, record.size, record.sha256)
            checks.append(check.as_json())
        seal: dict[str, Any] = {"status": "NOT_SEALED"}
        sealed = await self._store.seal(recording.recorder_id)
        if sealed is not None and not any(r.kind == UploadKind.SEAL.value for r in records):
            seal = {"key": sealed[0], "kid": sealed[1], "status": "NOT_SEALED"}  # made, on its way to storage
        elif sealed is not None:
            key, kid, _ = sealed
            seal = {"key": key, "kid": kid}
            try:
                _, problem = check_document(await read_all(provider, key), await self.keyring(), "the seal")
                seal |= {"status": "VALID"} if problem is None else {"status": "INVALID", "detail": problem}
            except ObjectNotFoundError:
                seal |= {"status": "MISSING"}
            except StorageError as exc:
                seal |= {"status": "UNREADABLE", "detail": exc.message}
        intact = all(c["status"] in (Status.INTACT.value, Status.DELETED.value) for c in checks) and seal["status"] in (
            "VALID",
            "NOT_SEALED",
        )
        self._access.record(
            Action.VERIFIED,
            recording.organization_id,
            application_id=recording.application_id,
            conversation_id=recording.conversation_id,
            recorder_id=recording.recorder_id,
            detail="intact" if intact else "not intact",
        )
        return {
            "conversationId": recording.conversation_id,
            "recorderId": recording.recorder_id,
            "verified": iso(now()),
            "intact": intact,
            "seal": seal,
            "objects": checks,
        }
