"""Legal holds, deletions and the retention of recordings.

A hold is per conversation: placed and released (with a reason) by an auditor or a supervisor, it blocks every
deletion path (an administrator's DELETE, retention, a composition's delete), and where the storage supports it
the provider's own hold is set on the same objects (S3 Object Lock legal hold, Azure immutability legal hold,
GCS temporary hold), transcripts and cobrowse included, and on every object the conversation stores later.

A deletion removes everything stored for the recordings (their objects, local files, rows, own destinations and
per-recording subscriptions; the compositions too when no recording of the conversation is left) and answers a
signed receipt naming each object with its hash and version, who, when and why. The receipt is kept in the
database and in the application's storage (so the next digest chains it), and the access log says so.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from recorder.clock import now
from recorder.errors import ConflictError, NotFoundError
from recorder.evidence.access import ACTOR, AccessLog, Action, Actor
from recorder.evidence.checks import RECEIPTS, evidence_key
from recorder.evidence.ledger import Ledger, latest, object_json
from recorder.logcontext import bind
from recorder.models import LIVE_STATES, Composition, Recording, iso
from recorder.persistence.ports import EvidenceStore, Hold, RecordingStore, SidecarStore, StoredRecord
from recorder.settings import Settings
from recorder.storage.providers import Providers
from storage_providers.base import StorageError, StorageProvider

logger = logging.getLogger(__name__)
DAY = 86400.0

# the compositions of a conversation, and how one is removed (its file and its worker) for a deletion
CompositionsOf = Callable[[str, str], Awaitable[list[Composition]]]
RemoveComposition = Callable[[Composition], Awaitable[None]]


@dataclass(frozen=True)
class _Target:
    """One object a deletion removes: where it is, and what the ledger knows of it (None: stored before it)."""

    application_id: str
    recorder_id: str | None  # whose storage (None: the application's)
    key: str
    kind: str
    record: StoredRecord | None


def hold_json(hold: Hold) -> dict[str, Any]:
    return {
        "conversationId": hold.conversation_id,
        "applicationId": hold.application_id,
        "reason": hold.reason,
        "placedBy": hold.placed_by,
        "placed": iso(hold.placed),
    }


class Holds:
    def __init__(
        self, store: EvidenceStore, recordings: RecordingStore, providers: Providers, access: AccessLog
    ) -> None:
        self._store = store
        self._recordings = recordings
        self._providers = providers
        self._access = access

    async def _conversation(self, organization_id: str, conversation_id: str) -> list[Recording]:
        recordings = await self._recordings.for_conversation(organization_id, conversation_id)
        if not recordings:
            raise NotFoundError(f"conversation {conversation_id} has no recordings")
        return recordings

    async def held(self, organization_id: str, conversation_id: str) -> Hold | None:
        found = await self._store.holds(organization_id, conversation_id)
        return found[0] if found else None

    async def refuse_if_held(self, organization_id: str, conversation_id: str) -> None:
        """ConflictError (409 LEGAL_HOLD) when the conversation is held."""
        hold = await self.held(organization_id, conversation_id)
        if hold is not None:
            raise ConflictError(
                f"conversation {conversation_id} is under legal hold since {iso(hold.placed)} ({hold.reason}):"
                " nothing of it may be deleted until the hold is released",
                code="LEGAL_HOLD",
            )

    async def all(self, organization_id: str) -> list[dict[str, Any]]:
        return [hold_json(h) for h in await self._store.holds(organization_id)]

    async def get(self, organization_id: str, conversation_id: str) -> dict[str, Any]:
        hold = await self.held(organization_id, conversation_id)
        if hold is None:
            raise NotFoundError(f"conversation {conversation_id} is not under legal hold")
        return hold_json(hold)

    async def place(self, organization_id: str, conversation_id: str, reason: str) -> dict[str, Any]:
        """Hold a conversation (a held one keeps its first hold); set the storage's own hold on its objects."""
        recordings = await self._conversation(organization_id, conversation_id)
        actor = ACTOR.get()
        hold = await self._store.place_hold(
            Hold(organization_id, conversation_id, recordings[0].application_id, reason, actor.name, now())
        )
        objects = await self._provider_holds(organization_id, conversation_id, True)
        self._access.record(
            Action.HOLD_PLACED,
            organization_id,
            application_id=hold.application_id,
            conversation_id=conversation_id,
            detail=reason,
        )
        return {**hold_json(hold), "objects": objects}

    async def release(self, organization_id: str, conversation_id: str, reason: str) -> dict[str, Any]:
        hold = await self._store.release_hold(organization_id, conversation_id)
        if hold is None:
            raise NotFoundError(f"conversation {conversation_id} is not under legal hold")
        objects = await self._provider_holds(organization_id, conversation_id, False)
        self._access.record(
            Action.HOLD_RELEASED,
            organization_id,
            application_id=hold.application_id,
            conversation_id=conversation_id,
            detail=reason,
        )
        return {**hold_json(hold), "released": iso(now()), "releaseReason": reason, "objects": objects}

    async def _provider(self, record: StoredRecord) -> StorageProvider:
        return await self._providers.of(record.application_id, record.recorder_id)

    async def _provider_holds(self, organization_id: str, conversation_id: str, on: bool) -> list[dict[str, str]]:
        """The storage's own hold on (or off) every object of the conversation: SET, NOT_SUPPORTED or FAILED."""
        results = []
        for record in latest(await self._store.objects(organization_id, conversation_id)):
            if record.deleted is None:
                results.append({"key": record.key, "kind": record.kind, "storageHold": await self._hold(record, on)})
        return results

    async def _hold(self, record: StoredRecord, on: bool) -> str:
        try:
            done = await (await self._provider(record)).hold(record.key, on, record.version)
        except StorageError as exc:
            logger.warning("the storage's own hold on %s (%s) failed: %s", record.key, on, exc.message)
            return "FAILED"
        return ("SET" if on else "RELEASED") if done else "NOT_SUPPORTED"

    async def stored(self, record: StoredRecord) -> None:
        """An object stored while its conversation is held gets the storage's own hold too."""
        if await self.held(record.organization_id, record.conversation_id) is not None:
            await self._hold(record, True)


