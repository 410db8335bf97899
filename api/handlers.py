"""Request handlers: parse, call one capability (`api.keys`) with the caller's organization, present.

No domain rule lives here: which URL a file gets and where a link's file is read from is
`recorder.downloads`; who may call what is the route table (`api.routes`)."""

from __future__ import annotations

import asyncio
import functools
import importlib.resources
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiohttp import web
from pydantic import TypeAdapter

from api.auth import caller, origin, principal
from api.keys import (
    CHAT,
    COBROWSE,
    COMPOSITIONS,
    DELIVERER,
    DOWNLOADS,
    METRICS,
    READINESS,
    RECORDINGS,
    SETTINGS,
    STORAGE,
    WEBHOOKS,
)
from api.paths import API, LEGACY_PREFIX
from api.presenters import (
    cobrowse_sessions_message,
    composition_message,
    conversation_message,
    delivery_view,
    recording_event,
    recording_message,
    recording_summary,
    rules_message,
    storage_profile,
    storage_profile_view,
    subscription_view,
)
from recorder.compositions.queue import CompositionCommand
from recorder.downloads import Served
from recorder.errors import InvalidRequestError
from recorder.models import ChatEntry, CobrowseEvent, Recording, RecordingState, Rules, iso
from recorder.operations.metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from recorder.persistence.ports import RecordingQuery, StoredSubscription
from recorder.recordings.service import StartCommand
from schemas.composition import CompositionRequest, CompositionsMessage, ReexecuteComposition
from schemas.recording import (
    AddChatTranscriptCmd,
    AddCobrowseEventCmd,
    CobrowseUrlQuery,
    RecordingRules,
    StartRecording,
    StopRecording,
    StorageTestResult,
    StorageVerificationStatusMessage,
    ThroughputTestResult,
    URLResourceMessage,
)
from schemas.webhooks import DeliveriesMessage, ReplayMessage, ReplayRequest, SubscriptionsMessage
from storage_providers.base import CheckResult

_JSON_OBJECT: TypeAdapter[dict[str, Any]] = TypeAdapter(dict[str, Any])
LARGE_BODY = 64 << 10  # bytes: a body larger than this is parsed off the event loop


def _ids(request: web.Request) -> tuple[str, str, str]:
    info = request.match_info
    return info["conversationId"], info["recorderId"], info["instanceId"]


def _org(request: web.Request) -> str:
    return principal(request).organization_id


def _rules(body: RecordingRules | None) -> Rules:
    return Rules.from_data(body.model_dump(by_alias=True, exclude_none=True, mode="json")) if body else Rules()


async def start(request: web.Request) -> web.Response:
    body = StartRecording.model_validate_json(await request.read())
    recording = await request.config_dict[RECORDINGS].start(
        StartCommand(
            organization_id=_org(request),
            application_id=body.application_id,
            conference_id=body.conference_id,
            conversation_id=body.conversation_id,
            audio=body.audio,
            video=body.video,
            screen=body.records_screen,
            caller=caller(request),
            rules=_rules(body.rules),
            max_duration_seconds=body.max_duration_seconds,
            empty_room_timeout_seconds=body.empty_room_timeout_seconds,
            no_media_timeout_seconds=body.no_media_timeout_seconds,
        )
    )
    return web.json_response(recording_event(recording).wire())


async def stop(request: web.Request) -> web.Response:
    recording = await request.config_dict[RECORDINGS].stop(_org(request), *_ids(request), caller=caller(request))
    return web.json_response(recording_event(recording).wire())


async def pause(request: web.Request) -> web.Response:
    """Extension: nothing heard or seen reaches the disk until resumed (idempotent; 409 when not live)."""
    return await _recording_message(request, await request.config_dict[RECORDINGS].pause(_org(request), _ids(request)))


async def resume(request: web.Request) -> web.Response:
    """Extension: recording goes on in new segments (idempotent; 409 when not live)."""
    return await _recording_message(request, await request.config_dict[RECORDINGS].resume(_org(request), _ids(request)))


