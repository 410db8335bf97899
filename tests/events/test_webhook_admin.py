"""The webhook administration as an ADMIN calls it: subscriptions created, listed, replaced, rotated and
deleted; secrets never answered nor logged; bad input refused with nothing changed; deliveries listed,
redelivered and replayed; the configuration's subscriptions are read-only."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from pytest_aiohttp import AiohttpClient
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from recorder.settings import WebhookSettings
from tests.builders import Client, auth, make_client, make_settings
from tests.client import API
from tests.events.receiver import Receiver, new_secret
from tests.eventually import eventually
from tests.janus_host import JanusHost

HOOKS = f"{API}/webhooks/app1"


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    running = Receiver()
    await running.start()
    yield running
    await running.stop()


@pytest.fixture
async def admin(aiohttp_client: AiohttpClient, tmp_path: Path, receiver: Receiver, janus: JanusHost) -> Client:
    receiver.secrets["/configured"] = new_secret()
    settings = make_settings(tmp_path, janus.url, webhook_retry_schedule_seconds=[0.05, 0.05], webhook_poll_seconds=0.1)
    hook = WebhookSettings(url=receiver.url("/configured"), secret=receiver.secrets["/configured"])  # type: ignore[arg-type]
    settings.applications[0] = settings.applications[0].model_copy(update={"webhooks": [hook]})
    return await make_client(aiohttp_client, settings)


async def _create(admin: Client, receiver: Receiver, path: str = "/api", **body: Any) -> dict[str, Any]:
    receiver.secrets[path] = new_secret()
    created: dict[str, Any] = await admin.json(
        "POST", HOOKS, 201, json={"url": receiver.url(path), "secret": receiver.secrets[path], **body}
    )
    return created


async def test_a_subscription_is_created_listed_replaced_and_deleted_without_its_secret(
    admin: Client, receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    created = await _create(admin, receiver, events=["recording.started", "recording.stopped"])
    assert set(created) == {"id", "applicationId", "url", "events", "format", "origin", "created", "updated"}
    assert (created["format"], created["origin"], created["events"]) == (
        "native",
        "API",
        ["recording.started", "recording.stopped"],
    )
    listed = await admin.json("GET", HOOKS)
    assert [s["id"] for s in listed["subscriptions"]] == ["cfg-app1-0", created["id"]]
    assert listed["subscriptions"][0]["origin"] == "CONFIGURATION" and listed["subscriptions"][0]["events"] is None
    replaced = await admin.json(
        "PUT", f"{HOOKS}/{created['id']}", json={"url": receiver.url("/api"), "format": "videosdk", "events": None}
    )
    assert (replaced["format"], replaced["events"], replaced["created"]) == ("videosdk", None, created["created"])
    assert (await admin.json("GET", f"{HOOKS}/{created['id']}")) == replaced
    await admin.json("DELETE", f"{HOOKS}/{created['id']}", 204)
    await admin.json("GET", f"{HOOKS}/{created['id']}", 404)
    for secret in receiver.secrets.values():
        assert secret not in caplog.text and secret.removeprefix("whsec_") not in caplog.text


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ({"url": "ftp://example.com/hook"}, "url"),
        ({"url": "http://127.0.0.1:9/hook", "events": ["recording.exploded"]}, "unknown events"),
        ({"url": "http://127.0.0.1:9/hook", "format": "zoom"}, "format"),
        ({"url": "http://127.0.0.1:9/hook", "secret": "not-a-whsec"}, "whsec_"),
        ({"url": "http://127.0.0.1:9/hook", "secret": "whsec_c2hvcnQ="}, "24 to 64 bytes"),
        ({"url": "http://127.0.0.1:9/hook"}, "secret is required"),
        ({"url": "http://127.0.0.1:9/hook", "secret": new_secret(), "color": "red"}, "color"),
    ],
)
async def test_bad_subscriptions_are_400_and_change_nothing(admin: Client, body: dict[str, Any], problem: str) -> None:
    answer = await admin.json("POST", HOOKS, 400, json=body)
    assert answer["error"] == "INVALID_REQUEST" and problem in answer["message"], answer
    assert len((await admin.json("GET", HOOKS))["subscriptions"]) == 1


async def test_who_may_administer_webhooks(admin: Client, receiver: Receiver) -> None:
    for role in ("AGENT", "SUPERVISOR", "SERVICE"):
        await admin.json("GET", HOOKS, 403, headers=auth(role))
    await admin.json("GET", HOOKS, 401, headers={"Authorization": "Bearer nope"})
    assert (await admin.json("GET", HOOKS, headers=auth("ADMIN")))["subscriptions"]
    await admin.json("GET", f"{API}/webhooks/app-of-nobody", 404)
    await admin.json("GET", HOOKS, 404, headers=auth("other"))  # another organization's application


async def test_the_configurations_subscription_is_changed_there_only(admin: Client) -> None:
    body = {"url": "http://127.0.0.1:9/x", "secret": new_secret()}
    for method, path in (("PUT", ""), ("DELETE", ""), ("POST", "/secret")):
        answer = await admin.json(method, f"{HOOKS}/cfg-app1-0{path}", 409, json=body)
        assert answer["error"] == "CONFLICT"


async def test_a_rotated_secret_signs_beside_the_new_one_during_the_grace_period(
    admin: Client, receiver: Receiver, room: int
) -> None:
    created = await _create(admin, receiver, events=["recording.started"])
    old, new = receiver.secrets["/api"], new_secret()
    await admin.json("POST", f"{HOOKS}/{created['id']}/secret", 400, json={"secret": "whsec_"})
    rotated = await admin.json("POST", f"{HOOKS}/{created['id']}/secret", json={"secret": new})
    assert rotated["previousSecretUntil"] > rotated["updated"] and "secret" not in rotated
    await _fire(admin, room)
    (request,) = await eventually(lambda: _ready(receiver.at("/api")), lambda got: len(got) == 1, within=10)
    body, headers = receiver.raw[request.msg_id]
    assert len(headers["webhook-signature"].split(" ")) == 2
    for secret in (old, new):  # a receiver holding either secret verifies the message
        Webhook(secret).verify(body, headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(new_secret()).verify(body, headers)


async def test_deliveries_are_listed_redelivered_and_replayed_in_order(
    admin: Client, receiver: Receiver, room: int
) -> None:
    created = await _create(admin, receiver)
    recorder_id = await _fire(admin, room)
    first = await eventually(lambda: _ready(receiver.at("/api")), lambda got: len(got) == 2, within=10)
    assert [r.body["type"] for r in first] == ["recording.started", "recording.stopped"]
    listed = await admin.json("GET", f"{HOOKS}/{created['id']}/deliveries?limit=1")
    (newest,) = listed["deliveries"]
    assert (newest["eventType"], newest["status"], newest["attempts"], newest["sequence"]) == (
        "recording.stopped",
        "DELIVERED",
        1,
        2,
    )
    assert newest["messageId"] == first[1].msg_id and listed["nextBefore"] == newest["id"]
    older = await admin.json("GET", f"{HOOKS}/{created['id']}/deliveries?before={listed['nextBefore']}")
    assert [d["eventType"] for d in older["deliveries"]] == ["recording.started"] and older["nextBefore"] is None
    for query in ("limit=0", "limit=x", "status=LOST", "before=-1"):
        await admin.json("GET", f"{HOOKS}/{created['id']}/deliveries?{query}", 400)

    again = await admin.json("POST", f"{HOOKS}/{created['id']}/deliveries/{newest['id']}/redeliver", 202)
    assert (again["status"], again["attempts"]) == ("PENDING", 0)
    await eventually(lambda: _ready(receiver.tries["/api", newest["messageId"]]), lambda n: n == 2, within=10)
    await admin.json("POST", f"{HOOKS}/{created['id']}/deliveries/999999/redeliver", 404)

    replayed = await admin.json("POST", f"{HOOKS}/{created['id']}/replay", 202, json={"recorderId": recorder_id})
    assert replayed == {"replayed": 2}
    mine = await eventually(
        lambda: _ready([r for r in receiver.delivered if r.path == "/api"]), lambda got: len(got) == 5, within=10
    )
    assert [r.body["data"]["sequence"] for r in mine[-2:]] == [1, 2], "a replay keeps the order"
    await admin.json("POST", f"{HOOKS}/{created['id']}/replay", 400, json={})
    bad_range = {"since": "2026-01-02T00:00:00Z", "until": "2026-01-01T00:00:00Z"}
    await admin.json("POST", f"{HOOKS}/{created['id']}/replay", 400, json=bad_range)
    in_range = {"since": "2000-01-01T00:00:00Z"}
    assert (await admin.json("POST", f"{HOOKS}/{created['id']}/replay", 202, json=in_range))["replayed"] == 2


async def _fire(admin: Client, room: int) -> str:
    """A recording of an empty room that starts and stops: recording.started, recording.stopped; its id."""
    event = await admin.start(room, f"conv-admin-{room}")
    assert event["state"] == "ACTIVE"
    await admin.stop(event)
    return str(event["recorderId"])


async def _ready(value: Any) -> Any:
    return value


async def test_sidecars_and_compositions_tell_when_they_are_stored_or_fail(
    admin: Client, room: int, receiver: Receiver
) -> None:
    """A recording with a chat transcript and a cobrowse session: both stored, each told with its file; a
    composition of a conversation without media fails, and says so (its own sequence)."""
    await _create(admin, receiver, events=["chat_transcript.stored", "cobrowse_session.stored", "composition.failed"])
    event = await admin.start(room, f"conv-sidecars-{room}")
    body_ids = {k: event[k] for k in ("conversationId", "recorderId", "instanceId")}
    chat = {"timeStamp": "2026-01-01T10:00:00Z", "transcript": "hello", "userId": "u1"}
    await admin.json("POST", f"{API}/recordings/chat/transcript/add", json={**body_ids, "chatTranscriptList": [chat]})
    cobrowse = {"payload": "{}", "sequenceId": 1, "sessionId": "s1", "timestamp": 1}
    await admin.json("POST", f"{API}/recordings/cobrowse/event", json={**body_ids, "event": cobrowse})
    await admin.stop(event)
    requested = await admin.json(
        "POST", "/composition/api/request", json={"conversationId": event["conversationId"], "type": "audio"}
    )
    got = await eventually(lambda: _ready(receiver.at("/api")), lambda got: len(got) == 3, within=15)
    by_type = {r.body["type"]: r.body["data"] for r in got}
    assert by_type["chat_transcript.stored"]["file"]["kind"] == "CHAT"
    assert (
        by_type["cobrowse_session.stored"]["file"] | {"kind": "COBROWSE", "sessionId": "s1"}
        == by_type["cobrowse_session.stored"]["file"]
    )
    for kind in ("chat_transcript.stored", "cobrowse_session.stored"):
        assert by_type[kind]["recording"]["recorderId"] == event["recorderId"]
    failed = by_type["composition.failed"]
    assert (failed["composition"]["id"], failed["composition"]["error"]["code"], failed["sequence"]) == (
        requested["id"],
        "NO_MEDIA",
        1,
    )