class Deletions:
    def __init__(
        self,
        settings: Settings,
        store: EvidenceStore,
        recordings: RecordingStore,
        sidecars: SidecarStore,
        providers: Providers,
        holds: Holds,
        ledger: Ledger,
        access: AccessLog,
        compositions_of: CompositionsOf,
        remove_composition: RemoveComposition,
    ) -> None:
        self._settings = settings
        self._store = store
        self._recordings = recordings
        self._sidecars = sidecars
        self._providers = providers
        self._holds = holds
        self._ledger = ledger
        self._access = access
        self._compositions_of = compositions_of
        self._remove_composition = remove_composition

    async def delete_conversation(self, organization_id: str, conversation_id: str, reason: str) -> dict[str, Any]:
        """Everything stored for a conversation (ADMIN): ConflictError while it is held or recording."""
        recordings = await self._recordings.for_conversation(organization_id, conversation_id)
        if not recordings:
            raise NotFoundError(f"conversation {conversation_id} has no recordings")
        return await self._delete(organization_id, conversation_id, recordings, reason)

    async def _delete(
        self, organization_id: str, conversation_id: str, recordings: list[Recording], reason: str
    ) -> dict[str, Any]:
        bind(conversationId=conversation_id)
        await self._holds.refuse_if_held(organization_id, conversation_id)
        live = [r.recorder_id for r in recordings if r.state in LIVE_STATES]
        if live:
            raise ConflictError(f"recording {live[0]} of conversation {conversation_id} is live: stop it first")
        ids = {r.recorder_id for r in recordings}
        everything = await self._recordings.for_conversation(organization_id, conversation_id)
        whole = {r.recorder_id for r in everything} <= ids  # no recording of the conversation is left after
        compositions = await self._compositions_of(organization_id, conversation_id) if whole else []
        targets = await self._targets(organization_id, conversation_id, recordings, compositions)
        for composition in compositions:
            await self._remove_composition(composition)  # its worker stopped, its file and local file gone
        for target in targets:
            provider = await self._providers.of(target.application_id, target.recorder_id)
            await provider.delete(target.key)  # StorageError: nothing more is removed; the client retries
        await self._remove_local(recordings)
        receipt = self._receipt(organization_id, conversation_id, recordings, compositions, targets, reason)
        application_id = recordings[0].application_id
        data = json.dumps(receipt, ensure_ascii=False, indent=1).encode()
        key = evidence_key(self._settings.evidence_prefix, application_id, RECEIPTS, f"{receipt['id']}.json")
        await self._ledger.put(application_id, key, data)
        await self._ledger.record_document(organization_id, application_id, conversation_id, "RECEIPT", key, data)
        await self._store.forget(
            organization_id,
            conversation_id,
            sorted(ids),
            (receipt["id"], application_id, json.dumps(receipt, ensure_ascii=False)),
        )
        self._access.record(
            Action.DELETED,
            organization_id,
            application_id=application_id,
            conversation_id=conversation_id,
            object=key,
            detail=receipt["id"],
        )
        logger.info(
            "conversation %s: %d recordings and %d objects deleted (receipt %s): %s",
            conversation_id,
            len(ids),
            len(targets),
            receipt["id"],
            reason,
        )
        return receipt

    async def _targets(
        self,
        organization_id: str,
        conversation_id: str,
        recordings: list[Recording],
        compositions: list[Composition],
    ) -> list[_Target]:
        """Every stored object of the recordings (and compositions): what the ledger knows, and what was stored
        before it (their keys from the records)."""
        ids = {r.recorder_id for r in recordings}
        ledger = [
            r
            for r in latest(await self._store.objects(organization_id, conversation_id))
            if r.deleted is None and (r.recorder_id in ids or r.composition_id in {c.id for c in compositions})
        ]
        targets = {(r.recorder_id, r.key): _Target(r.application_id, r.recorder_id, r.key, r.kind, r) for r in ledger}

        def add(application_id: str, recorder_id: str | None, key: str | None, kind: str) -> None:
            if key and (recorder_id, key) not in targets:
                targets[(recorder_id, key)] = _Target(application_id, recorder_id, key, kind, None)

        for recording in recordings:
            app, rid = recording.application_id, recording.recorder_id
            for track in (t for s in recording.streams for t in s.tracks):
                add(app, rid, track.object_location if track.object_uploaded else None, "TRACK")
            add(app, rid, recording.manifest_location, "MANIFEST")
            if recording.chat_transcript is not None:
                add(app, rid, recording.chat_transcript.location, "CHAT")
            for session in await self._sidecars.cobrowse_sessions([rid]):
                add(app, rid, session.location, "COBROWSE")
            sealed = await self._store.seal(rid)
            if sealed is not None:
                add(app, rid, sealed[0], "SEAL")
        for composition in compositions:
            add(composition.application_id, None, composition.object_location, "COMPOSITION")
        return list(targets.values())

    async def _remove_local(self, recordings: list[Recording]) -> None:
        """The tracks' files still on this machine (an upload that failed keeps its file)."""
        for track in (t for r in recordings for s in r.streams for t in s.tracks):
            if track.local_deleted is None and track.local_location:
                with contextlib.suppress(OSError):
                    await asyncio.to_thread(Path(track.local_location).unlink, missing_ok=True)

    def _receipt(
        self,
        organization_id: str,
        conversation_id: str,
        recordings: list[Recording],
        compositions: list[Composition],
        targets: list[_Target],
        reason: str,
    ) -> dict[str, Any]:
        actor = ACTOR.get()
        objects = []
        for target in targets:
            entry: dict[str, Any] = {"kind": target.kind, "key": target.key}
            if target.record is not None:
                entry = {k: v for k, v in object_json(target.record).items() if k not in ("conversationId", "stored")}
                entry["stored"] = iso(target.record.stored)
            objects.append(entry)
        by: dict[str, Any] = {"caller": actor.name, "type": actor.type, "roles": list(actor.roles)}
        if actor.user_id:
            by["userId"] = actor.user_id
        return self._ledger.signer.sign(
            {
                "type": "deletion-receipt",
                "version": 1,
                "id": f"del_{uuid.uuid4().hex}",
                "organizationId": organization_id,
                "applicationId": recordings[0].application_id,
                "conversationId": conversation_id,
                "recorderIds": sorted(r.recorder_id for r in recordings),
                "compositionIds": sorted(c.id for c in compositions),
                "objects": objects,
                "by": by,
                "reason": reason,
                "deleted": iso(now()),
            }
        )

    async def receipt(self, organization_id: str, receipt_id: str) -> dict[str, Any]:
        document = await self._store.receipt(organization_id, receipt_id)
        if document is None:
            raise NotFoundError(f"no deletion receipt {receipt_id}")
        parsed: dict[str, Any] = json.loads(document)
        return parsed

    async def sweep(self) -> int:
        """Retention: delete each application's recordings that ended more than `recordings_days` ago, none of
        a held conversation; how many recordings were deleted."""
        deleted = 0
        token = ACTOR.set(Actor("retention", "SERVICE"))
        try:
            for app in self._settings.applications:
                days = app.retention.recordings_days
                if days is None:
                    continue
                expired = await self._store.expired(app.id, now() - timedelta(seconds=days * DAY), 200)
                by_conversation: dict[tuple[str, str], list[str]] = {}
                for organization_id, conversation_id, recorder_id in expired:
                    by_conversation.setdefault((organization_id, conversation_id), []).append(recorder_id)
                for (organization_id, conversation_id), recorder_ids in by_conversation.items():
                    recordings = [
                        r
                        for r in await self._recordings.for_conversation(organization_id, conversation_id)
                        if r.recorder_id in recorder_ids
                    ]
                    try:
                        await self._delete(organization_id, conversation_id, recordings, f"retention: {days:g} days")
                    except (StorageError, ConflictError) as exc:
                        logger.warning("retention of conversation %s: not deleted yet: %s", conversation_id, exc)
                        continue
                    deleted += len(recordings)
        finally:
            ACTOR.reset(token)
        return deleted
