"""Checks shared by the API's verification and the offline `recorder-verify`: an object re-read from storage and
re-hashed, a signed document read and checked, an application's digest chain walked."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from recorder.evidence.documents import Keyring
from storage_providers.base import ObjectNotFoundError, StorageError, StorageProvider

DIGESTS = "digests"
RECEIPTS = "receipts"


def evidence_key(prefix: str, application_id: str, kind: str, name: str) -> str:
    """Where an application's digests and receipts are kept in its storage: `<prefix>/<application>/<kind>/..`."""
    return f"{prefix.strip('/')}/{application_id}/{kind}/{name}"


def digest_name(seq: int) -> str:
    return f"{seq:08d}.json"


class Status(StrEnum):
    INTACT = "INTACT"  # the bytes hash to what was recorded
    CHANGED = "CHANGED"  # they do not (or the size differs)
    MISSING = "MISSING"  # the object is not there
    DELETED = "DELETED"  # not there, and a deletion receipt says it was removed
    UNREADABLE = "UNREADABLE"  # the storage did not answer: nothing can be said yet


@dataclass(frozen=True)
class ObjectCheck:
    key: str
    kind: str
    status: Status
    size: int
    sha256: str
    actual_size: int | None = None
    actual_sha256: str | None = None
    detail: str | None = None

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"key": self.key, "kind": self.kind, "status": self.status.value}
        out |= {"size": self.size, "sha256": self.sha256}
        if self.status is Status.CHANGED:
            out |= {"actualSize": self.actual_size, "actualSha256": self.actual_sha256}
        if self.detail:
            out["detail"] = self.detail
        return out


async def read_all(provider: StorageProvider, key: str) -> bytes:
    return b"".join([piece async for piece in provider.read_range(key)])


async def check_object(provider: StorageProvider, key: str, kind: str, size: int, sha256: str) -> ObjectCheck:
    """Re-read `key` and compare it with what was stored."""
    digest, actual = hashlib.sha256(), 0
    try:
        async for piece in provider.read_range(key):
            digest.update(piece)
            actual += len(piece)
    except ObjectNotFoundError:
        return ObjectCheck(key, kind, Status.MISSING, size, sha256)
    except StorageError as exc:
        return ObjectCheck(key, kind, Status.UNREADABLE, size, sha256, detail=exc.message)
    got = digest.hexdigest()
    status = Status.INTACT if got == sha256 and actual == size else Status.CHANGED
    return ObjectCheck(key, kind, status, size, sha256, actual, got)


@dataclass
class ChainReport:
    """An application's digests walked from the first: what each says and whether the chain holds."""

    digests: int = 0
    problems: list[str] = field(default_factory=list)
    objects: list[dict[str, Any]] = field(default_factory=list)  # every object the digests name, in order


def check_document(data: bytes, keyring: Keyring, what: str) -> tuple[dict[str, Any] | None, str | None]:
    """(document, problem): a JSON document and its signature."""
    try:
        document = json.loads(data)
    except ValueError:
        return None, f"{what} is not JSON"
    if not isinstance(document, dict):
        return None, f"{what} is not a JSON object"
    problem = keyring.check(document)
    return document, None if problem is None else f"{what}: {problem}"


async def walk_digests(provider: StorageProvider, prefix: str, application_id: str, keyring: Keyring) -> ChainReport:
    """Read digests 1, 2, ... until one is not there; check each signature and its link to the one before."""
    report = ChainReport()
    previous: Mapping[str, Any] | None = None
    previous_sha = ""
    seq = 0
    while True:
        seq += 1
        key = evidence_key(prefix, application_id, DIGESTS, digest_name(seq))
        try:
            data = await read_all(provider, key)
        except ObjectNotFoundError:
            break
        report.digests = seq
        document, problem = check_document(data, keyring, f"digest {seq}")
        if problem:
            report.problems.append(problem)
        if document is None:
            previous, previous_sha = None, hashlib.sha256(data).hexdigest()
            continue
        link = document.get("previous")
        if seq == 1 and link is not None:
            report.problems.append("digest 1 names a previous digest: earlier digests are missing")
        if seq > 1:
            expected = {
                "seq": seq - 1,
                "sha256": previous_sha,
                "signature": (previous or {}).get("signature", {}).get("value"),
            }
            if not isinstance(link, Mapping) or any(link.get(k) != v for k, v in expected.items()):
                report.problems.append(f"digest {seq} does not chain to digest {seq - 1} as stored")
        if document.get("seq") != seq:
            report.problems.append(f"digest {seq} says it is digest {document.get('seq')}")
        report.objects += [o for o in document.get("objects", []) if isinstance(o, dict)]
        previous, previous_sha = document, hashlib.sha256(data).hexdigest()
    return report
