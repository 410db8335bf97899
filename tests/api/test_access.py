"""Authentication, roles and tenancy: every guarded operation, four cases each (one test per operation).

401 without valid credentials, 403 with a key whose role the operation does not allow, 404 for org2 asking
about org1's data (as if it did not exist), and success with the right role. A refused request changes
nothing."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from api.routes import COMPOSITION_ROUTES, ROUTES
from tests.builders import ALL_ROLES, NO_ROOM, Client, auth
from tests.client import API, COMPOSITION_API
from tests.eventually import eventually

_conversations = itertools.count()


@dataclass
class World:
    """org1's data: a recording that ended (FAILED: its room does not exist) with a chat transcript, a
    stored cobrowse session and a composition (FAILED: no media); and, for the `active` operation, a live
    recording. The conference is the fake one (`app_client`): access is about the API, not the media."""

    client: Client
    c: str
    r: str
    i: str
    composition: str = ""
    live_conversation: str | None = None
    webhook: str = ""  # a subscription of app1 (made before the recording: its delivery is `delivery`)
    delivery: int = 0
    ingest: str = ""  # an ingest of app1 (made for the revoke_ingest operation)
    receipt: str = ""  # a deletion receipt of org1 (made for the deletion_receipt operation)

    @property
    def ids(self) -> str:
        return f"{self.c}/{self.r}/{self.i}"

    def body_ids(self) -> dict[str, str]:
        return {"conversationId": self.c, "recorderId": self.r, "instanceId": self.i}


Request = tuple[str, str, dict[str, Any]]
HOLD = {"reason": "litigation 2026-17"}
CHAT = {"timeStamp": "2026-01-01T10:00:00Z", "transcript": "hello", "userId": "u1"}
EVENT = {"payload": "{}", "sequenceId": 1, "sessionId": "s1", "timestamp": 1}
S3_PROFILE = {
    "provider": "AMAZON_S3",
    "bucket": "access-bucket",
    "endpointUrl": "http://127.0.0.1:9",
    "credentials": {"accessKeyId": "id", "secretAccessKey": "secret"},
}
SESSION = {"type": "SCHEDULED", "status": "SCHEDULED", "coachId": "c1", "customerId": "u1", "conferenceId": "1"}
HOOK = {"url": "http://127.0.0.1:9/hook", "secret": "whsec_" + "QUNDRVNTLXRlc3QtMDEyMzQ1Njc4OWFiY2RlZg=="}

# handler name -> the request a client makes (against World), and whether it needs the live recording
OPERATIONS: dict[str, tuple[Callable[[World], Request], bool]] = {
    "start": (
        lambda w: (
            "POST",
            "/recordings/start",
            {"json": {"applicationId": "app1", "conferenceId": "999999", "conversationId": f"acc-{w.c}-new"}},
        ),
        False,
    ),
    "add_chat_transcript": (
        lambda w: ("POST", "/recordings/chat/transcript/add", {"json": {**w.body_ids(), "chatTranscriptList": [CHAT]}}),
        False,
    ),
    "add_cobrowse_event": (
        lambda w: (
            "POST",
            "/recordings/cobrowse/event",
            {"json": {**w.body_ids(), "event": {**EVENT, "sequenceId": 2}}},
        ),
        False,
    ),
    "active": (lambda w: ("GET", f"/recordings/{w.live_conversation}/active", {}), True),
    "cobrowse_sessions": (lambda w: ("GET", f"/recordings/{w.c}/cobrowse", {}), False),
    "stop": (lambda w: ("POST", f"/recordings/{w.ids}/stop", {}), False),
    # allowed, these answer 409: the world's recording FAILED (test_controls pauses and rules a live one)
    "pause": (lambda w: ("POST", f"/recordings/{w.ids}/pause", {}), False),
    "resume": (lambda w: ("POST", f"/recordings/{w.ids}/resume", {}), False),
    "put_rules": (lambda w: ("PUT", f"/recordings/{w.ids}/rules", {"json": {"exclude": [{"userId": "u1"}]}}), False),
    "stop_by_body": (
        lambda w: (
            "POST",
            "/recordings/stop",
            {"json": {"applicationId": "app1", "recorderId": w.r, "instanceId": w.i}},
        ),
        False,
    ),
    "state": (lambda w: ("GET", f"/recordings/{w.ids}/state", {}), False),
    "storage_info": (lambda w: ("GET", f"/recordings/{w.ids}/storage/info", {}), False),
    "cobrowse_url": (
        lambda w: (
            "GET",
            f"/recordings/{w.ids}/cobrowse/s1/url/attachment",
            {"params": {"conversationId": w.c, "id": w.r, "instanceId": w.i}},
        ),
        False,
    ),
    "info": (lambda w: ("GET", f"/recordings/{w.ids}", {}), False),
    "conversation": (lambda w: ("GET", f"/recordings/{w.c}", {}), False),
    "latest_recording": (lambda w: ("GET", f"/compositions/{w.c}", {}), False),
    "verify_storage": (lambda w: ("POST", "/storageproviders/app1/verify", {}), False),
    "confirm_storage": (lambda w: ("POST", "/storageproviders/app1/verified", {}), False),
    "get_storage_profile": (lambda w: ("GET", "/storageproviders/app1", {}), False),
    "put_storage_profile": (lambda w: ("PUT", "/storageproviders/app1", {"json": S3_PROFILE}), False),
    "delete_storage_profile": (lambda w: ("DELETE", "/storageproviders/app1", {}), False),
    "retry_upload": (lambda w: ("POST", f"/recordings/{w.ids}/upload", {}), False),
    "request_composition": (
        lambda w: ("POST", f"{COMPOSITION_API}/request", {"json": {"conversationId": w.c, "type": "audio"}}),
        False,
    ),
    "query_compositions": (lambda w: ("GET", f"{COMPOSITION_API}/query/conversation/{w.c}", {}), False),
    # allowed, it answers 409: the world's composition FAILED (test_compositions fetches a COMPLETED one)
    "composition_url": (lambda w: ("GET", f"{COMPOSITION_API}/player/{w.c}/{w.composition}/url/attachment", {}), False),
    "delete_composition": (lambda w: ("DELETE", f"{COMPOSITION_API}/{w.c}/{w.composition}/delete", {}), False),
    # allowed, it answers 409: a FAILED composition is not running (test_compositions cancels a running one)
    "cancel_composition": (lambda w: ("POST", f"{COMPOSITION_API}/{w.c}/{w.composition}/cancel", {}), False),
    "reexecute_composition": (
        lambda w: (
            "POST",
            f"{COMPOSITION_API}/reexecute",
            {"json": {"conversationId": w.c, "compositionId": w.composition}},
        ),
        False,
    ),
    "list_webhooks": (lambda w: ("GET", "/webhooks/app1", {}), False),
    "create_webhook": (lambda w: ("POST", "/webhooks/app1", {"json": HOOK}), False),
    "get_webhook": (lambda w: ("GET", f"/webhooks/app1/{w.webhook}", {}), False),
    "put_webhook": (lambda w: ("PUT", f"/webhooks/app1/{w.webhook}", {"json": {**HOOK, "format": "videosdk"}}), False),
    "delete_webhook": (lambda w: ("DELETE", f"/webhooks/app1/{w.webhook}", {}), False),
    "rotate_webhook_secret": (
        lambda w: ("POST", f"/webhooks/app1/{w.webhook}/secret", {"json": {"secret": HOOK["secret"]}}),
        False,
    ),
    "webhook_deliveries": (lambda w: ("GET", f"/webhooks/app1/{w.webhook}/deliveries", {}), False),
    "redeliver_webhook": (
        lambda w: ("POST", f"/webhooks/app1/{w.webhook}/deliveries/{w.delivery}/redeliver", {}),
        False,
    ),
    "replay_webhooks": (
        lambda w: ("POST", f"/webhooks/app1/{w.webhook}/replay", {"json": {"recorderId": w.r}}),
        False,
    ),
    "put_session": (lambda w: ("PUT", f"/sessions/app1/{w.c}", {"json": {**SESSION, "status": "PENDING"}}), False),
    "patch_session": (lambda w: ("PATCH", f"/sessions/app1/{w.c}", {"json": {"status": "IN_PROGRESS"}}), False),
    "get_session": (lambda w: ("GET", f"/sessions/app1/{w.c}", {}), False),
    "me": (lambda w: ("GET", "/me", {}), False),
    "chat_entries": (lambda w: ("GET", f"/recordings/{w.ids}/chat", {}), False),
    "search": (lambda w: ("GET", "/recordings", {"params": {"applicationId": "app1", "conversationId": w.c}}), False),
    "create_ingest": (
        lambda w: ("POST", "/ingests", {"json": {"applicationId": "app1", "conversationId": f"acc-{w.c}-whip"}}),
        False,
    ),
    "revoke_ingest": (lambda w: ("DELETE", f"/ingests/{w.ingest}", {}), False),
    "verify_recording": (lambda w: ("GET", f"/recordings/{w.ids}/verify", {}), False),
    "access_log": (lambda w: ("GET", "/access-log", {"params": {"conversationId": w.c}}), False),
    "access_log_check": (lambda w: ("GET", "/access-log/verify", {}), False),
    "list_holds": (lambda w: ("GET", "/holds", {}), False),
    "get_hold": (lambda w: ("GET", f"/holds/{w.c}", {}), False),
    "place_hold": (lambda w: ("PUT", f"/holds/{w.c}", {"json": HOLD}), False),
    "release_hold": (lambda w: ("POST", f"/holds/{w.c}/release", {"json": HOLD}), False),
    "delete_conversation": (lambda w: ("DELETE", f"/recordings/{w.c}", {"json": {"reason": "asked"}}), False),
    "deletion_receipt": (lambda w: ("GET", f"/deletions/{w.receipt}", {}), False),
}
# an organization's own lists: another organization sees its own (with nothing of org1's), not a 404
OWN_LISTS = {"me", "access_log", "access_log_check", "list_holds"}
# Who may call what: Auvious's docs where they say (composition request: AGENT, SUPERVISOR and SERVICE; reading
# a recording: "at least Agent"), the recorder API reference's roles elsewhere.
RECORDING_AGENT = {"start", "stop", "stop_by_body", "add_chat_transcript", "add_cobrowse_event", "pause", "resume"}
RECORDING_AGENT |= {"put_rules", "create_ingest", "revoke_ingest"}
READERS = {"active", "state", "info"}
SUPERVISION = {"cobrowse_sessions", "cobrowse_url", "conversation", "latest_recording", "search", "chat_entries"}
ADMINISTRATION = {
    "storage_info",
    "retry_upload",
    "verify_storage",
    "confirm_storage",
    "get_storage_profile",
    "put_storage_profile",
    "delete_storage_profile",
    "list_webhooks",
    "create_webhook",
    "get_webhook",
    "put_webhook",
    "delete_webhook",
    "rotate_webhook_secret",
    "webhook_deliveries",
    "redeliver_webhook",
    "replay_webhooks",
}
COMPOSING = {
    "request_composition",
    "query_compositions",
    "composition_url",
    "cancel_composition",
    "reexecute_composition",
}
EXPECTED_ROLES: dict[str, set[str]] = {
    **{name: {"AGENT"} for name in RECORDING_AGENT},
    **{name: {"AGENT", "SUPERVISOR"} for name in READERS},
    "info": {"AGENT", "SUPERVISOR", "AUDITOR"},
    **{name: {"SUPERVISOR", "AUDITOR"} for name in SUPERVISION},  # auditors read what supervisors read
    **{name: {"ADMIN"} for name in ADMINISTRATION},
    **{name: {"AGENT", "SUPERVISOR", "SERVICE"} for name in COMPOSING},
    "delete_composition": {"SUPERVISOR", "SERVICE"},
    **{name: {"SERVICE"} for name in ("put_session", "patch_session", "get_session")},  # the app's backend
    "me": set(ALL_ROLES),  # who calls: the console asks it first
    # the evidence: auditors read the access log; auditors and supervisors verify and hold; admins delete
    **{name: {"AUDITOR"} for name in ("access_log", "access_log_check")},
    **{name: {"AUDITOR", "SUPERVISOR"} for name in ("verify_recording", "list_holds", "get_hold")},
    **{name: {"AUDITOR", "SUPERVISOR"} for name in ("place_hold", "release_hold")},
    "delete_conversation": {"ADMIN"},
    "deletion_receipt": {"ADMIN", "AUDITOR"},
}
GUARDED = {handler.__name__: roles for _, _, roles, handler in [*ROUTES, *COMPOSITION_ROUTES] if roles}


def test_every_guarded_operation_is_in_this_table() -> None:
    assert set(OPERATIONS) == set(GUARDED)


def test_the_roles_are_those_documented() -> None:
    assert {name: {r.value for r in roles} for name, roles in GUARDED.items()} == EXPECTED_ROLES


async def _call(client: Client, request: Request, headers: dict[str, str]) -> tuple[int, Any]:
    method, path, kw = request
    url = path if path.startswith(COMPOSITION_API) else API + path
    async with client.request(method, url, headers=headers, **kw) as resp:
        return resp.status, None if resp.status == 204 else await resp.json()


async def _world(client: Client, room: int, live: bool) -> World:
    conversation = f"acc{next(_conversations)}"
    status, hook = await _call(client, ("POST", "/webhooks/app1", {"json": HOOK}), auth("all"))
    assert status == 201, hook
    status, event = await _call(
        client,
        (
            "POST",
            "/recordings/start",
            {"json": {"applicationId": "app1", "conferenceId": NO_ROOM, "conversationId": conversation}},
        ),
        auth("all"),
    )
    assert status == 200 and event["state"] == "FAILED", event
    world = World(client, event["conversationId"], event["recorderId"], event["instanceId"], webhook=hook["id"])
    registered: Request = ("PUT", f"/sessions/app1/{conversation}", {"json": SESSION})
    assert (await _call(client, registered, auth("SERVICE")))[0] == 201
    deliveries: Request = ("GET", f"/webhooks/app1/{hook['id']}/deliveries", {})
    status, listed = await _call(client, deliveries, auth("all"))
    assert status == 200 and listed["deliveries"][0]["eventType"] == "recording.failed", listed
    world.delivery = listed["deliveries"][0]["id"]
    for request in (
        OPERATIONS["add_chat_transcript"][0](world),
        ("POST", "/recordings/cobrowse/event", {"json": {**world.body_ids(), "event": EVENT}}),
    ):
        assert (await _call(client, request, auth("AGENT")))[0] == 200
    cobrowse: Request = ("GET", f"/recordings/{conversation}/cobrowse", {})
    await eventually(  # the cobrowse session's file is uploaded in the background
        lambda: _call(client, cobrowse, auth("all")),
        lambda answer: all(s.get("uploaded") for s in answer[1]["cobrowseSessions"]),
        what="the cobrowse session uploaded",
    )
    await client.wait_for(f"{API}/recordings/{world.ids}", lambda r: "chatTranscript" in r)  # the chat's too
    status, composition = await _call(client, OPERATIONS["request_composition"][0](world), auth("all"))
    assert status == 200, composition
    world.composition = composition["id"]
    await eventually(  # it fails in the background: the recording holds no media
        lambda: _call(client, OPERATIONS["query_compositions"][0](world), auth("all")),
        lambda answer: answer[1]["compositions"][0]["state"] == "FAILED",
        what="the composition failed",
    )
    if live:
        world.live_conversation = f"{conversation}-live"
        body = {"applicationId": "app1", "conferenceId": str(room), "conversationId": world.live_conversation}
        status, event = await _call(client, ("POST", "/recordings/start", {"json": body}), auth("all"))
        assert status == 200 and event["state"] == "ACTIVE", event
    return world


async def _snapshot(world: World) -> list[Any]:
    """What org1 sees of its data."""
    paths = [
        f"/recordings/{world.ids}",
        f"/recordings/{world.c}",
        f"/recordings/{world.c}/cobrowse",
        "/storageproviders/app1",
        f"{COMPOSITION_API}/query/conversation/{world.c}",
        "/webhooks/app1",
        f"/sessions/app1/{world.c}",
    ]
    if world.live_conversation:
        paths.append(f"/recordings/{world.live_conversation}/active")
    seen = [await _call(world.client, ("GET", p, {}), auth("all")) for p in paths]
    for _, body in seen:
        for stream in body.get("streams") or []:
            for track in stream["tracks"]:
                track.pop("url", None)  # signed links carry the signing time
    return seen


@pytest.mark.parametrize("operation", sorted(OPERATIONS))
async def test_access(client: Client, room: int, operation: str) -> None:
    """The four cases of one operation, on one world: the three refusals first (each changes nothing), then
    the allowed call."""
    make, live = OPERATIONS[operation]
    world = await _world(client, room, live)
    request = make(world)
    if operation == "delete_storage_profile":  # something to delete
        assert (await _call(client, OPERATIONS["put_storage_profile"][0](world), auth("all")))[0] == 200
    if operation == "revoke_ingest":  # something to revoke
        status, made = await _call(client, OPERATIONS["create_ingest"][0](world), auth("all"))
        assert status == 201, made
        world.ingest = made["ingestId"]
        request = make(world)
    if operation in ("get_hold", "release_hold"):  # something held
        assert (await _call(client, OPERATIONS["place_hold"][0](world), auth("all")))[0] == 200
    if operation == "deletion_receipt":  # something deleted
        status, receipt = await _call(client, OPERATIONS["delete_conversation"][0](world), auth("all"))
        assert status == 200, receipt
        world.receipt = receipt["id"]
        request = make(world)
    for case in ("401", "403", "404"):
        before = await _snapshot(world)
        await _refused(client, operation, request, case)
        assert await _snapshot(world) == before, f"a refused request ({case}) changed something"
    role = next(r for r in ALL_ROLES if r in GUARDED[operation])
    status, body = await _call(client, request, auth(role))
    conflict = operation in {"composition_url", "cancel_composition", "pause", "resume", "put_rules"}
    assert status in ((409,) if conflict else (200, 201, 202, 204)), body


async def _refused(client: Client, operation: str, request: Request, case: str) -> None:
    if case == "401":
        for headers in (
            {"Authorization": ""},
            {"Authorization": "Bearer not-a-token"},
            {"Authorization": "Basic eDp5"},
        ):
            status, body = await _call(client, request, headers)
            assert status == 401 and body["error"] == "UNAUTHORIZED", (headers, body)
    elif case == "403":
        for role in (r for r in ALL_ROLES if r not in GUARDED[operation]):
            status, body = await _call(client, request, auth(role))
            assert status == 403 and body["error"] == "FORBIDDEN", (role, body)
    elif operation == "me":  # no organization's data: another organization learns only about itself
        status, body = await _call(client, request, auth("other"))
        assert status == 200 and body["organizationId"] == "org2" and body["applications"] == [], body
    elif operation in OWN_LISTS:  # its own log and holds: none of org1's
        status, body = await _call(client, request, auth("other"))
        assert status == 200, body
        assert body in ({"entries": [], "next": None}, {"holds": []}) or (body["intact"] and body["rows"] == 0), body
    else:
        status, body = await _call(client, request, auth("other"))
        assert status == 404 and body["error"] == "NOT_FOUND", body


@pytest.fixture
def client(app_client: Client) -> Client:
    """Access is about the API, not the media: the app with the fake conference (no Janus started)."""
    return app_client