async def put_rules(request: web.Request) -> web.Response:
    """Extension: replace who and what is recorded, at once; the rules and what is recorded now, and why."""
    rules = _rules(RecordingRules.model_validate_json(await request.read()))
    service = request.config_dict[RECORDINGS]
    recording = await service.set_rules(_org(request), _ids(request), rules)
    return web.json_response(rules_message(recording, service.publications(recording.recorder_id)).wire())


async def stop_by_body(request: web.Request) -> web.Response:
    """`POST /recordings/stop` with the ids in the body, as one of Auvious's Postman collections stops."""
    body = StopRecording.model_validate_json(await request.read())
    recording = await request.config_dict[RECORDINGS].stop_by_ids(
        _org(request), body.application_id, body.recorder_id, body.instance_id, body.conversation_id, caller(request)
    )
    return web.json_response(recording_event(recording).wire())


async def active(request: web.Request) -> web.Response:
    recording = await request.config_dict[RECORDINGS].get_live(_org(request), request.match_info["conversationId"])
    return web.json_response(recording_event(recording).wire())


async def state(request: web.Request) -> web.Response:
    recording = await request.config_dict[RECORDINGS].get(_org(request), *_ids(request))
    return web.json_response(recording_event(recording).wire())


async def _recording_message(request: web.Request, recording: Recording) -> web.Response:
    """A recording with its storage, a URL for each track file and for its manifest."""
    downloads = request.config_dict[DOWNLOADS]
    urls = await downloads.track_urls(recording, origin(request))
    manifest = await downloads.manifest_url(recording, origin(request))
    location = await request.config_dict[STORAGE].location(recording.application_id, recording.recorder_id)
    return web.json_response(recording_message(recording, location, urls, manifest).wire())


async def search(request: web.Request) -> web.Response:
    """`GET .../recordings?applicationId=...`: a page of an application's recordings, newest first, found by a
    conversation id's start, a participant, a time of creation and a state."""
    query = request.query
    unknown = sorted(
        set(query) - {"applicationId", "conversationId", "userId", "since", "until", "state", "page", "size"}
    )
    if unknown:
        raise InvalidRequestError(f"unknown query parameters: {', '.join(unknown)}")
    app = request.config_dict[SETTINGS].application_of(_org(request), query.get("applicationId", ""))
    page = _int_query(request, "page", 1, 1, 100_000) or 1
    size = _int_query(request, "size", 20, 1, 100) or 20
    try:
        since, until = (_time_query(query.get(name)) for name in ("since", "until"))
        states = (RecordingState(query["state"]).value,) if "state" in query else ()
    except ValueError as exc:
        raise InvalidRequestError(f"since and until are ISO times; state one of the recording states: {exc}") from None
    found, total = await request.config_dict[RECORDINGS].page(
        RecordingQuery(
            application_id=app.id,
            conversation_prefix=query.get("conversationId") or None,
            user_id=query.get("userId") or None,
            since=since,
            until=until,
            states=states,
            offset=(page - 1) * size,
            limit=size,
        )
    )
    body = {"recordings": [recording_summary(r) for r in found], "total": total, "page": page, "size": size}
    return web.json_response(body)


def _time_query(value: str | None) -> datetime | None:
    if not value:
        return None
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


async def chat_entries(request: web.Request) -> web.Response:
    """A recording's chat transcript entries, in time order (the console shows them beside the timeline)."""
    recording = await request.config_dict[RECORDINGS].get(_org(request), *_ids(request))
    entries = [
        {
            k: v
            for k, v in (
                ("timeStamp", iso(e.time_stamp)),
                ("transcript", e.transcript),
                ("userId", e.user_id),
                ("userDisplayName", e.user_display_name),
            )
            if v is not None
        }
        for e in await request.config_dict[CHAT].entries(recording)
    ]
    return web.json_response({"entries": entries})


async def me(request: web.Request) -> web.Response:
    """Who calls: its roles and its organization's applications (what the console shows)."""
    who = principal(request)
    apps = [a.id for a in request.config_dict[SETTINGS].applications if a.organization_id == who.organization_id]
    body = {
        "subject": who.subject.removeprefix("key:"),
        "organizationId": who.organization_id,
        "roles": sorted(r.value for r in who.roles),
        "applications": apps,
    }
    return web.json_response(body)


async def info(request: web.Request) -> web.Response:
    return await _recording_message(request, await request.config_dict[RECORDINGS].get(_org(request), *_ids(request)))


