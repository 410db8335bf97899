"""The coaching session API as the coaching app's backend and its users call it, over a real Janus room with a
real publisher: the backend registers a session, its coach starts the recording (once; a customer cannot), the
session completes, its MP4 is composed, and the customer streams it through the temporary URL with a Range
request; users outside the viewing policy get the app's 404; messages in Arabic, or English when asked."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import av
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from pytest_aiohttp import AiohttpClient

from api.keys import SETTINGS
from tests.builders import Client, auth, make_client, make_settings
from tests.client import API
from tests.eventually import eventually
from tests.janus_host import JanusHost
from tests.publisher import Publisher, display

SECRET = "coaching-app-jwt-secret-0123456789abcdef"
BASE = "/coaching/app1/v1/customer/sessions"
COACH, CUSTOMER = "coach-7", "customer-42"


def token(user: str, user_type: str, secret: str = SECRET, **claims: Any) -> dict[str, str]:
    body = {"sub": user, "user_type": user_type, "exp": datetime.now(UTC) + timedelta(hours=1), **claims}
    return {"Authorization": "Bearer " + jwt.encode(body, secret, algorithm="HS256")}


@pytest.fixture
async def client(aiohttp_client: AiohttpClient, tmp_path: Path, janus: JanusHost) -> Client:
    settings = make_settings(
        tmp_path,
        janus.url,
        applications=[
            {
                "id": "app1",
                "organization_id": "org1",
                "janus": {"url": janus.url},
                "storage": {"provider": "LOCAL_STORAGE", "path": str(tmp_path / "storage")},
                "coaching": {"jwt_secret": SECRET},
            }
        ],
    )
    return await make_client(aiohttp_client, settings)


def session(room: int | str, status: str = "IN_PROGRESS", **more: Any) -> dict[str, Any]:
    return {
        "type": "SCHEDULED",
        "status": status,
        "coachId": COACH,
        "customerId": CUSTOMER,
        "conferenceId": str(room),
        **more,
    }


async def backend(client: Client, method: str, session_id: str, status: int = 200, **kw: Any) -> Any:
    return await client.json(method, f"{API}/sessions/app1/{session_id}", status, headers=auth("SERVICE"), **kw)


async def call(client: Client, method: str, path: str, headers: dict[str, str]) -> tuple[int, Any]:
    async with client.request(method, BASE + path, headers=headers) as answer:
        return answer.status, await answer.json()


def envelope(status: int, message: str, data: Any) -> dict[str, Any]:
    return {"success": 200 <= status < 300, "message": message, "data": data, "statusCode": status}


async def test_a_coached_session_recorded_completed_composed_and_streamed(
    client: Client, janus: JanusHost, http: aiohttp.ClientSession, room: int, tmp_path: Path
) -> None:
    registered = await backend(client, "PUT", "s1", 201, json=session(room))
    assert registered["sessionId"] == "s1" and "recorderId" not in registered  # (not recorded yet)
    coach, customer = token(COACH, "coach"), token(CUSTOMER, "customer")
    alice = Publisher(http, janus.url, room, display(COACH))
    try:
        await alice.join()
        await alice.publish()
        assert await call(client, "POST", "/s1/start-recording", customer) == (401, envelope(401, "غير مصرح", []))
        status, started = await call(client, "POST", "/s1/start-recording", coach)
        assert status == 200, started
        recording_id = started["data"]["recording_id"]
        assert started == envelope(200, "تم بدء التسجيل بنجاح", {"recording_id": recording_id, "status": "recording"})
        again = await call(client, "POST", "/s1/start-recording", coach)
        assert again == (400, envelope(400, "يتم التسجيل بالفعل", []))
        # while it is recorded, nobody streams it (recordings are for completed sessions)
        assert await call(client, "GET", "/s1/stream-record", customer) == (
            404,
            envelope(404, "لا يوجد صلاحية لمشاهدة التسجيل", None),
        )
        await asyncio.sleep(3)
        completed = await backend(client, "PATCH", "s1", json={"status": "COMPLETED"})
        assert (
            completed["status"] == "COMPLETED" and completed["completedAt"] and completed["recorderId"] == recording_id
        )
    finally:
        await alice.leave()
    # the session's end stopped its recording, its backend named as the caller
    listed = await client.json("GET", f"{API}/recordings/s1")
    assert [r["recorderId"] for r in listed["recordings"]] == [recording_id]
    ours = await client.json("GET", f"{API}/recordings/s1/{recording_id}/{client.app[SETTINGS].instance_id}")
    assert ours["state"] == "STOPPED"
    assert ours["stopReason"] == {
        "reason": "API_CALL",
        "caller": {"name": "SERVICE", "type": "API_KEY"},
    }
    # the MP4 is composed by itself; until then the URL is "file not found"
    status, pending = await call(client, "GET", "/s1/stream-record", customer)
    if status == 404:
        assert pending == envelope(404, "ملف التسجيل غير موجود", None)

    async def streamed() -> tuple[int, Any]:
        return await call(client, "GET", "/s1/stream-record", {**customer, "Accept-Language": "en-US,en;q=0.9"})

    status, got = await eventually(streamed, lambda s: s[0] == 200, within=90, every=0.5, what="the MP4")
    assert got == envelope(200, "Data fetched successfully", {"url": got["data"]["url"]})
    url = got["data"]["url"]
    assert "Expires=7200" in url
    assert (await call(client, "GET", "/s1/stream-record", customer))[1]["data"]["url"] == url  # cached
    async with http.get(url, headers={"Range": "bytes=0-99"}) as part:  # no Authorization: the URL is signed
        assert part.status == 206 and len(await part.read()) == 100
        assert part.headers["Content-Range"].startswith("bytes 0-99/")
    async with http.get(url) as whole:
        data = await whole.read()
    assert data.index(b"moov") < data.index(b"mdat"), "the index is not in front (faststart)"
    path = tmp_path / "session.mp4"
    path.write_bytes(data)
    with av.open(str(path)) as container:
        codecs = sorted(s.codec_context.name for s in container.streams)
        assert codecs == ["aac", "h264"]
        assert container.duration is not None and 2.5 < container.duration / 1e6 < 6
        assert sum(1 for _ in container.decode(video=0)) > 50
    # the coach may view it too (both types are viewers by default); another customer may not
    assert (await call(client, "GET", "/s1/stream-record", coach))[0] == 200
    other = token("customer-9", "customer")
    assert await call(client, "GET", "/s1/stream-record", other) == (
        404,
        envelope(404, "لا يوجد صلاحية لمشاهدة التسجيل", None),
    )
    # a policy that keeps coaches out, and a viewing period that ended
    await backend(client, "PATCH", "s1", json={"viewing": {"viewers": ["CUSTOMER"]}})
    assert (await call(client, "GET", "/s1/stream-record", coach))[1]["message"] == "لا يوجد صلاحية لمشاهدة التسجيل"
    assert (await call(client, "GET", "/s1/stream-record", customer))[0] == 200
    past = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    await backend(client, "PATCH", "s1", json={"viewing": {"period": {"until": past}}})
    assert await call(client, "GET", "/s1/stream-record", {**customer, "Accept-Language": "en"}) == (
        404,
        envelope(404, "No permission to view the recording", None),
    )
    long_ago = (datetime.now(UTC) - timedelta(hours=30)).isoformat()
    await backend(client, "PATCH", "s1", json={"completedAt": long_ago, "viewing": {"availableForHours": 24}})
    assert (await call(client, "GET", "/s1/stream-record", customer))[0] == 404
    await backend(client, "PATCH", "s1", json={"viewing": {"availableForHours": 48}})
    assert (await call(client, "GET", "/s1/stream-record", customer))[0] == 200


async def test_the_apps_errors_tokens_and_languages(aiohttp_client: AiohttpClient, tmp_path: Path) -> None:
    """No Janus needed: sessions that are not there, ended or never recorded; HS256 and RS256 tokens."""
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public = private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    storage = {"provider": "LOCAL_STORAGE", "path": str(tmp_path / "storage")}
    nowhere = {"url": "http://127.0.0.1:9/janus"}
    settings = make_settings(
        tmp_path,
        "http://127.0.0.1:9/janus",
        applications=[
            {
                "id": "app1",
                "organization_id": "org1",
                "janus": nowhere,
                "storage": storage,
                "coaching": {"jwt_secret": SECRET},
            },
            {
                "id": "app2",
                "organization_id": "org1",
                "storage": storage,
                "coaching": {"jwt_public_key": public.decode(), "user_claim": "uid", "user_type_claim": "role"},
            },
            {"id": "app3", "organization_id": "org1", "storage": storage},
        ],
    )
    client = await make_client(aiohttp_client, settings)
    coach, customer = token(COACH, "coach"), token(CUSTOMER, "CUSTOMER")
    assert await call(client, "POST", "/nope/start-recording", coach) == (404, envelope(404, "الجلسة غير موجودة", []))
    assert await call(client, "GET", "/nope/stream-record", customer) == (
        404,
        envelope(404, "لم يتم العثور على الجلسة", None),
    )
    english = {**coach, "Accept-Language": "ar;q=0.4, en-GB;q=0.8"}
    assert (await call(client, "POST", "/nope/start-recording", english))[1]["message"] == "Session not found"
    arabic = {**coach, "Accept-Language": "fr, ar;q=0.9, en;q=0.5"}
    assert (await call(client, "POST", "/nope/start-recording", arabic))[1]["message"] == "الجلسة غير موجودة"
    # tokens: none, another secret, expired, no user type: 401 in the app's envelope
    expired = token(COACH, "coach", exp=datetime.now(UTC) - timedelta(minutes=1))
    for headers in (
        {},
        token(COACH, "coach", secret="another-secret-0123456789abcdef-0123"),
        expired,
        token(COACH, ""),
    ):
        assert await call(client, "POST", "/nope/start-recording", headers) == (401, envelope(401, "غير مصرح", []))
    # a session that ended cannot be recorded; a completed one never recorded has no videos
    await backend(client, "PUT", "done", 201, json=session(1234, "COMPLETED"))
    assert await call(client, "POST", "/done/start-recording", coach) == (400, envelope(400, "الجلسة منتهية", []))
    assert await call(client, "GET", "/done/stream-record", customer) == (
        404,
        envelope(404, "لا يوجد تسجيلات للجلسة", None),
    )
    # an unreachable conference: 503, and the session may be started again later
    await backend(client, "PUT", "live", 201, json=session(1234))
    status, failed = await call(client, "POST", "/live/start-recording", coach)
    assert (status, failed["message"]) == (503, "تعذر بدء التسجيل")
    assert "recorderId" not in await backend(client, "GET", "live")
    # RS256 with the app's own claim names
    expires = datetime.now(UTC) + timedelta(hours=1)
    signed = jwt.encode({"uid": CUSTOMER, "role": "customer", "exp": expires}, private, algorithm="RS256")
    await client.json("PUT", f"{API}/sessions/app2/done", 201, headers=auth("SERVICE"), json=session(1, "COMPLETED"))
    rs256 = {"Authorization": f"Bearer {signed}"}
    async with client.request("GET", "/coaching/app2/v1/customer/sessions/done/stream-record", headers=rs256) as answer:
        assert answer.status == 404 and (await answer.json())["message"] == "لا يوجد تسجيلات للجلسة"
    hs256_for_rs256 = token(CUSTOMER, "customer", secret=public.decode()[:40])
    async with client.request(
        "GET", "/coaching/app2/v1/customer/sessions/done/stream-record", headers=hs256_for_rs256
    ) as answer:
        assert answer.status == 401
    # an application without the coaching API: its sessions are not found
    async with client.request("GET", "/coaching/app3/v1/customer/sessions/x/stream-record", headers=customer) as answer:
        assert answer.status == 404 and (await answer.json())["data"] is None
    # the backend's API: bad bodies, PATCH before PUT, another organization, roles
    bad = [{}, session(1, "FINISHED"), {**session(1), "viewing": {"viewers": ["ADMIN"]}}, {**session(1), "extra": 1}]
    for body in bad:
        answer = await backend(client, "PUT", "x", 400, json=body)
        assert answer["error"] == "INVALID_REQUEST"
    await backend(client, "PATCH", "unknown", 404, json={"status": "COMPLETED"})
    await client.json("PUT", f"{API}/sessions/app1/x", 404, headers=auth("other"), json=session(1))
    await client.json("PUT", f"{API}/sessions/app3/x", 404, headers=auth("SERVICE"), json=session(1))
    await client.json("PUT", f"{API}/sessions/app1/x", 403, headers=auth("AGENT"), json=session(1))
    await backend(client, "GET", "x", 404)
