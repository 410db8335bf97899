"""recorder-verify: check an application's evidence offline, from its storage and the public keys alone (no
database, no running service).

    recorder-verify --folder /srv/recordings --keys keys.json --application app1
    recorder-verify --storage profile.json --keys keys.json --application app1 [--json]

`--keys` is the answer of `GET /evidence/keys` (or `--public-key key.pem`, repeatable); `--storage` a storage
profile as the API takes it (provider, bucket, endpointUrl, credentials). It walks the application's digests
from the first (each signature checked, each chained to the one before), reads every object they name and
re-hashes it (INTACT, CHANGED, MISSING; DELETED when a signed deletion receipt removed it; ELSEWHERE when it is
in a recording's own destination), and checks every seal and receipt's signature. Exit status: 0 when all
holds, 1 when anything does not, 2 when it could not run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter, ValidationError

from recorder.evidence.checks import Status, check_document, check_object, read_all, walk_digests
from recorder.evidence.documents import Keyring
from storage_providers.base import StorageError, StorageProvider
from storage_providers.registry import create_provider
from storage_providers.settings import LocalStorageSettings, StorageSettings

PROFILE: TypeAdapter[StorageSettings] = TypeAdapter(StorageSettings)


def _keyring(keys: Path | None, pems: list[Path]) -> Keyring:
    listed = [] if keys is None else Keyring.listed(json.loads(keys.read_text()))
    return Keyring([*listed, *(Keyring.from_pem(path.read_bytes()) for path in pems)])


async def verify(provider: StorageProvider, application_id: str, prefix: str, keyring: Keyring) -> dict[str, Any]:
    """The report: the chain's problems, every object's status, the documents' signatures."""
    chain = await walk_digests(provider, prefix, application_id, keyring)
    problems = list(chain.problems)
    if chain.digests == 0:
        problems.append(f"no digest of application {application_id} under {prefix}/{application_id}/digests/")
    latest: dict[str, dict[str, Any]] = {}
    for entry in chain.objects:
        latest[str(entry.get("key"))] = entry
    deleted: dict[str, str] = {}
    for entry in chain.objects:  # receipts first: what they removed is not missing
        if entry.get("kind") != "RECEIPT":
            continue
        try:
            document, problem = check_document(await read_all(provider, str(entry["key"])), keyring, "a receipt")
        except StorageError:
            continue  # (reported below as the object's own status)
        if problem:
            problems.append(f"{entry['key']}: {problem}")
        for removed in (document or {}).get("objects", []):
            deleted[str(removed.get("key"))] = str((document or {}).get("id"))
    objects = []
    for key, entry in latest.items():
        if entry.get("storage") == "RECORDING":
            objects.append({"key": key, "kind": entry.get("kind"), "status": "ELSEWHERE"})
            continue
        check = await check_object(provider, key, str(entry.get("kind")), int(entry["size"]), str(entry["sha256"]))
        out = check.as_json()
        if check.status is Status.MISSING and key in deleted:
            out = {**out, "status": Status.DELETED.value, "receiptId": deleted[key]}
        if entry.get("kind") == "SEAL" and check.status is Status.INTACT:
            _, problem = check_document(await read_all(provider, key), keyring, f"seal {key}")
            if problem:
                problems.append(problem)
                out["status"] = "INVALID_SIGNATURE"
        objects.append(out)
    good = {Status.INTACT.value, Status.DELETED.value, "ELSEWHERE"}
    intact = not problems and all(o["status"] in good for o in objects)
    return {
        "applicationId": application_id,
        "digests": chain.digests,
        "intact": intact,
        "problems": problems,
        "objects": objects,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="recorder-verify", description=__doc__.split("\n\n")[0])
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--folder", type=Path, help="a local storage folder (LOCAL_STORAGE's path)")
    where.add_argument("--storage", type=Path, help="a storage profile (JSON, as PUT /storageproviders takes it)")
    parser.add_argument("--keys", type=Path, help="the answer of GET /evidence/keys (JSON)")
    parser.add_argument("--public-key", type=Path, action="append", default=[], help="an Ed25519 public key (PEM)")
    parser.add_argument("--application", required=True, help="the application whose evidence to check")
    parser.add_argument("--prefix", default="_evidence", help="the service's evidence_prefix (default _evidence)")
    parser.add_argument("--json", action="store_true", help="print the whole report as JSON")
    args = parser.parse_args(argv)
    try:
        keyring = _keyring(args.keys, args.public_key)
        if args.folder is not None:
            settings: StorageSettings = LocalStorageSettings(path=args.folder)
        else:
            settings = PROFILE.validate_json(args.storage.read_bytes())
        provider = create_provider(settings)
    except (OSError, ValueError, ValidationError, StorageError) as exc:
        print(f"recorder-verify: {exc}", file=sys.stderr)
        return 2

    async def run() -> dict[str, Any]:
        async with provider:
            return await verify(provider, args.application, args.prefix, keyring)

    try:
        report = asyncio.run(run())
    except StorageError as exc:
        print(f"recorder-verify: the storage failed: {exc.message}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(report, indent=1))
    else:
        for entry in report["objects"]:
            print(f"{entry['status']:<18} {entry['kind']:<12} {entry['key']}")
        for problem in report["problems"]:
            print(f"PROBLEM            {problem}")
        verdict = "intact" if report["intact"] else "NOT intact"
        print(f"{report['digests']} digests, {len(report['objects'])} objects: {verdict}")
    return 0 if report["intact"] else 1


if __name__ == "__main__":
    sys.exit(main())