async def latest_recording(request: web.Request) -> web.Response:
    """`GET .../compositions/{conversationId}`: the conversation's latest recording, with its track URLs."""
    recordings = await request.config_dict[RECORDINGS].recordings(_org(request), request.match_info["conversationId"])
    return await _recording_message(request, recordings[-1])


async def conversation(request: web.Request) -> web.Response:
    recordings = await request.config_dict[RECORDINGS].recordings(_org(request), request.match_info["conversationId"])
    provider = request.config_dict[STORAGE].provider_name(recordings[-1].application_id)
    return web.json_response(conversation_message(recordings, provider).wire())


async def storage_info(request: web.Request) -> web.Response:
    recording = await request.config_dict[RECORDINGS].get(_org(request), *_ids(request))
    location = await request.config_dict[STORAGE].location(recording.application_id, recording.recorder_id)
    return web.json_response(storage_profile(recording.application_id, location).wire())


async def verify_storage(request: web.Request) -> web.Response:
    result = await request.config_dict[STORAGE].verify(_org(request), request.match_info["applicationId"])
    probe = result.throughput
    message = StorageVerificationStatusMessage(
        **{
            f"{name}_test_result": StorageTestResult(passed=check.passed, message=check.message)
            for name, check in vars(result).items()
            if isinstance(check, CheckResult)
        },
        throughput_test_result=ThroughputTestResult(
            passed=probe.passed,
            message=probe.message,
            bytes_transferred=probe.bytes_transferred,
            duration_millis=probe.duration_millis,
            throughput_mbps=probe.mbps,
        ),
    )
    return web.json_response(message.wire())


async def confirm_storage(request: web.Request) -> web.Response:
    """`POST .../storageproviders/{applicationId}/verified`: the profile in force is confirmed (204)."""
    await request.config_dict[STORAGE].confirm(_org(request), request.match_info["applicationId"])
    return web.Response(status=204)


def _profile(request: web.Request, application_id: str) -> web.Response:
    view = storage_profile_view(application_id, *request.config_dict[STORAGE].profile(application_id))
    return web.json_response(view)


async def get_storage_profile(request: web.Request) -> web.Response:
    app = request.config_dict[SETTINGS].application_of(_org(request), request.match_info["applicationId"])
    return _profile(request, app.id)


async def put_storage_profile(request: web.Request) -> web.Response:
    """Credentials are write-only: never answered, never logged, encrypted at rest."""
    body = _JSON_OBJECT.validate_json(await request.read())  # bad bytes or not an object: 400
    application_id = request.match_info["applicationId"]
    await request.config_dict[STORAGE].set_profile(_org(request), application_id, body)
    return _profile(request, application_id)


async def delete_storage_profile(request: web.Request) -> web.Response:
    await request.config_dict[STORAGE].delete_profile(_org(request), request.match_info["applicationId"])
    return web.Response(status=204)


async def retry_upload(request: web.Request) -> web.Response:
    """Extension: try the recording's failed uploads again."""
    recording = await request.config_dict[RECORDINGS].get(_org(request), *_ids(request))
    queued = await request.config_dict[STORAGE].retry(recorder_id=recording.recorder_id)
    return web.json_response({"queued": queued}, status=202)


def _chat_entries(raw: bytes) -> tuple[AddChatTranscriptCmd, list[ChatEntry]]:
    body = AddChatTranscriptCmd.model_validate_json(raw)
    return body, [
        ChatEntry(e.time_stamp, e.transcript, e.user_id, e.user_display_name) for e in body.chat_transcript_list
    ]


async def add_chat_transcript(request: web.Request) -> web.Response:
    """Up to 10,000 entries a request: a large body is read off the event loop, so that it delays no one."""
    raw = await request.read()
    body, entries = await asyncio.to_thread(_chat_entries, raw) if len(raw) > LARGE_BODY else _chat_entries(raw)
    ids = (body.conversation_id, body.recorder_id, body.instance_id)
    recording = await request.config_dict[RECORDINGS].get(_org(request), *ids)
    added = await request.config_dict[CHAT].add(recording, entries)
    return web.json_response({"added": added})


