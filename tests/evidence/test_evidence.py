"""What auditors can prove, on the local storage with the fake conference (no media server): every stored object
hashed as it was stored and sealed; an object changed or removed in storage is reported by the API and by the
offline `recorder-verify`; the access log's chain shows a removed row; a legal hold blocks every deletion path;
retention deletes exactly the expired recordings; a deletion's receipt verifies with the served public key; a
pause for payment data stores nothing of its span, chat and cobrowse included."""

from __future__ import annotations

import asyncio
import hashlib
import json
import sqlite3
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import aiohttp
import pytest
from pytest_aiohttp import AiohttpClient
from yarl import URL

from recorder.errors import LimitError
from recorder.evidence.access import AccessLog
from recorder.evidence.documents import EvidenceSigner, Keyring
from recorder.evidence.ledger import Ledger
from recorder.persistence.ports import StoredRecord
from recorder.persistence.store import open_store
from recorder.storage.providers import Providers
from storage_providers.local import LocalStorage
from tests.builders import auth, fake_room, live_with_stream, make_client, make_settings
from tests.client import API, COMPOSITION_API, ApiClient, ids
from tests.eventually import eventually
from tests.janus_host import JanusHost
from tests.publisher import publish_two_seconds

FAST = {"evidence_interval_seconds": 0.2, "evidence_digest_seconds": 0.3, "evidence_seal_after_seconds": 0}


async def _client(aiohttp_client: AiohttpClient, tmp_path: Path, **overrides: Any) -> ApiClient:
    settings = make_settings(tmp_path, "http://127.0.0.1:9/janus", **{**FAST, **overrides})
    return await make_client(aiohttp_client, settings, fake_room)


def _body_ids(event: dict[str, Any]) -> dict[str, str]:
    return {k: event[k] for k in ("conversationId", "recorderId", "instanceId")}


async def _recorded(client: ApiClient, conversation: str) -> dict[str, Any]:
    """A recording with a chat transcript and a cobrowse session, stopped and sealed."""
    event = await client.start(1, conversation)
    chat = [{"timeStamp": datetime.now(UTC).isoformat(), "transcript": "my order 1234", "userId": "u1"}]
    await client.json(
        "POST", f"{API}/recordings/chat/transcript/add", json={**_body_ids(event), "chatTranscriptList": chat}
    )
    cobrowse = {"sessionId": "s1", "sequenceId": 1, "timestamp": int(time.time() * 1000), "payload": "{}"}
    await client.json("POST", f"{API}/recordings/cobrowse/event", json={**_body_ids(event), "event": cobrowse})
    await client.json("POST", f"{API}/recordings/{ids(event)}/stop")
    await client.wait_for(f"{API}/recordings/{ids(event)}/verify", lambda v: v["seal"]["status"] == "VALID")
    return event


def _stored(tmp_path: Path, key: str) -> Path:
    return tmp_path / "storage" / key


