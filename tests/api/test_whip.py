"""WHIP ingest (RFC 9725) with aiortc as the publisher: an AGENT makes an ingest, the publisher POSTs its offer
with the ingest's token and sends audio and video, DELETE ends the publication; the files decode with the
frames sent. And the RFC's refusals: 415, 406, 401, 404, 422 and the preflight."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import aiohttp
import av
from aiortc import RTCPeerConnection, RTCSessionDescription
from pytest_aiohttp import AiohttpClient

from tests.builders import Client, auth, make_client, make_settings
from tests.client import API, ids
from tests.janus_host import JanusHost
from tests.publisher import PatternTrack, Publisher, ToneTrack, display

NOWHERE = "http://127.0.0.1:9/janus"  # no SFU: WHIP publishers only


async def ingest(client: Client, conversation: str, **more: Any) -> dict[str, Any]:
    body = {"applicationId": "app1", "conversationId": conversation, "userId": "alice", **more}
    answer: dict[str, Any] = await client.json("POST", f"{API}/ingests", 201, json=body, headers=auth("AGENT"))
    return answer


async def offer_of(pc: RTCPeerConnection) -> str:
    await pc.setLocalDescription(await pc.createOffer())  # aiortc gathers its candidates before it answers
    return pc.localDescription.sdp


async def post(client: Client, url: str, token: str, body: str, content_type: str = "application/sdp") -> Any:
    headers = {"Authorization": f"Bearer {token}", "Content-Type": content_type}
    return await client.request("POST", url, data=body, headers=headers)


def packets(path: Path) -> int:
    with av.open(str(path)) as container:
        return sum(1 for p in container.demux(container.streams[0]) if p.size)


async def test_a_whip_publisher_is_recorded_without_an_sfu(
    aiohttp_client: AiohttpClient, tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    client = await make_client(aiohttp_client, make_settings(tmp_path, NOWHERE))
    made = await ingest(client, "whip-1")
    assert (
        made["url"].endswith(f"/whip/{made['ingestId']}") and time.time() + 240 < made["expires"] <= time.time() + 300
    )
    path = "/whip/" + made["ingestId"]
    video, audio = PatternTrack(), ToneTrack()
    pc = RTCPeerConnection()
    pc.addTrack(audio)
    pc.addTrack(video)
    asked = time.monotonic()
    async with await post(client, path, made["token"], await offer_of(pc)) as answer:
        assert answer.status == 201, await answer.text()
        assert answer.content_type == "application/sdp"
        location, etag = answer.headers["Location"], answer.headers["ETag"]
        assert location.startswith(path + "/") and etag.startswith('"')
        assert answer.headers["Access-Control-Allow-Origin"] == "*"
        await pc.setRemoteDescription(RTCSessionDescription(await answer.text(), "answer"))
    recording = await client.json("GET", f"{API}/recordings/whip-1/active")
    info_path = f"{API}/recordings/{ids({**recording, 'conversationId': 'whip-1'})}"
    first = await client.wait_for(info_path, lambda r: len([t for s in r["streams"] for t in s["tracks"]]) == 2)
    first_frame = time.monotonic() - asked
    assert first["conferenceId"] == "" and first["streams"][0]["userId"] == "alice"
    await asyncio.sleep(3)
    # trickled candidates are taken (If-Match: the ETag); an ICE restart is not
    fragment = "a=ice-ufrag:{}\r\na=mid:0\r\na=candidate:1 1 udp 2122260223 127.0.0.1 9 typ host\r\n"
    ufrag = pc.localDescription.sdp.split("a=ice-ufrag:")[1].split()[0]
    headers = {"Authorization": f"Bearer {made['token']}", "Content-Type": "application/trickle-ice-sdpfrag"}
    async with client.request(
        "PATCH", location, data=fragment.format(ufrag), headers={**headers, "If-Match": etag}
    ) as trickled:
        assert trickled.status == 204, await trickled.text()
    async with client.request(
        "PATCH", location, data=fragment.format(ufrag), headers={**headers, "If-Match": '"x"'}
    ) as stale:
        assert stale.status == 412
    async with client.request(
        "PATCH", location, data=fragment.format("new"), headers={**headers, "If-Match": "*"}
    ) as restart:
        assert restart.status == 422
    async with client.request("DELETE", location, headers={"Authorization": f"Bearer {made['token']}"}) as ended:
        assert ended.status == 200
    await pc.close()
    async with client.request("DELETE", location, headers={"Authorization": f"Bearer {made['token']}"}) as again:
        assert again.status == 404
    stopped = await client.wait_for(info_path, lambda r: r["streams"][0]["state"] != "RECORDING")
    assert stopped["state"] == "ACTIVE"  # the recording goes on: another publisher may come
    await client.json("POST", f"{info_path}/stop")
    await client.wait_for(
        info_path,
        lambda r: all(t["storage"].get("objectStorage", {}).get("uploaded") for s in r["streams"] for t in s["tracks"]),
    )
    files = sorted((tmp_path / "storage").rglob("*.webm"))
    assert len(files) == 2, files
    counts = sorted(packets(f) for f in files)
    sent = sorted([len(video.sent), len(audio.sent)])
    assert counts[0] >= 0.99 * sent[0] - 5 and counts[1] >= 0.99 * sent[1] - 5, (counts, sent)
    print(f"WHIP POST -> both tracks written: {first_frame * 1000:.0f} ms; packets written/sent {counts}/{sent}")


async def test_the_rfcs_refusals(aiohttp_client: AiohttpClient, tmp_path: Path) -> None:
    settings = make_settings(tmp_path, NOWHERE, ice_servers=["stun:127.0.0.1:3478"])
    client = await make_client(aiohttp_client, settings)
    made = await ingest(client, "whip-2")
    path = "/whip/" + made["ingestId"]
    async with client.request("OPTIONS", path) as preflight:
        assert preflight.status == 204 and preflight.headers["Accept-Post"] == "application/sdp"
        assert preflight.headers["Link"] == '<stun:127.0.0.1:3478>; rel="ice-server"'
        assert "POST" in preflight.headers["Access-Control-Allow-Methods"]
    pc = RTCPeerConnection()
    pc.addTrack(ToneTrack())
    offer = await offer_of(pc)
    await pc.close()
    async with await post(client, path, made["token"], offer, "application/json") as wrong_type:
        assert wrong_type.status == 415
    pcmu = offer.replace("a=rtpmap:96 opus/48000/2", "a=rtpmap:96 PCMU/8000").replace("opus", "PCMU")
    pcmu = "\r\n".join(line for line in pcmu.split("\r\n") if "rtpmap:" not in line or "PCMU" in line)
    async with await post(client, path, made["token"], pcmu) as not_recordable:
        assert not_recordable.status == 406
        assert "Opus" in (await not_recordable.json())["message"]
    async with await post(client, path, "not-a-token", offer) as unauthorized:
        assert unauthorized.status == 401 and unauthorized.headers["Access-Control-Allow-Origin"] == "*"
    other = await ingest(client, "whip-3")
    async with await post(client, path, other["token"], offer) as another:
        assert another.status == 403
    # an access token is not an ingest token, and an ingest token is not an access token
    async with await post(client, path, "test-key-org1-agent-0000000000000000", offer) as key:
        assert key.status == 401
    async with client.request(
        "GET", f"{API}/recordings/whip-2/active", headers={"Authorization": f"Bearer {made['token']}"}
    ) as used:
        assert used.status == 401
    recording = await client.json("GET", f"{API}/recordings/whip-2/active")
    await client.json("POST", f"{API}/recordings/{ids({**recording, 'conversationId': 'whip-2'})}/stop")
    async with await post(client, path, made["token"], offer) as ended:
        assert ended.status == 404
    await client.json("POST", f"{API}/ingests", 400, json={"applicationId": "app1"}, headers=auth("AGENT"))
    await client.json(
        "POST", f"{API}/ingests", 404, json={"applicationId": "nope", "conversationId": "c"}, headers=auth("AGENT")
    )


async def test_the_consoles_search_and_who_am_i(aiohttp_client: AiohttpClient, tmp_path: Path) -> None:
    """Recordings found by a conversation id's start, a participant and a state; `me` says the roles."""
    client = await make_client(aiohttp_client, make_settings(tmp_path, NOWHERE))
    for conversation in ("sales-1", "sales-2", "support-1"):
        await ingest(client, conversation)
    stopped = await client.json("GET", f"{API}/recordings/sales-1/active")
    await client.json("POST", f"{API}/recordings/{ids({**stopped, 'conversationId': 'sales-1'})}/stop")
    found = await client.json("GET", f"{API}/recordings", params={"applicationId": "app1", "conversationId": "sales"})
    assert found["total"] == 2 and [r["conversationId"] for r in found["recordings"]] == ["sales-2", "sales-1"]
    assert found["recordings"][1]["state"] == "STOPPED" and found["recordings"][1]["stopReason"]["reason"] == "API_CALL"
    active = await client.json(
        "GET", f"{API}/recordings", params={"applicationId": "app1", "state": "ACTIVE", "size": "1"}
    )
    assert active["total"] == 2 and len(active["recordings"]) == 1 and active["size"] == 1
    nobody = await client.json("GET", f"{API}/recordings", params={"applicationId": "app1", "userId": "nobody"})
    assert nobody == {"recordings": [], "total": 0, "page": 1, "size": 20}
    await client.json("GET", f"{API}/recordings", 400, params={"applicationId": "app1", "state": "DONE"})
    await client.json("GET", f"{API}/recordings", 400, params={"applicationId": "app1", "color": "red"})
    live = await client.json("GET", f"{API}/recordings/support-1/active")
    body_ids = {"conversationId": "support-1", "recorderId": live["recorderId"], "instanceId": live["instanceId"]}
    lines = [
        {"timeStamp": "2026-01-01T10:00:02Z", "transcript": "second", "userId": "u2"},
        {"timeStamp": "2026-01-01T10:00:01Z", "transcript": "first", "userId": "u1", "userDisplayName": "Ann"},
    ]
    await client.json("POST", f"{API}/recordings/chat/transcript/add", json={**body_ids, "chatTranscriptList": lines})
    chat = await client.json("GET", f"{API}/recordings/{ids(body_ids)}/chat")
    assert chat == {
        "entries": [
            {"timeStamp": "2026-01-01T10:00:01.000Z", "transcript": "first", "userId": "u1", "userDisplayName": "Ann"},
            {"timeStamp": "2026-01-01T10:00:02.000Z", "transcript": "second", "userId": "u2"},
        ]
    }
    me = await client.json("GET", f"{API}/me", headers=auth("AGENT"))
    assert me == {"subject": "AGENT", "organizationId": "org1", "roles": ["AGENT"], "applications": ["app1"]}


