"""The RealtimeKit facade as a RealtimeKit backend calls it (Basic organization id and API key), over a real
Janus room with a real publisher: start, active, pause, resume, stop (one call with an action), fetch, list with
paging and filters, download what the URLs give; participant audio tracks; RealtimeKit's errors."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
from pathlib import Path
from typing import Any

import aiohttp
import asyncssh
import av
import pytest
from pytest_aiohttp import AiohttpClient

from api.keys import SETTINGS
from tests.builders import Client, make_client, make_settings
from tests.client import API
from tests.events.receiver import Receiver, new_secret
from tests.eventually import eventually
from tests.janus_host import JanusHost
from tests.publisher import Publisher, display
from tests.storage_servers import BUCKET, S3RVER_KEY, SFTP_USER, Servers

ORG, KEY = "rtk-org-0001", "rtk-api-key-0123456789abcdef"
BASE = "/realtimekit/v2/recordings"


def basic(org: str = ORG, key: str = KEY) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{org}:{key}".encode()).decode()}


@pytest.fixture
async def client(aiohttp_client: AiohttpClient, tmp_path: Path, janus: JanusHost) -> Client:
    keys = [{"organization_id": ORG, "api_key": KEY, "application_id": "app1"}]
    return await make_client(aiohttp_client, make_settings(tmp_path, janus.url, realtimekit_keys=keys))


async def rtk(client: Client, method: str, path: str, status: int = 200, **kw: Any) -> Any:
    return await client.json(method, BASE + path, status, headers=basic(), **kw)


def decodes(data: bytes, tmp_path: Path, name: str) -> int:
    path = tmp_path / name
    path.write_bytes(data)
    with av.open(str(path)) as container:
        return sum(1 for _ in container.decode(container.streams[0]))


async def test_a_meeting_recorded_paused_resumed_stopped_listed_and_downloaded(
    client: Client, janus: JanusHost, http: aiohttp.ClientSession, room: int, tmp_path: Path
) -> None:
    receiver = Receiver(secrets={"/rtk": new_secret()})  # RealtimeKit's recording.statusUpdate, signed
    await receiver.start()
    hook = {"url": receiver.url("/rtk"), "secret": receiver.secrets["/rtk"], "format": "realtimekit"}
    await client.json("POST", f"{API}/webhooks/app1", 201, json=hook)
    alice = Publisher(http, janus.url, room, display("alice"))
    try:
        await alice.join()
        await alice.publish()
        body = {"meeting_id": str(room), "max_seconds": 600, "file_name_prefix": "sales/q4"}
        started = await rtk(client, "POST", "", json=body)
        assert started["success"] is True
        recording = started["data"]
        assert recording["status"] == "RECORDING" and recording["invoked_time"] and recording["started_time"]
        assert recording["start_reason"] == {
            "reason": "API_CALL",
            "caller": {"name": ORG, "type": "ORGANIZATION"},
        }
        again = await rtk(client, "POST", "", 400, json={"meeting_id": str(room)})
        assert again == {
            "success": False,
            "error": {"code": 400, "message": "The meeting already has an active recording"},
        }
        active = await rtk(client, "GET", f"/active-recording/{room}")
        assert active["data"]["id"] == recording["id"]
        await asyncio.sleep(1.5)
        for action, status in (("pause", "PAUSED"), ("resume", "RECORDING")):
            answer = await rtk(client, "PUT", f"/{recording['id']}", json={"action": action})
            assert answer["data"]["status"] == status
            await asyncio.sleep(1)
        stopped = await rtk(client, "PUT", f"/{recording['id']}", json={"action": "stop"})
        assert stopped["data"]["status"] in ("UPLOADING", "UPLOADED") and stopped["data"]["stopped_time"]
    finally:
        await alice.leave()
    done = await eventually(
        lambda: rtk(client, "GET", f"/{recording['id']}"),
        lambda got: got["data"]["status"] == "UPLOADED",
        within=20,
        what="UPLOADED",
    )
    data = done["data"]
    assert data["stop_reason"]["reason"] == "API_CALL" and data["recording_duration"] > 3
    assert data["output_file_name"].startswith(f"sales/q4/org1/{room}/{recording['id']}/"), data["output_file_name"]
    for field, name in (("download_url", "video.webm"), ("audio_download_url", "audio.webm")):
        async with http.get(data[field]) as answer:  # no Authorization: the link is signed
            assert answer.status == 200
            assert decodes(await answer.read(), tmp_path, name) > 10, field
    # the same recording through our own API: paused once, stopped by the RealtimeKit organization's key
    instance = client.app[SETTINGS].instance_id  # (one instance: the one of this test)
    ours = await client.json("GET", f"{API}/recordings/{room}/{recording['id']}/{instance}")
    assert len(ours["pauses"]) == 1 and ours["stopReason"]["caller"] == {"name": ORG, "type": "API_KEY"}
    listed = await rtk(client, "GET", f"?meeting_id={room}&per_page=1&page_no=1")
    assert listed["paging"] == {"total_count": 1, "start_offset": 0, "end_offset": 0}
    assert [r["id"] for r in listed["data"]] == [recording["id"]]
    assert (await rtk(client, "GET", "?status=UPLOADED"))["data"][0]["id"] == recording["id"]
    assert (await rtk(client, "GET", "?status=RECORDING"))["data"] == []
    assert (await rtk(client, "GET", "?page_no=2&per_page=1"))["data"] == []
    # the webhooks: every status change, each signed (the receiver verifies with standardwebhooks)
    statuses = await eventually(
        lambda: _statuses(receiver),
        lambda got: "UPLOADED" in got,
        within=20,
        what="the UPLOADED webhook",
    )
    await receiver.stop()
    assert statuses == ["RECORDING", "PAUSED", "RECORDING", "UPLOADING", "UPLOADED"] and not receiver.errors
    assert all(r.body["recording"]["id"] == recording["id"] for r in receiver.at("/rtk"))


async def _statuses(receiver: Receiver) -> list[str]:
    return [r.body["recording"]["status"] for r in receiver.at("/rtk")]


async def test_participant_audio_tracks_record_everyones_audio_only(
    client: Client, janus: JanusHost, http: aiohttp.ClientSession, room: int
) -> None:
    publishers = [Publisher(http, janus.url, room, display(user)) for user in ("alice", "bob")]
    try:
        for publisher in publishers:
            await publisher.join()
            await publisher.publish()
        started = await rtk(client, "POST", "/track", json={"meeting_id": str(room), "layers": {}})
        await asyncio.sleep(2)
        await rtk(client, "PUT", f"/{started['data']['recording']['id']}", json={"action": "stop"})
    finally:
        for publisher in publishers:
            await publisher.leave()
    ours = await client.json("GET", f"{API}/recordings/{room}")
    tracks = [t for r in ours["recordings"] for s in r["streams"] for t in s["tracks"]]
    assert sorted(t["type"] for t in tracks) == ["AUDIO", "AUDIO"]


async def test_realtimekits_errors(client: Client, room: int) -> None:
    for headers in ({}, basic(key="wrong"), basic(org="other"), {"Authorization": "Basic !!!"}):
        answer = await client.json("GET", BASE, 401, headers=headers)
        assert answer["success"] is False and answer["error"]["code"] == 401
    for body, problem in (
        ({}, '"meeting_id" is required'),
        ({"meeting_id": str(room), "max_seconds": 30}, '"max_seconds" input should be greater than or equal to 60'),
    ):
        answer = await rtk(client, "POST", "", 400, json=body)
        assert answer["error"] == {"code": 400, "message": answer["error"]["message"]}
        assert answer["error"]["message"].startswith(problem), answer
    assert (await rtk(client, "GET", "/no-such-recording", 404))["error"]["code"] == 404
    assert (await rtk(client, "GET", f"/active-recording/{room}", 404))["success"] is False
    await rtk(client, "PUT", "/no-such-recording", 400, json={"action": "explode"})
    await rtk(client, "GET", "?per_page=0", 400)
    await client.json("GET", f"{API}/recordings/{room}", 404)  # nothing was started


async def test_storage_config_sends_a_recordings_files_to_its_own_s3_or_sftp_and_keeps_its_secrets(
    client: Client,
    janus: JanusHost,
    http: aiohttp.ClientSession,
    room: int,
    servers: Servers,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    sftp = servers.targets["sftp"]
    passphrase = "rtk-sftp-key-passphrase-6b1d"
    locked = asyncssh.import_private_key(sftp.client_key).export_private_key("openssh", passphrase).decode()
    s3 = {
        "type": "aws",
        "access_key": S3RVER_KEY[0],
        "secret": S3RVER_KEY[1],
        "bucket": BUCKET,
        "region": "us-east-1",
        "path": "rtk/exports",
        "endpoint_url": servers.targets["s3rver"].url,
    }
    key_login = {
        "type": "sftp",
        "host": "127.0.0.1",
        "port": sftp.server.port,
        "username": SFTP_USER,
        "auth_method": "KEY",
        "private_key": locked,
        "password": passphrase,
        "path": str(sftp.root / "rtk"),
        "host_key": sftp.host_key,
    }
    secrets = [S3RVER_KEY[1], passphrase, locked.splitlines()[1]]
    answers: list[str] = []
    alice = Publisher(http, janus.url, room, display("alice"))
    try:
        await alice.join()
        await alice.publish()
        for storage_config in (s3, key_login):
            body = {"meeting_id": str(room), "file_name_prefix": "q4", "storage_config": storage_config}
            started = await rtk(client, "POST", "", json=body)
            hidden = ("access_key", "secret", "password", "private_key", "endpoint_url", "host_key")  # (ours too)
            public = {k: v for k, v in storage_config.items() if k not in hidden}
            assert started["data"]["storage_config"] == public
            await asyncio.sleep(2)
            recording_id = started["data"]["id"]
            await rtk(client, "PUT", f"/{recording_id}", json={"action": "stop"})
            done = await eventually(
                lambda: rtk(client, "GET", f"/{recording_id}"),  # noqa: B023 - awaited here
                lambda got: got["data"]["status"] == "UPLOADED",
                within=30,
                what="UPLOADED",
            )
            answers.append(json.dumps(started) + json.dumps(done))
            data = done["data"]
            for field, name in (("download_url", "video.webm"), ("audio_download_url", "audio.webm")):
                assert data[field].startswith(str(client.make_url("/"))), "our own link, not the storage's"
                async with http.get(data[field]) as answer:  # streamed from the recording's own storage
                    assert answer.status == 200
                    assert decodes(await answer.read(), tmp_path, name) > 10, field
            if storage_config is s3:
                assert data["output_file_name"].startswith(f"rtk/exports/q4/org1/{room}/{recording_id}/")
                # UPLOADED tells the track files; the manifest follows them (it may wait for an upload worker)
                stored = await eventually(
                    lambda: _s3_keys(servers, recording_id),  # noqa: B023 - awaited here
                    lambda keys: len(keys) >= 3,
                    within=10,
                    what="the manifest stored too",
                )
                assert all(k.startswith(f"rtk/exports/q4/org1/{room}/{recording_id}/") for k in stored), stored
                assert sorted(k.rsplit(".", 1)[1] for k in stored) == ["json", "webm", "webm"], stored  # + manifest
            else:
                files = sorted((sftp.root / "rtk").rglob("*.webm"))
                assert len(files) == 2 and all(f"q4/org1/{room}/{recording_id}/" in str(f) for f in files), files
            # nothing of it went to the application's own storage
            assert not list((tmp_path / "storage").rglob(f"*{recording_id}*"))
    finally:
        await alice.leave()
    logged = caplog.text
    for secret in secrets:
        assert secret not in logged, "a storage_config secret was logged"
        assert all(secret not in answer for answer in answers), "a storage_config secret was answered"
    assert "S3RVER" not in logged and all("S3RVER" not in a for a in answers)


async def _s3_keys(servers: Servers, recording_id: str) -> list[str]:
    import boto3

    s3 = boto3.client(
        "s3",
        endpoint_url=servers.targets["s3rver"].url,
        aws_access_key_id=S3RVER_KEY[0],
        aws_secret_access_key=S3RVER_KEY[1],
        region_name="us-east-1",
    )
    listed = await asyncio.to_thread(s3.list_objects_v2, Bucket=BUCKET, Prefix="rtk/")
    return [o["Key"] for o in listed.get("Contents", []) if recording_id in o["Key"]]


async def test_a_bad_storage_config_is_refused_and_starts_nothing(client: Client, room: int) -> None:
    for storage_config, problem in (
        ({"type": "aws", "access_key": "a", "secret": "s"}, "storage_config.bucket is required for aws storage"),
        ({"type": "digitalocean", "bucket": "bkt", "access_key": "a", "secret": "s"}, "storage_config.region is"),
        ({"type": "gcs", "bucket": "bkt"}, "storage_config.secret is required for gcs storage"),
        ({"type": "sftp", "host": "h", "username": "u", "password": "p"}, "storage_config.host_key is required"),
        (
            {"type": "sftp", "host": "h", "username": "u", "auth_method": "KEY", "host_key": "k"},
            "storage_config.private_key",
        ),
        ({"type": "box"}, '"storage_config.type" input should be'),
    ):
        answer = await rtk(client, "POST", "", 400, json={"meeting_id": str(room), "storage_config": storage_config})
        assert answer["error"]["message"].startswith(problem), answer
    await client.json("GET", f"{API}/recordings/{room}", 404)  # nothing was started
