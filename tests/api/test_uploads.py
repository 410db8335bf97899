"""Uploads never lose a file: storage outages, refused credentials, restarts, a full spool, and the admin API
that sets storage profiles (credentials write-only and encrypted at rest)."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yarl
from pytest_aiohttp import AiohttpClient

from storage_providers.registry import create_provider
from tests.builders import make_client, make_settings
from tests.client import API, ids, uploaded
from tests.eventually import eventually
from tests.janus_host import JanusHost
from tests.publisher import publish_two_seconds
from tests.storage_servers import Servers, profile, profile_data, start_s3rver

OUTAGE_SECONDS = 12  # several attempts refused on the shortened schedule below (0.5 s doubling to 3 s)
FAST_RETRIES: dict[str, Any] = {
    "upload_backoff_seconds": 0.5,
    "upload_backoff_max_seconds": 3,
    "upload_max_attempts": 1000,
}


def _settings(tmp_path: Path, janus_url: str, storage: dict[str, Any], **overrides: Any) -> Any:
    app = {"id": "app1", "organization_id": "org1", "janus": {"url": janus_url}, "storage": storage}
    return make_settings(tmp_path, janus_url, applications=[app], **{**FAST_RETRIES, **overrides})


def _tracks(info: Any) -> list[Any]:
    return [t for s in info["streams"] for t in s["tracks"]]


@pytest.mark.timeout(240)
async def test_an_outage_of_the_storage_loses_nothing(
    aiohttp_client: AiohttpClient, tmp_path: Path, janus: JanusHost, room: int, http: aiohttp.ClientSession
) -> None:
    s3 = start_s3rver(tmp_path)
    try:
        client = await make_client(aiohttp_client, _settings(tmp_path, janus.url, profile_data("s3rver", s3)))
        event = await client.start(room, "conv-outage")
        await client.json("POST", f"{API}/recordings/chat/transcript/add", json={
            "conversationId": event["conversationId"], "recorderId": event["recorderId"],
            "instanceId": event["instanceId"],
            "chatTranscriptList": [{"timeStamp": "2026-11-21T10:00:00Z", "transcript": "hi", "userId": "u1"}],
        })  # fmt: skip
        await publish_two_seconds(client, janus, room, http, event)
        s3.stop()  # the storage goes away while the recording is stopped and its files are uploaded
        await client.json("POST", f"{API}/recordings/{ids(event)}/stop")

        kept: dict[str, bytes] = {}
        for _ in range(OUTAGE_SECONDS):
            info = await client.json("GET", f"{API}/recordings/{ids(event)}")
            for track in _tracks(info):
                storage = track["storage"]
                assert "deleted" not in storage["localStorage"], "a local file was deleted before it was stored"
                assert "objectStorage" not in storage, storage
                local = Path(storage["localStorage"]["location"])
                assert local.is_file()
                kept[track["id"]] = local.read_bytes()
            assert "chatTranscript" not in info
            await asyncio.sleep(1)
        assert len(kept) == 2

        s3.start()
        info = await client.wait_for(f"{API}/recordings/{ids(event)}", uploaded, seconds=30)
        info = await client.wait_for(f"{API}/recordings/{ids(event)}", lambda i: "chatTranscript" in i)
        for track in _tracks(info):
            storage = track["storage"]
            assert "error" not in storage["objectStorage"] and storage["localStorage"]["deleted"]
            assert not Path(storage["localStorage"]["location"]).exists()
            assert int(storage["objectStorage"]["size"]) == len(kept[track["id"]])
            url = yarl.URL(track["url"])
            assert url.port == s3.port and "X-Amz-Signature" in url.query, "a presigned URL of the storage"
            async with http.get(track["url"]) as answer:  # no credentials
                assert answer.status == 200
                assert await answer.read() == kept[track["id"]], "the stored object is the recorded file"
    finally:
        s3.stop()


@pytest.mark.timeout(120)
async def test_refused_credentials_are_reported_and_the_file_kept_until_fixed(
    aiohttp_client: AiohttpClient,
    tmp_path: Path,
    janus: JanusHost,
    room: int,
    http: aiohttp.ClientSession,
    servers: Servers,
) -> None:
    s3 = servers.targets["s3rver"]
    bad = profile_data("s3rver", s3, credentials={"accessKeyId": "NOT-KNOWN", "secretAccessKey": "x"})
    client = await make_client(aiohttp_client, _settings(tmp_path, janus.url, bad))

    verify = await client.json("POST", f"{API}/storageproviders/app1/verify")
    assert verify["bucketTestResult"]["passed"] is False
    assert "access key id is not known" in verify["bucketTestResult"]["message"], verify
    assert verify["writeTestResult"]["message"].startswith("not run")

    event = await client.start(room, "conv-refused")
    await publish_two_seconds(client, janus, room, http, event)
    await client.json("POST", f"{API}/recordings/{ids(event)}/stop")
    path = f"{API}/recordings/{ids(event)}"
    info = await client.wait_for(path, lambda i: uploaded(i) and "error" in i.get("manifest", {}))
    assert info["manifest"]["error"]["code"] == "STORAGE_DESTINATION_REFUSED", "the manifest is not stored either"
    for track in _tracks(info):
        error = track["storage"]["objectStorage"]["error"]
        assert error["code"] == "STORAGE_DESTINATION_REFUSED" and "InvalidAccessKeyId" in error["message"]
        assert "deleted" not in track["storage"]["localStorage"]
        assert Path(track["storage"]["localStorage"]["location"]).is_file(), "the local file is kept"
        async with http.get(track["url"]) as answer:  # the service's own link serves the local file meanwhile
            assert answer.status == 200 and len(await answer.read()) > 1000

    # the retry extension queues the failed uploads again (both tracks and the manifest); still refused
    assert await client.json("POST", f"{path}/upload", status=202) == {"queued": 3}
    info = await client.wait_for(
        path, lambda i: uploaded(i) and all("objectStorage" in t["storage"] for t in _tracks(i))
    )
    assert all(t["storage"]["objectStorage"]["error"] for t in _tracks(info))

    # the administrator fixes the profile: the failed uploads go up with it
    await client.json("PUT", f"{API}/storageproviders/app1", json=profile_data("s3rver", s3))
    info = await client.wait_for(
        path, lambda i: all(t["storage"].get("objectStorage", {}).get("uploaded") for t in _tracks(i))
    )
    for track in _tracks(info):
        assert "error" not in track["storage"]["objectStorage"]
        async with http.get(track["url"]) as answer:
            assert answer.status == 200 and len(await answer.read()) == int(track["storage"]["objectStorage"]["size"])
    info = await client.wait_for(path, lambda i: "location" in i.get("manifest", {}))  # (absent while it is queued)
    assert "error" not in info["manifest"], "the manifest went up with them"
    assert await client.json("POST", f"{path}/upload", status=202) == {"queued": 0}


async def test_a_restart_resumes_unfinished_uploads(aiohttp_client: AiohttpClient, tmp_path: Path) -> None:
    """A chat transcript of a recording that failed to join goes to a storage that is down; the service
    stops; the storage comes back; a new service on the same data takes the upload up."""
    s3 = start_s3rver(tmp_path)
    try:
        # the stop waits this long for the upload under way (the storage is down: it cannot finish)
        settings = _settings(
            tmp_path, "http://127.0.0.1:9/janus", profile_data("s3rver", s3), shutdown_upload_deadline_seconds=2
        )
        s3.stop()
        client = await make_client(aiohttp_client, settings)
        event = await client.start(1, "conv-restart")
        assert event["state"] == "FAILED"
        await client.json("POST", f"{API}/recordings/chat/transcript/add", json={
            "conversationId": event["conversationId"], "recorderId": event["recorderId"],
            "instanceId": event["instanceId"],
            "chatTranscriptList": [{"timeStamp": "2026-11-21T10:00:00Z", "transcript": "kept", "userId": "u1"}],
        })  # fmt: skip
        await asyncio.sleep(1)
        assert "chatTranscript" not in await client.json("GET", f"{API}/recordings/{ids(event)}")
        await client.close()
        spooled = list((tmp_path / "data" / "spool" / "artifacts").iterdir())
        assert len(spooled) == 1, "the transcript waits on local disk"

        s3.start()
        client = await make_client(aiohttp_client, settings)
        info = await client.wait_for(f"{API}/recordings/{ids(event)}", lambda i: "chatTranscript" in i)
        location = info["chatTranscript"]["location"]
        assert location == f"org1/conv-restart/{event['recorderId']}/chat/transcript.json"
        async with create_provider(profile("s3rver", s3)) as storage:
            assert b'"transcript": "kept"' in await storage.read(location)
        assert not spooled[0].exists(), "the local copy goes once it is stored"
    finally:
        s3.stop()


async def test_a_nearly_full_spool_refuses_new_recordings(aiohttp_client: AiohttpClient, tmp_path: Path) -> None:
    settings = make_settings(
        tmp_path, "http://127.0.0.1:9/janus", spool_quota_bytes=3 << 20, spool_headroom_bytes=2 << 20
    )
    client = await make_client(aiohttp_client, settings)
    spool = tmp_path / "data" / "spool"
    spool.mkdir(parents=True, exist_ok=True)
    (spool / "left-over.webm").write_bytes(b"\0" * (2 << 20))  # 1 MiB left: less than the headroom
    body = {"applicationId": "app1", "conferenceId": "1", "conversationId": "conv-full"}
    async with client.post(f"{API}/recordings/start", json=body) as answer:
        assert answer.status == 503
        assert answer.headers["Retry-After"] == "60"
        error = await answer.json()
    assert error["error"] == "SPOOL_FULL" and "nearly full" in error["message"]
    await client.json("GET", f"{API}/recordings/conv-full", status=404)  # nothing was started

    (spool / "left-over.webm").unlink()  # uploads freed space
    assert (await client.start(1, "conv-full"))["state"] == "FAILED"  # taken (its room does not exist)


async def test_storage_profiles_through_the_admin_api(
    aiohttp_client: AiohttpClient, tmp_path: Path, servers: Servers, caplog: pytest.LogCaptureFixture
) -> None:
    settings = make_settings(tmp_path, "http://127.0.0.1:9/janus")
    client = await make_client(aiohttp_client, settings)
    path = f"{API}/storageproviders/app1"
    configured = await client.json("GET", path)
    assert configured["source"] == "CONFIGURATION" and configured["provider"] == "LOCAL_STORAGE"

    azure = profile_data("azurite", servers.targets["azurite"])
    secret = azure["credentials"]["accountKey"]
    kept = await client.json("PUT", path, json=azure)
    assert kept == {
        "applicationId": "app1",
        "source": "API",
        "provider": "AZURE_BLOB",
        "keyTemplate": "{organizationId}/{conversationId}/{recorderId}/{streamId}/{trackId}.{ext}",
        "accountName": "devstoreaccount1",
        "container": "recordings",
        "endpointUrl": azure["endpointUrl"],
        "blockSizeBytes": 4 << 20,
        "singlePutBytes": 8 << 20,
        "hasCredentials": True,
    }
    assert await client.json("GET", path) == kept
    verify = await client.json("POST", f"{path}/verify")
    assert all(verify[t]["passed"] for t in verify), verify

    # write-only: a change without credentials keeps them
    moved = await client.json("PUT", path, json={k: v for k, v in azure.items() if k != "credentials"} | {
        "keyTemplate": "rec/{conversationId}/{recorderId}/{trackId}.{ext}"})  # fmt: skip
    assert moved["keyTemplate"].startswith("rec/") and moved["hasCredentials"] is True
    assert all(v["passed"] for v in (await client.json("POST", f"{path}/verify")).values())

    for bad in (
        {"provider": "LOCAL_STORAGE", "path": "/etc"},
        {**azure, "keyTemplate": "{conversationId}/{trackId}.{ext}"},  # no recorderId: files would collide
        {**azure, "keyTemplate": "{unknown}/{recorderId}/{trackId}"},
        {**azure, "container": ""},
        {"provider": "SFTP_STORAGE", "host": "h", "username": "u", "hostKey": "k", "credentials": {}},
        {"provider": "FTP"},
    ):
        answer = await client.json("PUT", path, status=400, json=bad)
        assert answer["error"] in ("INVALID_REQUEST", "BAD_REQUEST"), answer
        assert secret not in str(answer)
    assert (await client.json("GET", path))["keyTemplate"].startswith("rec/"), "refused bodies changed nothing"

    # encrypted at rest, never logged, and read back after a restart
    await client.close()
    database = (tmp_path / "data" / "recorder.sqlite3").read_bytes()
    wal = tmp_path / "data" / "recorder.sqlite3-wal"
    assert secret.encode() not in database + (wal.read_bytes() if wal.exists() else b"")
    assert secret not in caplog.text
    client = await make_client(aiohttp_client, settings)
    assert (await client.json("GET", path))["source"] == "API"
    assert all(v["passed"] for v in (await client.json("POST", f"{path}/verify")).values())

    async with client.delete(path) as answer:
        assert answer.status == 204
    assert (await client.json("GET", path))["source"] == "CONFIGURATION"
    await client.json("DELETE", path, status=404)


async def test_sftp_files_are_streamed_through_the_services_own_links(
    aiohttp_client: AiohttpClient, tmp_path: Path, servers: Servers, http: aiohttp.ClientSession
) -> None:
    sftp = servers.targets["sftp"]
    settings = _settings(tmp_path, "http://127.0.0.1:9/janus", profile_data("sftp", sftp))
    client = await make_client(aiohttp_client, settings)
    event = await client.start(1, "conv-sftp")
    events = [{"payload": "x" * 5000, "sequenceId": n, "sessionId": "s1", "timestamp": n} for n in range(1, 4)]
    for body in events:
        await client.json("POST", f"{API}/recordings/cobrowse/event", json={
            "conversationId": event["conversationId"], "recorderId": event["recorderId"],
            "instanceId": event["instanceId"], "event": body})  # fmt: skip
    await client.wait_for(f"{API}/recordings/conv-sftp/cobrowse", lambda i: "uploaded" in i["cobrowseSessions"][0])
    query = {"conversationId": event["conversationId"], "id": event["recorderId"], "instanceId": event["instanceId"]}
    link = await client.json("GET", f"{API}/recordings/{ids(event)}/cobrowse/s1/url/attachment", params=query)

    def stored_now() -> bytes:
        return b"".join(f.read_bytes() for f in sftp.root.rglob("s1.json"))

    # each event after the end stores the session again: wait for the last one
    stored = await eventually(lambda: asyncio.to_thread(stored_now), lambda data: data.count(b'"sequenceId"') == 3)
    base = str(client.make_url(""))
    url = base.rstrip("/") + yarl.URL(link["url"]).path_qs
    async with http.get(url) as answer:
        assert answer.status == 200 and await answer.read() == stored
    async with http.get(url, headers={"Range": "bytes=100-199"}) as answer:
        assert answer.status == 206 and answer.headers["Content-Range"] == f"bytes 100-199/{len(stored)}"
        assert await answer.read() == stored[100:200]
    async with http.get(url, headers={"Range": "bytes=-10"}) as answer:
        assert answer.status == 206 and await answer.read() == stored[-10:]
    async with http.get(url, headers={"Range": f"bytes={len(stored)}-"}) as answer:
        assert answer.status == 416 and answer.headers["Content-Range"] == f"bytes */{len(stored)}"
    shutil.rmtree(sftp.root / "org1", ignore_errors=True)