async def add_cobrowse_event(request: web.Request) -> web.Response:
    body = AddCobrowseEventCmd.model_validate_json(await request.read())
    event = CobrowseEvent(body.event.session_id, body.event.sequence_id, body.event.timestamp, body.event.payload)
    ids = (body.conversation_id, body.recorder_id, body.instance_id)
    recording = await request.config_dict[RECORDINGS].get(_org(request), *ids)
    added = await request.config_dict[COBROWSE].add(recording, event)
    return web.json_response({"added": added})


async def cobrowse_sessions(request: web.Request) -> web.Response:
    conversation_id = request.match_info["conversationId"]
    recordings = await request.config_dict[RECORDINGS].recordings(_org(request), conversation_id)
    sessions = await request.config_dict[COBROWSE].of(recordings)
    return web.json_response(cobrowse_sessions_message(conversation_id, sessions).wire())


async def cobrowse_url(request: web.Request) -> web.Response:
    """The spec repeats the ids as required query parameters (`id`: the recorderId); the path's are used."""
    CobrowseUrlQuery.model_validate(dict(request.query))
    recording = await request.config_dict[RECORDINGS].get(_org(request), *_ids(request))
    session = await request.config_dict[COBROWSE].session(recording, request.match_info["sessionId"])
    url, valid_until = request.config_dict[DOWNLOADS].cobrowse_url(recording, session, origin(request))
    return web.json_response(URLResourceMessage(url=url, valid_until=valid_until).wire())


def _check_link(request: web.Request) -> None:
    """The link's signature, over its path as sent (either prefix), method and parameters."""
    path = request.rel_url.raw_path
    if path.startswith(LEGACY_PREFIX + API):
        path = path[len(LEGACY_PREFIX) :]
    request.config_dict[DOWNLOADS].verify(request.method if request.method != "HEAD" else "GET", path, request.query)


async def _serve(request: web.Request, served: Served) -> web.StreamResponse:
    if served.path is not None:
        return _file(served.path)
    assert served.provider is not None and served.key is not None
    return await _stream(request, served)


def _file(path: Path) -> web.FileResponse:
    return web.FileResponse(path, headers={"Content-Disposition": f'attachment; filename="{path.name}"'})


async def _stream(request: web.Request, served: Served) -> web.StreamResponse:
    """An object of a storage without URLs of its own (SFTP), streamed through; one byte range at most."""
    provider, key, size, name = served.provider, served.key, served.size, served.name
    assert provider is not None and key is not None
    start, end = 0, size
    headers = {
        "Accept-Ranges": "bytes",
        "Content-Type": "application/octet-stream",
        "Content-Disposition": f'attachment; filename="{name}"',
    }
    if "Range" in request.headers:
        try:
            span = request.http_range
        except ValueError:
            span = slice(size, None)
        if span.start is not None and span.start < 0:
            start = max(0, size + span.start)
        else:
            start, end = span.start or 0, size if span.stop is None else min(span.stop, size)
        if start >= end:
            raise web.HTTPRequestRangeNotSatisfiable(headers={"Content-Range": f"bytes */{size}"})
        headers["Content-Range"] = f"bytes {start}-{end - 1}/{size}"
    response = web.StreamResponse(status=206 if "Content-Range" in headers else 200, headers=headers)
    response.content_length = end - start
    await response.prepare(request)
    if request.method != "HEAD":
        async for piece in provider.read_range(key, start, end):
            await response.write(piece)
    await response.write_eof()
    return response


async def track_attachment(request: web.Request) -> web.StreamResponse:
    """A signed track link: no Authorization header; Range requests answer 206 (or 416)."""
    _check_link(request)
    recording = await request.config_dict[RECORDINGS].get(None, *_ids(request))
    info = request.match_info
    return await _serve(
        request, await request.config_dict[DOWNLOADS].track_file(recording, info["trackId"], info["fileName"])
    )


async def manifest_attachment(request: web.Request) -> web.StreamResponse:
    """A signed manifest link: no Authorization header; Range supported."""
    _check_link(request)
    recording = await request.config_dict[RECORDINGS].get(None, *_ids(request))
    served = await request.config_dict[DOWNLOADS].locate(
        recording.application_id,
        request.match_info["fileName"],
        recording.manifest_location,
        None,
        recording.recorder_id,
    )
    return await _serve(request, served)