def _verify_offline(tmp_path: Path, keys: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    keys_file = tmp_path / "keys.json"
    keys_file.write_text(json.dumps(keys))
    command = [sys.executable, "-m", "recorder.evidence.cli", "--folder", str(tmp_path / "storage")]
    command += ["--keys", str(keys_file), "--application", "app1", "--json"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode in (0, 1), done.stderr
    return done.returncode, json.loads(done.stdout)


async def _digested(tmp_path: Path, key: str) -> None:
    """Wait until a digest in storage names `key` (the chores run every 0.2 s, a digest every 0.3 s)."""

    async def digests() -> str:
        return "".join(d.read_text() for d in (tmp_path / "storage" / "_evidence" / "app1" / "digests").glob("*.json"))

    await eventually(digests, lambda text: key in text, what=f"a digest naming {key}")


async def test_a_changed_or_removed_object_is_reported_by_the_api_and_offline(
    aiohttp_client: AiohttpClient, tmp_path: Path
) -> None:
    client = await _client(aiohttp_client, tmp_path)
    event = await _recorded(client, "ev-1")
    keys = await client.json("GET", f"{API}/evidence/keys", headers={"Authorization": ""})
    assert [k["alg"] for k in keys["keys"]] == ["Ed25519"] and keys["keys"][0]["current"]

    verified = await client.json("GET", f"{API}/recordings/{ids(event)}/verify")
    assert verified["intact"] and verified["seal"]["status"] == "VALID"
    by_kind = {o["kind"]: o for o in verified["objects"]}
    assert set(by_kind) == {"CHAT", "COBROWSE", "SEAL"}
    for entry in by_kind.values():  # the hash recorded is the stored bytes'
        data = _stored(tmp_path, entry["key"]).read_bytes()
        assert entry["status"] == "INTACT" and entry["sha256"] == hashlib.sha256(data).hexdigest()
        assert entry["size"] == len(data)
    seal = json.loads(_stored(tmp_path, by_kind["SEAL"]["key"]).read_text())
    assert Keyring(Keyring.listed(keys)).check(seal) is None
    assert {o["key"] for o in seal["objects"]} == {by_kind["CHAT"]["key"], by_kind["COBROWSE"]["key"]}
    await _digested(tmp_path, by_kind["SEAL"]["key"])
    code, report = _verify_offline(tmp_path, keys)
    assert code == 0 and report["intact"], report

    chat = _stored(tmp_path, by_kind["CHAT"]["key"])
    original = chat.read_bytes()
    chat.write_bytes(original.replace(b"1234", b"9999"))  # someone edits the transcript in storage
    verified = await client.json("GET", f"{API}/recordings/{ids(event)}/verify")
    changed = {o["kind"]: o["status"] for o in verified["objects"]}
    assert not verified["intact"] and changed == {"CHAT": "CHANGED", "COBROWSE": "INTACT", "SEAL": "INTACT"}
    code, report = _verify_offline(tmp_path, keys)
    assert code == 1 and {o["key"]: o["status"] for o in report["objects"]}[by_kind["CHAT"]["key"]] == "CHANGED"

    chat.write_bytes(original)
    _stored(tmp_path, by_kind["COBROWSE"]["key"]).unlink()  # and someone removes the cobrowse session
    verified = await client.json("GET", f"{API}/recordings/{ids(event)}/verify")
    assert {o["kind"]: o["status"] for o in verified["objects"]}["COBROWSE"] == "MISSING"
    code, report = _verify_offline(tmp_path, keys)
    statuses = {o["key"]: o["status"] for o in report["objects"]}
    assert (
        code == 1 and statuses[by_kind["COBROWSE"]["key"]] == "MISSING" and statuses[by_kind["CHAT"]["key"]] == "INTACT"
    )

    # a forged seal (its list edited) fails its signature, online and offline
    seal_file = _stored(tmp_path, by_kind["SEAL"]["key"])
    seal["objects"] = seal["objects"][:1]
    seal_file.write_text(json.dumps(seal))
    verified = await client.json("GET", f"{API}/recordings/{ids(event)}/verify")
    assert verified["seal"]["status"] == "INVALID"


async def test_a_digest_removed_or_edited_breaks_the_chain_offline(
    aiohttp_client: AiohttpClient, tmp_path: Path
) -> None:
    client = await _client(aiohttp_client, tmp_path)
    first = await _recorded(client, "ev-chain-1")
    seal_1 = (await client.json("GET", f"{API}/recordings/{ids(first)}/verify"))["seal"]["key"]
    await _digested(tmp_path, seal_1)
    second = await _recorded(client, "ev-chain-2")
    seal_2 = (await client.json("GET", f"{API}/recordings/{ids(second)}/verify"))["seal"]["key"]
    await _digested(tmp_path, seal_2)
    keys = await client.json("GET", f"{API}/evidence/keys")
    code, report = _verify_offline(tmp_path, keys)
    assert code == 0 and report["digests"] >= 2, report

    digests = sorted((tmp_path / "storage" / "_evidence" / "app1" / "digests").glob("*.json"))
    document = json.loads(digests[0].read_text())
    document["objects"] = document["objects"][1:]  # an object dropped from the first digest
    digests[0].write_text(json.dumps(document))
    code, report = _verify_offline(tmp_path, keys)
    assert code == 1 and "digest 1: the signature does not match the document" in report["problems"], report
    assert "digest 2 does not chain to digest 1 as stored" in report["problems"]


async def test_the_access_log_names_who_saw_what_and_a_removed_row_breaks_its_chain(
    aiohttp_client: AiohttpClient, tmp_path: Path
) -> None:
    client = await _client(aiohttp_client, tmp_path)
    event = await _recorded(client, "ev-log")
    sessions = await client.json("GET", f"{API}/recordings/ev-log/cobrowse", headers=auth("SUPERVISOR"))
    session_id = sessions["cobrowseSessions"][0]["cobrowseSessionId"]
    link = await client.json(
        "GET",
        f"{API}/recordings/{ids(event)}/cobrowse/{session_id}/url/attachment",
        params={"conversationId": "ev-log", "id": event["recorderId"], "instanceId": event["instanceId"]},
        headers=auth("SUPERVISOR"),
    )
    async with client.get(URL(link["url"]).path_qs, headers={"Authorization": ""}) as served:
        assert served.status == 200
    await client.json("GET", f"{API}/recordings/{ids(event)}/verify", headers=auth("AUDITOR"))

    def actions(page: dict[str, Any]) -> list[tuple[str, str]]:
        return [(e["action"], e["caller"]) for e in page["entries"]]

    page = await eventually(
        lambda: client.json("GET", f"{API}/access-log", params={"conversationId": "ev-log"}, headers=auth("AUDITOR")),
        lambda p: ("VERIFIED", "AUDITOR") in actions(p),
        what="the verification logged",
    )
    assert ("LINK_ISSUED", "SUPERVISOR") in actions(page)
    assert ("FILE_SERVED", "SUPERVISOR") in actions(page), "a followed link names whom it was issued to"
    served = next(e for e in page["entries"] if e["action"] == "FILE_SERVED")
    assert (
        served["callerType"] == "LINK"
        and served["object"].endswith(".json")
        and served["recorderId"] == event["recorderId"]
    )
    async with client.get(f"{API}/access-log", params={"format": "csv"}, headers=auth("AUDITOR")) as csv:
        text = await csv.text()
        assert csv.status == 200 and csv.content_type == "text/csv"
    assert text.splitlines()[0].startswith("seq,at,action,caller") and "FILE_SERVED" in text

    check = await client.json("GET", f"{API}/access-log/verify", headers=auth("AUDITOR"))
    assert check["intact"] and check["rows"] >= 4, check
    rows = [e["seq"] for e in (await client.json("GET", f"{API}/access-log", headers=auth("AUDITOR")))["entries"]]
    with sqlite3.connect(tmp_path / "data" / "recorder.sqlite3") as db:  # someone removes a row
        db.execute("DELETE FROM access_log WHERE seq = ?", (rows[1],))
    check = await client.json("GET", f"{API}/access-log/verify", headers=auth("AUDITOR"))
    assert not check["intact"] and check["brokenAt"] == rows[2], check
    assert check["problem"] == "the row before it was removed or changed"
    with sqlite3.connect(tmp_path / "data" / "recorder.sqlite3") as db:  # or edits one (its hash no longer holds)
        db.execute("UPDATE access_log SET caller = 'nobody' WHERE seq = ?", (rows[0],))
    check = await client.json("GET", f"{API}/access-log/verify", headers=auth("AUDITOR"))
    assert not check["intact"] and check["brokenAt"] == rows[0] and "changed" in check["problem"], check


async def test_a_hold_blocks_every_deletion_and_retention_deletes_exactly_the_expired(
    aiohttp_client: AiohttpClient, tmp_path: Path
) -> None:
    settings = make_settings(tmp_path, "http://127.0.0.1:9/janus", **FAST)
    client = await make_client(aiohttp_client, settings, fake_room)
    held = await _recorded(client, "ev-held")
    free = await _recorded(client, "ev-free")
    composition = await client.json(
        "POST", f"{COMPOSITION_API}/request", json={"conversationId": "ev-held", "type": "audio"}
    )
    hold = await client.json("PUT", f"{API}/holds/ev-held", json={"reason": "case 2026-17"}, headers=auth("AUDITOR"))
    assert hold["reason"] == "case 2026-17" and hold["placedBy"] == "AUDITOR"
    assert {o["storageHold"] for o in hold["objects"]} == {"NOT_SUPPORTED"}  # (a folder has no hold of its own)
    assert (await client.json("GET", f"{API}/holds", headers=auth("SUPERVISOR")))["holds"][0][
        "conversationId"
    ] == "ev-held"

    refused = await client.json("DELETE", f"{API}/recordings/ev-held", status=409, headers=auth("ADMIN"))
    assert refused["error"] == "LEGAL_HOLD"
    refused = await client.json(
        "DELETE", f"{COMPOSITION_API}/ev-held/{composition['id']}/delete", status=409, headers=auth("SUPERVISOR")
    )
    assert refused["error"] == "LEGAL_HOLD"
    assert (await client.json("PUT", f"{API}/holds/ev-held", status=400, json={"reason": ""}))[
        "error"
    ] == "INVALID_REQUEST"

    # retention: every recording ended more than about a second ago is expired; the held one is kept
    settings.applications[0].retention.recordings_days = 1 / 86400  # (the service reads its settings each round)
    await eventually(
        lambda: client.request("GET", f"{API}/recordings/ev-free").__aenter__(),
        lambda response: response.status == 404,
        what="the expired recording deleted",
    )
    verified = await client.json("GET", f"{API}/recordings/{ids(held)}/verify")
    assert verified["intact"] and all(o["status"] == "INTACT" for o in verified["objects"])
    log = await client.json("GET", f"{API}/access-log", params={"conversationId": "ev-free"}, headers=auth("AUDITOR"))
    deleted = [e for e in log["entries"] if e["action"] == "DELETED"]
    assert len(deleted) == 1 and deleted[0]["caller"] == "retention", deleted
    receipt = await client.json("GET", f"{API}/deletions/{deleted[0]['detail']}", headers=auth("AUDITOR"))
    keys = Keyring(Keyring.listed(await client.json("GET", f"{API}/evidence/keys")))
    assert keys.check(receipt) is None and receipt["recorderIds"] == [free["recorderId"]]
    assert {o["kind"] for o in receipt["objects"]} == {"CHAT", "COBROWSE", "SEAL"}
    for entry in receipt["objects"]:
        assert not _stored(tmp_path, entry["key"]).exists() and len(entry["sha256"]) == 64
    assert receipt["by"]["caller"] == "retention" and receipt["reason"] == "retention: 1.15741e-05 days"

    released = await client.json("POST", f"{API}/holds/ev-held/release", json={"reason": "case closed"})
    assert released["releaseReason"] == "case closed"
    await client.json("GET", f"{API}/holds/ev-held", status=404)
    await eventually(
        lambda: client.request("GET", f"{API}/recordings/ev-held").__aenter__(),
        lambda response: response.status == 404,
        what="the released recording deleted by retention",
    )


async def test_an_administrator_deletes_a_conversation_and_gets_a_signed_receipt(
    aiohttp_client: AiohttpClient, tmp_path: Path
) -> None:
    client = await _client(aiohttp_client, tmp_path)
    event = await _recorded(client, "ev-del")
    stored = (await client.json("GET", f"{API}/recordings/{ids(event)}/verify"))["objects"]
    live = await client.start(1, "ev-live")
    refused = await client.json("DELETE", f"{API}/recordings/ev-live", status=409, headers=auth("ADMIN"))
    assert refused["error"] == "CONFLICT"
    await client.json("DELETE", f"{API}/recordings/ev-del", status=403, headers=auth("SUPERVISOR"))
    await client.json("DELETE", f"{API}/recordings/ev-del", status=400, json={"reason": ""}, headers=auth("ADMIN"))
    assert all(_stored(tmp_path, o["key"]).exists() for o in stored), "a refused deletion changed nothing"

    receipt = await client.json(
        "DELETE", f"{API}/recordings/ev-del", json={"reason": "customer asked (GDPR art. 17)"}, headers=auth("ADMIN")
    )
    keys = Keyring(Keyring.listed(await client.json("GET", f"{API}/evidence/keys")))
    assert keys.check(receipt) is None
    assert receipt["by"] == {"caller": "ADMIN", "type": "API_KEY", "roles": ["ADMIN"]}
    assert receipt["reason"] == "customer asked (GDPR art. 17)" and receipt["conversationId"] == "ev-del"
    assert {(o["key"], o["sha256"]) for o in receipt["objects"]} == {(o["key"], o["sha256"]) for o in stored}
    assert not any(_stored(tmp_path, o["key"]).exists() for o in stored)
    await client.json("GET", f"{API}/recordings/{ids(event)}", status=404)
    receipt_file = _stored(tmp_path, f"_evidence/app1/receipts/{receipt['id']}.json")
    assert keys.check(json.loads(receipt_file.read_text())) is None
    forged = {**receipt, "reason": "retention"}
    assert keys.check(forged) == "the signature does not match the document"
    await client.json("POST", f"{API}/recordings/{ids(live)}/stop")


async def test_a_pause_for_payment_data_stores_nothing_of_its_span(
    aiohttp_client: AiohttpClient, tmp_path: Path
) -> None:
    client = await _client(aiohttp_client, tmp_path)
    event = await client.start(1, "ev-pci")
    before = datetime.now(UTC)
    paused = await client.json("POST", f"{API}/recordings/{ids(event)}/pause", json={"reason": "PAYMENT"})
    assert paused["pauses"][0]["reason"] == "PAYMENT"
    during = datetime.now(UTC)
    chat = [
        {"timeStamp": (before - timedelta(seconds=1)).isoformat(), "transcript": "I'll pay now", "userId": "u1"},
        {"timeStamp": during.isoformat(), "transcript": "4111 1111 1111 1111", "userId": "u1"},
    ]
    added = await client.json(
        "POST", f"{API}/recordings/chat/transcript/add", json={**_body_ids(event), "chatTranscriptList": chat}
    )
    assert added == {"added": 1, "withheld": 1}
    card = {"sessionId": "s1", "sequenceId": 1, "timestamp": int(during.timestamp() * 1000), "payload": "card"}
    answer = await client.json("POST", f"{API}/recordings/cobrowse/event", json={**_body_ids(event), "event": card})
    assert answer == {"added": False, "withheld": True}
    await client.json("POST", f"{API}/recordings/{ids(event)}/pause", status=400, json={"reason": 7})
    await client.json("POST", f"{API}/recordings/{ids(event)}/resume")
    later = datetime.now(UTC) + timedelta(milliseconds=5)
    late = [{"timeStamp": during.isoformat(), "transcript": "retry of the card", "userId": "u1"}]
    late += [{"timeStamp": later.isoformat(), "transcript": "thanks", "userId": "u1"}]
    added = await client.json(
        "POST", f"{API}/recordings/chat/transcript/add", json={**_body_ids(event), "chatTranscriptList": late}
    )
    assert added == {"added": 1, "withheld": 1}, "an entry timed in the pause is withheld after it too"
    await client.json("POST", f"{API}/recordings/{ids(event)}/stop")
    entries = (await client.json("GET", f"{API}/recordings/{ids(event)}/chat"))["entries"]
    assert [e["transcript"] for e in entries] == ["I'll pay now", "thanks"]
    sessions = await client.json("GET", f"{API}/recordings/ev-pci/cobrowse")
    assert sessions["cobrowseSessions"] == []
    seal = await client.wait_for(f"{API}/recordings/{ids(event)}/verify", lambda v: v["seal"]["status"] == "VALID")
    document = json.loads(_stored(tmp_path, seal["seal"]["key"]).read_text())
    assert [p["reason"] for p in document["pauses"]] == ["PAYMENT"]


async def test_a_recording_with_media_is_sealed_with_every_track_and_its_manifest(
    aiohttp_client: AiohttpClient, tmp_path: Path, janus: JanusHost, room: int, http: aiohttp.ClientSession
) -> None:
    settings = make_settings(tmp_path, janus.url, **FAST)
    client = await make_client(aiohttp_client, settings)
    event = await client.start(room, "ev-media")
    await publish_two_seconds(client, janus, room, http, event)
    await client.json("POST", f"{API}/recordings/{ids(event)}/stop")
    verified = await client.wait_for(f"{API}/recordings/{ids(event)}/verify", lambda v: v["seal"]["status"] == "VALID")
    assert verified["intact"] and sorted(o["kind"] for o in verified["objects"]) == [
        "MANIFEST",
        "SEAL",
        "TRACK",
        "TRACK",
    ]
    info = await client.json("GET", f"{API}/recordings/{ids(event)}")
    stored = {t["storage"]["objectStorage"]["location"] for s in info["streams"] for t in s["tracks"]}
    tracks = [o for o in verified["objects"] if o["kind"] == "TRACK"]
    assert {o["key"] for o in tracks} == stored
    for entry in tracks:  # the hash taken while uploading is the stored file's
        data = _stored(tmp_path, entry["key"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == entry["sha256"] and len(data) == entry["size"] > 10_000
    seal = json.loads(_stored(tmp_path, verified["seal"]["key"]).read_text())
    assert sorted(o["kind"] for o in seal["objects"]) == ["MANIFEST", "TRACK", "TRACK"]


class _Slow(LocalStorage):
    """A storage whose reads wait for `gate` (a verification that takes its time)."""

    gate = asyncio.Event()

    async def read_range(self, key: str, start: int = 0, end: int | None = None) -> AsyncIterator[bytes]:
        await self.gate.wait()
        async for piece in super().read_range(key, start, end):
            yield piece


class _Providers:
    def __init__(self, storage: LocalStorage) -> None:
        self._storage = storage

    async def of(self, application_id: str, recorder_id: str | None = None) -> LocalStorage:
        return self._storage

    async def has_own(self, recorder_id: str) -> bool:
        return False


async def test_an_organization_runs_two_verifications_at_once_and_another_is_not_held_up(tmp_path: Path) -> None:
    store = await open_store(None, tmp_path / "db.sqlite3")
    storage = _Slow(tmp_path / "storage")
    await storage.upload_bytes(b"stored", "k1")
    await storage.upload_bytes(b"stored", "k2")
    mine, theirs = await live_with_stream(store, "c1"), await live_with_stream(store, "c2")
    theirs.organization_id = "org2"
    for key, r in (("k1", mine), ("k2", theirs)):
        record = StoredRecord(r.organization_id, "app1", r.conversation_id, r.recorder_id, None, "TRACK", "t1", key, 6,
                              hashlib.sha256(b"stored").hexdigest(), None, False, datetime.now(UTC))  # fmt: skip
        await store.evidence.record_object(record)

    async def no_documents(*_: object) -> str:
        return ""

    settings = make_settings(tmp_path, "http://127.0.0.1:9/janus")
    signer = EvidenceSigner.kept_in(tmp_path / "evidence.pem")
    providers = cast(Providers, _Providers(storage))
    ledger = Ledger(
        settings,
        store.evidence,
        store.recordings,
        store.compositions,
        providers,
        signer,
        AccessLog(store.evidence),
        no_documents,
    )
    running = [asyncio.create_task(ledger.verify(mine)) for _ in range(2)]
    await asyncio.sleep(0.05)
    with pytest.raises(LimitError) as refused:
        await ledger.verify(mine)
    assert refused.value.retry_after == 5
    other = asyncio.create_task(ledger.verify(theirs))  # another organization's is not refused
    await asyncio.sleep(0.05)
    assert not other.done()
    _Slow.gate.set()
    answers = [await task for task in [*running, other]]
    assert [a["objects"][0]["status"] for a in answers] == ["INTACT"] * 3
    assert (await ledger.verify(mine))["intact"], "a slot is free again"
    await store.aclose()
