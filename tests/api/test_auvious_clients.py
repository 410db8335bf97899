"""Calls of Auvious's published clients and documentation: a stop with the ids in the body, conference ids
(GUIDs on a Janus with string room ids; ids that can never be rooms refused before anything starts), and the
`screen` flag."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Iterator
from typing import Any

import aiohttp
import pytest
from pytest_aiohttp import AiohttpClient

from tests.builders import Client, auth, make_client, make_settings
from tests.client import API, ids
from tests.janus_host import JanusHost, start_janus
from tests.publisher import Publisher, display, publish_two_seconds

GUID_ROOMS = [str(uuid.UUID(int=n)) for n in range(1, 5)]


@pytest.fixture(scope="module")
def janus_guids() -> Iterator[JanusHost]:
    """A second Janus whose VideoRoom has `string_ids` set, with GUID rooms (Auvious's conference ids)."""
    host = start_janus(GUID_ROOMS, subnet=(os.getpid() + 7) % 250 + 1, string_ids=True)
    yield host
    host.stop()


async def test_stop_with_the_ids_in_the_body(client: Client, janus: JanusHost, room: int) -> None:
    event = await client.start(room, "conv-body-stop")
    assert event["state"] == "ACTIVE"
    body = {"applicationId": "app1", "recorderId": event["recorderId"], "instanceId": event["instanceId"]}
    for wrong in (
        {**body, "applicationId": "app2"},
        {**body, "recorderId": "nope"},
        {**body, "instanceId": "nope"},
        {**body, "conversationId": "another-conversation"},
    ):
        assert (await client.json("POST", f"{API}/recordings/stop", 404, json=wrong))["error"] == "NOT_FOUND"
    for bad in ({k: v for k, v in body.items() if k != "recorderId"}, {**body, "instanceId": 7}, [body]):
        assert (await client.json("POST", f"{API}/recordings/stop", 400, json=bad))["error"] == "INVALID_REQUEST"
    assert await client.json("POST", f"{API}/recordings/stop", 404, json=body, headers=auth("other"))
    assert (await client.json("GET", f"{API}/recordings/{ids(event)}/state"))["state"] == "ACTIVE"

    stopped = await client.json("POST", f"{API}/recordings/stop", json=body, headers=auth("AGENT"))
    assert stopped == {**event, "state": "STOPPED"}
    again = await client.json("POST", f"{API}/recordings/stop", json={**body, "conversationId": "conv-body-stop"})
    assert again == stopped, "stopping a stopped recording answers it as it is"
    assert await client.json("POST", f"{API}/recordings/{ids(event)}/stop") == stopped  # the path form agrees


async def test_conference_ids_that_can_never_be_rooms_are_refused(client: Client) -> None:
    """The application's Janus has numeric room ids: a GUID, "null" or a number out of range is a 400, and no
    recording is made."""
    never = ["null", "NULL", "undefined", str(uuid.uuid4()), "0", "007", "12a", "-5", str(1 << 63), "1.5"]
    for number, conference_id in enumerate(never):
        conversation = f"conv-never-{number}"
        body = {"applicationId": "app1", "conferenceId": conference_id, "conversationId": conversation}
        answer = await client.json("POST", f"{API}/recordings/start", 400, json=body)
        assert answer["error"] == "INVALID_CONFERENCE_ID" and "conferenceId" in answer["message"], answer
        assert (await client.json("GET", f"{API}/recordings/{conversation}", 404))["error"] == "NOT_FOUND"
    assert await client.json("POST", f"{API}/recordings/start", 400, json={**body, "conferenceId": ""})
    biggest = await client.start((1 << 63) - 1, "conv-biggest-room")  # a number Janus can have: it says so
    assert biggest["state"] == "FAILED" and biggest["error"]["code"] == "ROOM_NOT_FOUND", biggest


async def test_a_janus_with_string_room_ids_records_guid_conferences(
    aiohttp_client: AiohttpClient, tmp_path: Any, janus_guids: JanusHost, http: aiohttp.ClientSession
) -> None:
    app = {
        "id": "app1",
        "organization_id": "org1",
        "janus": {"url": janus_guids.url, "string_ids": True},
        "storage": {"provider": "LOCAL_STORAGE", "path": str(tmp_path / "storage")},
    }
    client = await make_client(aiohttp_client, make_settings(tmp_path, janus_guids.url, applications=[app]))
    room = GUID_ROOMS[0]
    event = await client.start(room, "conv-guid")
    await publish_two_seconds(client, janus_guids, room, http, event)
    await client.json("POST", f"{API}/recordings/{ids(event)}/stop")
    info = await client.json("GET", f"{API}/recordings/{ids(event)}")
    assert info["conferenceId"] == room
    (stream,) = info["streams"]
    assert sorted(t["type"] for t in stream["tracks"]) == ["AUDIO", "VIDEO"]
    unknown = await client.start(str(uuid.uuid4()), "conv-guid-unknown")
    assert unknown["state"] == "FAILED" and unknown["error"]["code"] == "ROOM_NOT_FOUND", unknown
    body = {"applicationId": "app1", "conferenceId": "null", "conversationId": "conv-guid-null"}
    assert (await client.json("POST", f"{API}/recordings/start", 400, json=body))["error"] == "INVALID_CONFERENCE_ID"


async def test_screen_false_leaves_screen_shares_out(
    client: Client, janus: JanusHost, http: aiohttp.ClientSession, room: int
) -> None:
    """Two recordings of one room: `screen: false` records the camera only; without `screen` (the same as
    `video`) the screen share too."""
    without = await client.start(room, "conv-no-screen", screen=False)
    default = await client.start(room, "conv-screen-default")
    camera = Publisher(http, janus.url, room, display("dana", "CAM"))
    screen = Publisher(http, janus.url, room, display("dana", "SCREEN"), audio=False)
    try:
        for publisher in (camera, screen):
            await publisher.join()
            await publisher.publish()
        await client.wait_tracks(default, "dana", 3)
        await asyncio.sleep(1)
    finally:
        await camera.leave()
        await screen.leave()
    kinds: dict[str, list[tuple[str, str]]] = {}
    for event in (without, default):
        await client.json("POST", f"{API}/recordings/{ids(event)}/stop")
        info = await client.json("GET", f"{API}/recordings/{ids(event)}")
        kinds[event["conversationId"]] = sorted((s["type"], t["type"]) for s in info["streams"] for t in s["tracks"])
        assert info["screen"] is (event is default)
    assert kinds["conv-no-screen"] == [("CAM", "AUDIO"), ("CAM", "VIDEO")]
    assert kinds["conv-screen-default"] == [("CAM", "AUDIO"), ("CAM", "VIDEO"), ("SCREEN", "VIDEO")]