async def cobrowse_attachment(request: web.Request) -> web.StreamResponse:
    """A signed cobrowse session link: no Authorization header; Range supported."""
    _check_link(request)
    recording = await request.config_dict[RECORDINGS].get(None, *_ids(request))
    session = await request.config_dict[COBROWSE].session(recording, request.match_info["sessionId"])
    served = await request.config_dict[DOWNLOADS].locate(
        recording.application_id, request.match_info["fileName"], session.location, None, recording.recorder_id
    )
    return await _serve(request, served)


async def request_composition(request: web.Request) -> web.Response:
    body = CompositionRequest.model_validate_json(await request.read())
    width, height = body.size
    composition = await request.config_dict[COMPOSITIONS].request(
        CompositionCommand(
            organization_id=_org(request),
            conversation_id=body.conversation_id,
            name=body.name or f"{body.conversation_id} {body.type.value.lower()}",
            type=body.type,
            width=width,
            height=height,
            layout=body.layout,
            priority=body.priority,
            keep_pauses=body.keep_pauses,
        )
    )
    return web.json_response(composition_message(composition).wire())


async def query_compositions(request: web.Request) -> web.Response:
    compositions = await request.config_dict[COMPOSITIONS].query(_org(request), request.match_info["conversationId"])
    return web.json_response(CompositionsMessage(compositions=[composition_message(c) for c in compositions]).wire())


def _composition_ids(request: web.Request) -> tuple[str, str]:
    return request.match_info["conversationId"], request.match_info["compositionId"]


async def composition_url(request: web.Request) -> web.Response:
    """The file's URL: the storage's own signed URL once uploaded there, else the service's signed link."""
    composition = await request.config_dict[COMPOSITIONS].get_completed(_org(request), *_composition_ids(request))
    url, valid_until = await request.config_dict[DOWNLOADS].composition_url(composition, origin(request))
    return web.json_response(URLResourceMessage(url=url, valid_until=valid_until).wire())


async def composition_attachment(request: web.Request) -> web.StreamResponse:
    """A signed composition link: no Authorization header; Range supported."""
    _check_link(request)
    composition = await request.config_dict[COMPOSITIONS].get_completed(None, *_composition_ids(request))
    served = await request.config_dict[DOWNLOADS].composition_file(composition, request.match_info["fileName"])
    return await _serve(request, served)


async def cancel_composition(request: web.Request) -> web.Response:
    """A queued or running composition stops (its worker ends, nothing is stored): CANCELLED."""
    composition = await request.config_dict[COMPOSITIONS].cancel(_org(request), *_composition_ids(request))
    return web.json_response(composition_message(composition).wire())


async def reexecute_composition(request: web.Request) -> web.Response:
    """A FAILED or CANCELLED composition is queued again (same id)."""
    body = ReexecuteComposition.model_validate_json(await request.read())
    composition = await request.config_dict[COMPOSITIONS].reexecute(_org(request), body.conversation_id, body.target)
    return web.json_response(composition_message(composition).wire())


async def delete_composition(request: web.Request) -> web.Response:
    await request.config_dict[COMPOSITIONS].delete(_org(request), *_composition_ids(request))
    return web.Response(status=204)


@functools.cache
def openapi_document() -> bytes:
    """The HTTP contract, shipped inside the package (package data, read through the package)."""
    return importlib.resources.files("api").joinpath("openapi.yaml").read_bytes()


async def openapi(request: web.Request) -> web.Response:
    return web.Response(body=openapi_document(), content_type="application/yaml")


# ------------------------------------------------------------ webhooks (ADMIN)


def _application(request: web.Request) -> str:
    """The caller's application named in the path (another organization's is as unknown as none: 404)."""
    return request.config_dict[SETTINGS].application_of(_org(request), request.match_info["applicationId"]).id


def _subscription(request: web.Request, subscription: StoredSubscription, status: int = 200) -> web.Response:
    return web.json_response(subscription_view(subscription, time.time()).wire(), status=status)


async def list_webhooks(request: web.Request) -> web.Response:
    subscriptions = await request.config_dict[WEBHOOKS].of(_application(request))
    message = SubscriptionsMessage(subscriptions=[subscription_view(s, time.time()) for s in subscriptions])
    return web.json_response(message.wire())


