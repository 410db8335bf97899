"""Chat transcripts and cobrowse sessions of a recording, as an agent's backend and an auditor use them."""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yarl

from recorder.signing import UrlSigner
from tests.builders import Client
from tests.checks import check_signed_link
from tests.client import API, ids
from tests.eventually import eventually
from tests.janus_host import JanusHost


def chat(event: dict[str, Any], *entries: dict[str, Any]) -> dict[str, Any]:
    return {**_body_ids(event), "chatTranscriptList": list(entries)}


def _body_ids(event: dict[str, Any]) -> dict[str, str]:
    return {k: event[k] for k in ("conversationId", "recorderId", "instanceId")}


def entry(second: int, text: str, user: str = "agent-1", name: str | None = "Agent") -> dict[str, Any]:
    return {"timeStamp": f"2026-03-01T10:00:{second:02d}Z", "transcript": text, "userId": user, "userDisplayName": name}


async def test_chat_transcript_is_stored_at_stop_and_rewritten_after(
    client: Client, janus: JanusHost, room: int, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    event = await client.start(room, "conv-chat")
    assert event["state"] == "ACTIVE"
    add = f"{API}/recordings/chat/transcript/add"
    first = chat(event, entry(5, "second line", "customer-9", None), entry(1, "first line"))
    assert await client.json("POST", add, json=first) == {"added": 2, "withheld": 0}
    assert await client.json("POST", add, json=first) == {"added": 0, "withheld": 0}, "a retried request adds nothing"
    assert "chatTranscript" not in await client.json("GET", f"{API}/recordings/{ids(event)}")

    await client.json("POST", f"{API}/recordings/{ids(event)}/stop")
    info = await client.wait_for(f"{API}/recordings/{ids(event)}", lambda info: "chatTranscript" in info)
    transcript = info["chatTranscript"]
    assert set(transcript) == {"created", "id", "location"}
    assert (await client.json("GET", f"{API}/recordings/conv-chat"))["chatTranscript"] == transcript
    assert (await client.json("GET", f"{API}/compositions/conv-chat"))["chatTranscript"] == transcript
    stored = tmp_path / "storage" / transcript["location"]

    def lines() -> list[tuple[str, str, str | None]]:
        document = json.loads(stored.read_text())
        assert document["conversationId"] == "conv-chat"
        return [(e["transcript"], e["userId"], e["userDisplayName"]) for e in document["chatTranscriptList"]]

    assert lines() == [("first line", "agent-1", "Agent"), ("second line", "customer-9", None)]

    late = chat(event, entry(9, "after the end"), entry(1, "first line"))
    assert await client.json("POST", add, json=late) == {"added": 1, "withheld": 0}
    await eventually(lambda: asyncio.to_thread(lines), lambda seen: len(seen) == 3, what="the rewritten transcript")
    assert [text for text, _, _ in lines()] == ["first line", "second line", "after the end"]
    again = (await client.json("GET", f"{API}/recordings/{ids(event)}"))["chatTranscript"]
    assert again == transcript, "the same transcript, rewritten"
    # a burst after the end: the transcript is stored again once a second at most, not once a request
    caplog.clear()
    caplog.set_level(logging.INFO, logger="recorder.uploads.uploader")
    burst = [chat(event, entry(30 + n, f"burst {n}")) for n in range(20)]
    await asyncio.gather(*(client.json("POST", add, json=body) for body in burst))
    await eventually(lambda: asyncio.to_thread(lines), lambda seen: len(seen) == 23, what="the burst stored")

    def transcript_jobs() -> list[str]:  # the uploader's line for each job it finished (DONE or SUPERSEDED)
        return [m for r in caplog.records if "transcript.json" in (m := r.getMessage()) and ") is " in m]

    await eventually(lambda: asyncio.sleep(0, transcript_jobs()), bool, what="the burst's upload logged")
    await asyncio.sleep(1.5)  # (what else the burst would store comes within its second)
    assert len(transcript_jobs()) <= 2, transcript_jobs()  # was one upload per request: 20

    good = entry(20, "never stored")
    bad_bodies: list[Any] = [
        chat(event, {k: v for k, v in good.items() if k != "timeStamp"}),
        chat(event, {k: v for k, v in good.items() if k != "transcript"}),
        chat(event, {k: v for k, v in good.items() if k != "userId"}),
        chat(event, {**good, "timeStamp": "yesterday"}),
        chat(event, {**good, "timeStamp": 1700000000}),
        {k: v for k, v in chat(event, good).items() if k != "chatTranscriptList"},
        {**chat(event, good), "recorderId": ""},
    ]
    for body in bad_bodies:
        answer = await client.json("POST", add, status=400, json=body)
        assert answer["error"] == "INVALID_REQUEST" and answer["details"], answer
    unknown = {**chat(event, good), "recorderId": "no-such-recorder"}
    assert (await client.json("POST", add, status=404, json=unknown))["error"] == "NOT_FOUND"
    assert len(lines()) == 23, "refused requests changed nothing"


async def test_cobrowse_sessions_are_ordered_stored_and_downloaded_through_signed_links(
    client: Client, janus: JanusHost, room: int, http: aiohttp.ClientSession
) -> None:
    event = await client.start(room, "conv-cob")
    send = f"{API}/recordings/cobrowse/event"

    def cob(session: str, seq: int, payload: str) -> dict[str, Any]:
        return {
            **_body_ids(event),
            "event": {"sessionId": session, "sequenceId": seq, "timestamp": 1000 + seq, "payload": payload},
        }

    answers = [
        await client.json("POST", send, json=cob(s, n, p))
        for s, n, p in [("s1", 3, "c"), ("s1", 1, "a"), ("s2", 1, "x"), ("s1", 2, "b"), ("s1", 2, "b-again")]
    ]
    assert [a["added"] for a in answers] == [True, True, True, True, False]
    listing = await client.json("GET", f"{API}/recordings/conv-cob/cobrowse")
    assert listing["conversationId"] == "conv-cob"
    assert [(s["cobrowseSessionId"], "uploaded" in s) for s in listing["cobrowseSessions"]] == [
        ("s1", False),
        ("s2", False),
    ]
    query = {"conversationId": event["conversationId"], "id": event["recorderId"], "instanceId": event["instanceId"]}
    url_path = f"{API}/recordings/{ids(event)}/cobrowse/s1/url/attachment"
    await client.json("GET", url_path, status=404, params=query)  # stored when the recording stops

    await client.json("POST", f"{API}/recordings/{ids(event)}/stop")
    listing = await client.wait_for(
        f"{API}/recordings/conv-cob/cobrowse",
        lambda listing: all("uploaded" in s for s in listing["cobrowseSessions"]),
    )
    for session in listing["cobrowseSessions"]:
        assert session["uploaded"] and session["recorderId"] == event["recorderId"]
        assert session["recorderInstanceId"] == event["instanceId"]
    for missing in ("conversationId", "id", "instanceId"):
        params = {k: v for k, v in query.items() if k != missing}
        await client.json("GET", url_path, status=400, params=params)
    answer = await client.json("GET", url_path, params=query, headers={"Referer": "https://app.example"})
    assert set(answer) == {"url", "validUntil"}
    url = yarl.URL(answer["url"])
    assert (
        set(url.query) == {"Date", "Expires", "By", "Signature"} and url.query["By"] == "all"
    )  # whom it was issued to
    assert url.path.startswith(f"{API}/recordings/attachment/cobrowse/{ids(event)}/s1/")

    async def events() -> list[tuple[int, str]]:
        async with http.get(answer["url"]) as resp:  # no Authorization header
            assert resp.status == 200
            document = json.loads(await resp.read())
        return [(e["sequenceId"], e["payload"]) for e in document["events"]]

    assert await events() == [(1, "a"), (2, "b"), (3, "c")]
    async with http.get(answer["url"]) as resp:
        size = len(await resp.read())
    await check_signed_link(http, answer["url"], size)

    # a link signed for a path that leaves the session's directory serves nothing
    key = b"test-signing-key-0123456789"
    for name in ("..%2F..%2Fchat-transcript.json", "..", "%2E%2E%2Fs2.json"):
        raw = url.raw_path.rsplit("/", 1)[0] + "/" + name
        signed, _ = UrlSigner(key, 3600).sign(raw)
        async with http.get(url.join(yarl.URL(signed, encoded=True))) as resp:
            assert resp.status in (403, 404), (name, resp.status)
            assert "events" not in await resp.text()

    assert (await client.json("POST", send, json=cob("s1", 4, "d")))["added"] is True
    await eventually(events, lambda seen: len(seen) == 4, what="the session stored again")
    assert await events() == [(1, "a"), (2, "b"), (3, "c"), (4, "d")], "an event after the end is stored too"
