"""The recordings section of the route table: start, stop, controls, state, reads, search; who calls; the document."""

from __future__ import annotations

import functools
import importlib.resources

from aiohttp import web

from api.auth import caller, origin, principal
from api.handlers.common import int_query, org, path_ids, rules_of, time_query
from api.keys import (
    DOWNLOADS,
    RECORDINGS,
    SETTINGS,
    STORAGE,
)
from api.presenters import (
    conversation_message,
    recording_event,
    recording_message,
    recording_summary,
    rules_message,
)
from recorder.errors import InvalidRequestError
from recorder.models import Recording, RecordingState
from recorder.persistence.ports import RecordingQuery
from recorder.recordings.commands import StartCommand
from schemas.recording import (
    PauseRequest,
    RecordingRules,
    StartRecording,
    StopRecording,
)


async def start(request: web.Request) -> web.Response:
    body = StartRecording.model_validate_json(await request.read())
    recording = await request.config_dict[RECORDINGS].start(
        StartCommand(
            organization_id=org(request),
            application_id=body.application_id,
            conference_id=body.conference_id,
            conversation_id=body.conversation_id,
            audio=body.audio,
            video=body.video,
            screen=body.records_screen,
            caller=caller(request),
            rules=rules_of(body.rules),
            max_duration_seconds=body.max_duration_seconds,
            empty_room_timeout_seconds=body.empty_room_timeout_seconds,
            no_media_timeout_seconds=body.no_media_timeout_seconds,
        )
    )
    return web.json_response(recording_event(recording).wire())


async def stop(request: web.Request) -> web.Response:
    recording = await request.config_dict[RECORDINGS].stop(org(request), *path_ids(request), caller=caller(request))
    return web.json_response(recording_event(recording).wire())


async def pause(request: web.Request) -> web.Response:
    """Extension: nothing heard or seen reaches the disk until resumed (idempotent; 409 when not live); nor
    chat entries or cobrowse events of the span. An optional body says why: {"reason": "PAYMENT"}."""
    raw = await request.read()
    body = PauseRequest.model_validate_json(raw) if raw.strip() else PauseRequest()
    return await _recording_message(
        request, await request.config_dict[RECORDINGS].pause(org(request), path_ids(request), body.reason)
    )


async def resume(request: web.Request) -> web.Response:
    """Extension: recording goes on in new segments (idempotent; 409 when not live)."""
    return await _recording_message(
        request, await request.config_dict[RECORDINGS].resume(org(request), path_ids(request))
    )


async def put_rules(request: web.Request) -> web.Response:
    """Extension: replace who and what is recorded, at once; the rules and what is recorded now, and why."""
    rules = rules_of(RecordingRules.model_validate_json(await request.read()))
    service = request.config_dict[RECORDINGS]
    recording = await service.set_rules(org(request), path_ids(request), rules)
    return web.json_response(rules_message(recording, service.publications(recording.recorder_id)).wire())


async def stop_by_body(request: web.Request) -> web.Response:
    """`POST /recordings/stop` with the ids in the body, as one of Auvious's Postman collections stops."""
    body = StopRecording.model_validate_json(await request.read())
    recording = await request.config_dict[RECORDINGS].stop_by_ids(
        org(request), body.application_id, body.recorder_id, body.instance_id, body.conversation_id, caller(request)
    )
    return web.json_response(recording_event(recording).wire())


async def active(request: web.Request) -> web.Response:
    recording = await request.config_dict[RECORDINGS].get_live(org(request), request.match_info["conversationId"])
    return web.json_response(recording_event(recording).wire())


async def state(request: web.Request) -> web.Response:
    recording = await request.config_dict[RECORDINGS].get(org(request), *path_ids(request))
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
    app = request.config_dict[SETTINGS].application_of(org(request), query.get("applicationId", ""))
    page = int_query(request, "page", 1, 1, 100_000) or 1
    size = int_query(request, "size", 20, 1, 100) or 20
    try:
        since, until = (time_query(query.get(name)) for name in ("since", "until"))
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
    return await _recording_message(
        request, await request.config_dict[RECORDINGS].get(org(request), *path_ids(request))
    )


async def latest_recording(request: web.Request) -> web.Response:
    """`GET .../compositions/{conversationId}`: the conversation's latest recording, with its track URLs."""
    recordings = await request.config_dict[RECORDINGS].recordings(org(request), request.match_info["conversationId"])
    return await _recording_message(request, recordings[-1])


async def conversation(request: web.Request) -> web.Response:
    recordings = await request.config_dict[RECORDINGS].recordings(org(request), request.match_info["conversationId"])
    provider = request.config_dict[STORAGE].provider_name(recordings[-1].application_id)
    return web.json_response(conversation_message(recordings, provider).wire())


@functools.cache
def openapi_document() -> bytes:
    """The HTTP contract, shipped inside the package (package data, read through the package)."""
    return importlib.resources.files("api").joinpath("openapi.yaml").read_bytes()


async def openapi(request: web.Request) -> web.Response:
    return web.Response(body=openapi_document(), content_type="application/yaml")