async def test_media_arrives_on_the_configured_port_range(aiohttp_client: AiohttpClient, tmp_path: Path) -> None:
    settings = make_settings(tmp_path, NOWHERE, media_port_min=47100, media_port_max=47109)
    client = await make_client(aiohttp_client, settings)
    made = await ingest(client, "whip-ports")
    pc = RTCPeerConnection()
    pc.addTrack(ToneTrack())
    pc.addTrack(PatternTrack())
    try:
        async with await post(client, "/whip/" + made["ingestId"], made["token"], await offer_of(pc)) as answer:
            assert answer.status == 201
            sdp = await answer.text()
    finally:
        await pc.close()
    ports = {int(line.split()[5]) for line in sdp.splitlines() if line.startswith("a=candidate:")}
    assert ports and all(47100 <= p <= 47109 for p in ports), ports


async def test_an_ingest_opens_one_publication_at_a_time_its_bound_in_all_and_none_once_revoked(
    aiohttp_client: AiohttpClient, tmp_path: Path
) -> None:
    client = await make_client(aiohttp_client, make_settings(tmp_path, NOWHERE, ingest_max_publications=2))
    made = await ingest(client, "whip-bounds")
    path = "/whip/" + made["ingestId"]
    peers: list[RTCPeerConnection] = []

    async def publish(status: int) -> str:
        pc = RTCPeerConnection()
        pc.addTrack(ToneTrack())
        peers.append(pc)
        async with await post(client, path, made["token"], await offer_of(pc)) as answer:
            assert answer.status == status, await answer.text()
            return str(answer.headers.get("Location", ""))

    async def end(location: str) -> None:
        async with client.request("DELETE", location, headers={"Authorization": f"Bearer {made['token']}"}) as ended:
            assert ended.status == 200

    try:
        first = await publish(201)
        await publish(409)  # one at a time: the first is still there
        other = await ingest(client, "whip-bounds")  # another ingest's token cannot end this ingest's session
        async with client.request("DELETE", first, headers={"Authorization": f"Bearer {other['token']}"}) as foreign:
            assert foreign.status == 403
        await end(first)
        second = await publish(201)
        await end(second)
        await publish(429)  # its two publications are used
        third = await ingest(client, "whip-bounds")
        path = "/whip/" + third["ingestId"]
        made = third
        live = await publish(201)
        await client.json("DELETE", f"{API}/ingests/{third['ingestId']}", headers=auth("AGENT"))
        async with client.request("DELETE", live, headers={"Authorization": f"Bearer {third['token']}"}) as gone:
            assert gone.status == 404  # revoking ended it
        await publish(401)
    finally:
        for pc in peers:
            await pc.close()


async def test_nobody_publishes_in_a_conference_participants_name(
    client: Client, janus: JanusHost, room: int, http: aiohttp.ClientSession
) -> None:
    event = await client.start(room, "whip-impersonation")
    publisher = Publisher(http, janus.url, room, display("alice", "CAM"))
    try:
        await publisher.join()
        await publisher.publish()
        await client.wait_tracks(event, "alice", 2)
        body = {"applicationId": "app1", "conversationId": "whip-impersonation", "userId": "alice"}
        answer = await client.json("POST", f"{API}/ingests", 409, json=body, headers=auth("AGENT"))
        assert "participant" in answer["message"]
        await client.json("POST", f"{API}/ingests", 201, json={**body, "userId": "guest"}, headers=auth("AGENT"))
    finally:
        await publisher.leave()
    await client.stop(event)
