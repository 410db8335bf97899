"""Evidence on every real storage server: an object changed in storage is reported CHANGED by the API and by
`recorder-verify` reading the same bucket; a legal hold sets the storage's own hold where it has one (moto's S3
Object Lock: s3rver, Azurite and fake-gcs-server keep none, nor do SFTP and a folder) and releases it; a deletion
removes every object and its receipt lists each with its hash and version."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import boto3
import pytest
from pytest_aiohttp import AiohttpClient

from recorder.evidence.checks import read_all
from storage_providers.base import ObjectNotFoundError, StorageProvider
from storage_providers.registry import create_provider
from tests.builders import auth, fake_room, make_client, make_settings
from tests.client import API, ids
from tests.eventually import eventually
from tests.evidence.test_evidence import FAST, _recorded
from tests.storage_servers import KINDS, Servers, profile, profile_data

LOCKED = "moto-object-lock"  # moto with a bucket made with Object Lock enabled


def _bucket(servers: Servers, kind: str) -> dict[str, Any]:
    if kind != LOCKED:
        return {}
    name = f"locked-{uuid.uuid4().hex[:12]}"
    _s3(servers).create_bucket(Bucket=name, ObjectLockEnabledForBucket=True)
    return {"bucket": name}


def _s3(servers: Servers) -> Any:
    url = servers.targets["moto"].url
    return boto3.client(
        "s3", endpoint_url=url, aws_access_key_id="test", aws_secret_access_key="test", region_name="us-east-1"
    )


def _offline(tmp_path: Path, storage: dict[str, Any], keys: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    (tmp_path / "profile.json").write_text(json.dumps(storage))
    (tmp_path / "keys.json").write_text(json.dumps(keys))
    command = [sys.executable, "-m", "recorder.evidence.cli", "--storage", str(tmp_path / "profile.json")]
    command += ["--keys", str(tmp_path / "keys.json"), "--application", "app1", "--json"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode in (0, 1), done.stderr
    return done.returncode, json.loads(done.stdout)


@pytest.mark.parametrize("kind", [*KINDS, LOCKED])
async def test_changed_objects_holds_and_deletion_on_a_real_storage(
    aiohttp_client: AiohttpClient, tmp_path: Path, servers: Servers, kind: str
) -> None:
    server_kind = "moto" if kind == LOCKED else kind
    extra = {"keyTemplate": f"{uuid.uuid4().hex[:8]}/{{conversationId}}/{{recorderId}}/{{trackId}}.{{ext}}"}
    extra |= _bucket(servers, kind)
    storage = profile_data(server_kind, servers.targets[server_kind], **extra)
    app = {"id": "app1", "organization_id": "org1", "janus": {"url": "http://127.0.0.1:9/janus"}, "storage": storage}
    settings = make_settings(tmp_path, "http://127.0.0.1:9/janus", applications=[app], **FAST)
    client = await make_client(aiohttp_client, settings, fake_room)
    event = await _recorded(client, f"ev-{kind}")
    verified = await client.json("GET", f"{API}/recordings/{ids(event)}/verify")
    assert verified["intact"], verified
    chat = next(o for o in verified["objects"] if o["kind"] == "CHAT")
    keys = await client.json("GET", f"{API}/evidence/keys")
    seal = verified["seal"]["key"]
    provider = create_provider(profile(server_kind, servers.targets[server_kind], **extra))
    async with provider:
        await eventually(lambda: _digests(provider), lambda d: seal.encode() in d, what="the seal digested")

    hold = await client.json("PUT", f"{API}/holds/ev-{kind}", json={"reason": "litigation"}, headers=auth("AUDITOR"))
    expected = "SET" if kind == LOCKED else "NOT_SUPPORTED"
    assert {o["storageHold"] for o in hold["objects"]} == {expected}, hold
    if kind == LOCKED:  # S3 says so itself, on the version that was stored
        answer = _s3(servers).get_object_legal_hold(Bucket=extra["bucket"], Key=chat["key"])
        assert answer["LegalHold"]["Status"] == "ON"
    released = await client.json("POST", f"{API}/holds/ev-{kind}/release", json={"reason": "settled"})
    assert {o["storageHold"] for o in released["objects"]} == {"RELEASED" if kind == LOCKED else "NOT_SUPPORTED"}

    async with create_provider(profile(server_kind, servers.targets[server_kind], **extra)) as provider:
        forged = tmp_path / "forged.json"
        forged.write_text('{"entries": []}')
        await provider.upload(forged, chat["key"])  # someone replaces the transcript in the bucket
        verified = await client.json("GET", f"{API}/recordings/{ids(event)}/verify")
        statuses = {o["kind"]: o["status"] for o in verified["objects"]}
        assert statuses == {"CHAT": "CHANGED", "COBROWSE": "INTACT", "SEAL": "INTACT"} and not verified["intact"]
        code, report = _offline(tmp_path, storage, keys)
        offline = {o["key"]: o["status"] for o in report["objects"]}
        assert code == 1 and offline[chat["key"]] == "CHANGED" and offline[seal] == "INTACT", report

        receipt = await client.json("DELETE", f"{API}/recordings/ev-{kind}", headers=auth("ADMIN"))
        assert {o["kind"] for o in receipt["objects"]} == {"CHAT", "COBROWSE", "SEAL"}
        for entry in receipt["objects"]:
            assert await provider.stat(entry["key"]) is None, entry
            assert (entry.get("version") is not None) == (kind in (LOCKED, "gcs")), entry  # (S3 VersionId, generation)
        await client.json("GET", f"{API}/recordings/{ids(event)}", status=404)


async def _digests(provider: StorageProvider) -> bytes:
    """The application's digests, read straight from the server, one after the other."""
    found, seq = b"", 1
    while True:
        try:
            found += await read_all(provider, f"_evidence/app1/digests/{seq:08d}.json")
        except ObjectNotFoundError:
            return found
        seq += 1