async def create_webhook(request: web.Request) -> web.Response:
    """The secret is write-only: never answered, never logged, encrypted at rest."""
    body = _JSON_OBJECT.validate_json(await request.read())
    return _subscription(request, await request.config_dict[WEBHOOKS].create(_application(request), body), 201)


async def get_webhook(request: web.Request) -> web.Response:
    webhooks = request.config_dict[WEBHOOKS]
    return _subscription(request, await webhooks.get(_application(request), request.match_info["subscriptionId"]))


async def put_webhook(request: web.Request) -> web.Response:
    body = _JSON_OBJECT.validate_json(await request.read())
    application_id, subscription_id = _application(request), request.match_info["subscriptionId"]
    return _subscription(request, await request.config_dict[WEBHOOKS].update(application_id, subscription_id, body))


async def delete_webhook(request: web.Request) -> web.Response:
    await request.config_dict[WEBHOOKS].delete(_application(request), request.match_info["subscriptionId"])
    return web.Response(status=204)


async def rotate_webhook_secret(request: web.Request) -> web.Response:
    """The new secret signs from now on; the old one signs beside it for `webhook_rotation_grace_seconds`."""
    body = _JSON_OBJECT.validate_json(await request.read())
    application_id, subscription_id = _application(request), request.match_info["subscriptionId"]
    return _subscription(request, await request.config_dict[WEBHOOKS].rotate(application_id, subscription_id, body))


def _int_query(request: web.Request, name: str, default: int | None, low: int, high: int) -> int | None:
    text = request.query.get(name)
    if text is None:
        return default
    if not text.isdigit() or not low <= int(text) <= high:
        raise InvalidRequestError(f"{name} must be an integer from {low} to {high}")
    return int(text)


async def webhook_deliveries(request: web.Request) -> web.Response:
    """Newest first, `limit` (1..500, default 100) at a time; `before` pages on; `status` filters."""
    limit = _int_query(request, "limit", 100, 1, 500) or 100
    before = _int_query(request, "before", None, 1, 2**62)
    deliveries = await request.config_dict[WEBHOOKS].deliveries(
        _application(request), request.match_info["subscriptionId"], request.query.get("status"), limit, before
    )
    following = deliveries[-1].id if len(deliveries) == limit else None
    message = DeliveriesMessage(deliveries=[delivery_view(d) for d in deliveries], next_before=following)
    return web.json_response(message.wire())


async def redeliver_webhook(request: web.Request) -> web.Response:
    text = request.match_info["deliveryId"]
    if not text.isdigit() or int(text) > 2**62:
        raise InvalidRequestError("deliveryId must be a delivery's number")
    delivery = await request.config_dict[WEBHOOKS].redeliver(
        _application(request), request.match_info["subscriptionId"], int(text)
    )
    request.config_dict[DELIVERER].wake()
    return web.json_response(delivery_view(delivery).wire(), status=202)


async def replay_webhooks(request: web.Request) -> web.Response:
    """Every event of a recording (`recorderId`), or of a time range (`since`, `until`), sent again in order."""
    body = ReplayRequest.model_validate_json(await request.read())
    replayed = await request.config_dict[WEBHOOKS].replay(
        _application(request), request.match_info["subscriptionId"], body.recorder_id, body.since, body.until
    )
    request.config_dict[DELIVERER].wake()
    return web.json_response(ReplayMessage(replayed=replayed).wire(), status=202)


# ------------------------------------------------------------ metrics, liveness, readiness (no Authorization)


async def metrics(request: web.Request) -> web.Response:
    body = await request.config_dict[METRICS].exposition()
    return web.Response(body=body, headers={"Content-Type": METRICS_CONTENT_TYPE})


async def livez(request: web.Request) -> web.Response:
    """The process and its event loop answer."""
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    """503 with the reasons when the database does not answer, the instance is draining, or the spool is full."""
    reasons = await request.config_dict[READINESS].reasons()
    if reasons:
        return web.json_response({"status": "unavailable", "reasons": reasons}, status=503)
    return web.json_response({"status": "ready", "reasons": []})
