"""Odd and hostile input found from the outside: each is a clear 4xx that changes nothing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp
import jwt
import pytest
from pytest_aiohttp import AiohttpClient

from tests.builders import CLIENT_ID, CLIENT_SECRET, Client, make_client, make_settings
from tests.client import API, ids
from tests.janus_host import JanusHost
from tests.publisher import publish_two_seconds

TOKEN_KEY = "test-token-signing-key-0123456789abcdef"  # make_settings'


async def test_digits_that_are_not_ascii_and_dot_ids_are_refused(client: Client) -> None:
    for number, conference in enumerate(["①", "²", "٤٢٠١", "1\u200b"]):
        body = {"applicationId": "app1", "conferenceId": conference, "conversationId": f"conv-digits-{number}"}
        answer = await client.json("POST", f"{API}/recordings/start", 400, json=body)
        assert answer["error"] == "INVALID_CONFERENCE_ID", answer
        await client.json("GET", f"{API}/recordings/conv-digits-{number}", 404)
    for conversation in (".", "..", " ", "\u3000"):
        body = {"applicationId": "app1", "conferenceId": "1001", "conversationId": conversation}
        answer = await client.json("POST", f"{API}/recordings/start", 400, json=body)
        assert answer["error"] == "INVALID_REQUEST" and answer["details"], answer


async def test_a_chat_time_before_year_one_in_utc_is_a_400(client: Client) -> None:
    event = await client.start(999999, "conv-chat-time")  # FAILED (no such room), but it exists
    entry = {"timeStamp": "0001-01-01T00:00:00+14:00", "transcript": "hi", "userId": "u1"}
    body = {
        "conversationId": event["conversationId"],
        "recorderId": event["recorderId"],
        "instanceId": event["instanceId"],
        "chatTranscriptList": [entry],
    }
    answer = await client.json("POST", f"{API}/recordings/chat/transcript/add", 400, json=body)
    assert answer["error"] == "INVALID_REQUEST" and "UTC" in str(answer["details"]), answer


async def test_head_on_a_signed_track_link_answers_like_get_without_the_body(
    client: Client, janus: JanusHost, room: int, http: aiohttp.ClientSession
) -> None:
    event = await client.start(room, "conv-head")
    await publish_two_seconds(client, janus, room, http, event)
    await client.json("POST", f"{API}/recordings/{ids(event)}/stop")
    info = await client.json("GET", f"{API}/recordings/{ids(event)}")
    url = info["streams"][0]["tracks"][0]["url"]
    async with http.get(url) as resp:
        assert resp.status == 200
        size = len(await resp.read())
    async with http.head(url) as resp:
        assert resp.status == 200 and int(resp.headers["Content-Length"]) == size
        assert await resp.read() == b""
    async with http.head(url.replace("Signature=", "Signature=0")) as resp:
        assert resp.status == 403


async def test_a_token_is_only_as_good_as_its_client_now(aiohttp_client: AiohttpClient, tmp_path: Path) -> None:
    settings = make_settings(tmp_path, "http://127.0.0.1:9/janus")
    client = await make_client(aiohttp_client, settings)
    form = {"grant_type": "client_credentials", "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET}
    async with client.post("/security/oauth/token", data=form, headers={"Authorization": ""}) as resp:
        token = (await resp.json())["access_token"]

    async def status(with_client: Client, bearer: str) -> int:
        async with with_client.get(f"{API}/recordings/nothing/active", headers={"Authorization": bearer}) as resp:
            return resp.status

    assert await status(client, f"Bearer {token}") == 404  # allowed, nothing there
    claims: dict[str, Any] = jwt.decode(token, TOKEN_KEY, algorithms=["HS256"], options={"verify_iss": False})
    forged = jwt.encode({**claims, "sub": "never-configured"}, TOKEN_KEY, algorithm="HS256")
    assert await status(client, f"Bearer {forged}") == 401
    moved = jwt.encode({**claims, "org": "org2"}, TOKEN_KEY, algorithm="HS256")
    assert await status(client, f"Bearer {moved}") == 401

    # the same service restarted without that client: its token no longer opens anything
    without = make_settings(tmp_path, "http://127.0.0.1:9/janus", clients=[])
    restarted = await make_client(aiohttp_client, without)
    assert await status(restarted, f"Bearer {token}") == 401


async def test_no_failed_start_leaves_a_live_recording(
    client: Client, monkeypatch: pytest.MonkeyPatch, room: int
) -> None:
    """Every failure point of a start ends the recording: the next start of the conversation is a new one."""

    async def broken_join(self: Any) -> list[Any]:
        raise KeyError("an answer Janus never gives")

    def broken_session(*args: Any, **kw: Any) -> None:
        raise RuntimeError("no session")

    for conversation, target, replacement, status in (
        ("conv-broken-join", "recorder.conference.janus.JanusConference.join", broken_join, 200),
        ("conv-broken-session", "recorder.recordings.service.RecordingSession.__init__", broken_session, 500),
    ):
        with monkeypatch.context() as patch:
            patch.setattr(target, replacement)
            body = {"applicationId": "app1", "conferenceId": str(room), "conversationId": conversation}
            answer = await client.json("POST", f"{API}/recordings/start", status, json=body)
        if status == 200:
            assert answer["state"] == "FAILED" and answer["error"]["code"] == "CONFERENCE_ERROR", answer
        await client.json("GET", f"{API}/recordings/{conversation}/active", 404)
        (failed,) = (await client.json("GET", f"{API}/recordings/{conversation}"))["recordings"]
        assert failed["stopped"], failed
        again = await client.start(room, conversation)
        assert again["state"] == "ACTIVE" and again["recorderId"] != failed["recorderId"]
        await client.json("POST", f"{API}/recordings/{ids(again)}/stop")
