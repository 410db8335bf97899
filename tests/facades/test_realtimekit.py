"""The RealtimeKit facade as a RealtimeKit backend calls it (Basic organization id and API key), over a real
Janus room with a real publisher: start, active, pause, resume, stop (one call with an action), fetch, list with
paging and filters, download what the URLs give; participant audio tracks; RealtimeKit's errors."""

from __future__ import annotations

import asyncio
import base64
from pathlib import Path
from typing import Any

import aiohttp
import av
import pytest
from pytest_aiohttp import AiohttpClient

from api.keys import SETTINGS
from tests.client import API
from tests.conftest import Client, make_client, make_settings
from tests.eventually import eventually
from tests.janus_host import JanusHost
from tests.publisher import Publisher, display

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
    alice = Publisher(http, janus.url, room, display("alice"))
    try:
        await alice.join()
        await alice.publish()
        body = {"meeting_id": str(room), "max_seconds": 600, "file_name_prefix": "sales/q4"}
        started = await rtk(client, "POST", "", 201, json=body)
        assert started["success"] is True
        recording = started["data"]
        assert recording["status"] == "RECORDING" and recording["invoked_time"] and recording["started_time"]
        assert recording["start_reason"] == {
            "reason": "API_CALL",
            "caller": {"name": ORG, "type": "ORGANIZATION", "user_Id": None},
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


async def test_participant_audio_tracks_record_everyones_audio_only(
    client: Client, janus: JanusHost, http: aiohttp.ClientSession, room: int
) -> None:
    publishers = [Publisher(http, janus.url, room, display(user)) for user in ("alice", "bob")]
    try:
        for publisher in publishers:
            await publisher.join()
            await publisher.publish()
        started = await rtk(client, "POST", "/track", 201, json={"meeting_id": str(room), "layers": {}})
        await asyncio.sleep(2)
        await rtk(client, "PUT", f"/{started['data']['id']}", json={"action": "stop"})
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
        ({"meeting_id": str(room), "storage_config": {"type": "aws"}}, "storage_config is not supported yet"),
    ):
        answer = await rtk(client, "POST", "", 400, json=body)
        assert answer["error"] == {"code": 400, "message": answer["error"]["message"]}
        assert answer["error"]["message"].startswith(problem), answer
    assert (await rtk(client, "GET", "/no-such-recording", 404))["error"]["code"] == 404
    assert (await rtk(client, "GET", f"/active-recording/{room}", 404))["success"] is False
    await rtk(client, "PUT", "/no-such-recording", 400, json={"action": "explode"})
    await rtk(client, "GET", "?per_page=0", 400)
    await client.json("GET", f"{API}/recordings/{room}", 404)  # nothing was started
