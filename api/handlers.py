"""Request handlers: parse, call the service with the caller's organization, present."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import importlib.resources
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

from aiohttp import web
from pydantic import TypeAdapter

from api.auth import principal
from api.keys import SERVICE, SETTINGS, SIGNER
from api.presenters import (
    cobrowse_sessions_message,
    composition_message,
    conversation_message,
    recording_event,
    recording_message,
    storage_profile,
    storage_profile_view,
)
from recorder.compositions import CompositionCommand
from recorder.errors import NotFoundError
from recorder.models import ChatEntry, CobrowseEvent, Recording, iso
from recorder.service import StartCommand
from schemas.composition import CompositionRequest, CompositionsMessage, ReexecuteComposition
from schemas.recording import (
    AddChatTranscriptCmd,
    AddCobrowseEventCmd,
    CobrowseUrlQuery,
    StartRecording,
    StopRecording,
    StorageTestResult,
    StorageVerificationStatusMessage,
    ThroughputTestResult,
    URLResourceMessage,
)
from storage_providers.base import CheckResult, StorageError, StorageProvider

API = "/rtc-recorder/api"
COMPOSITION_API = "/composition/api"
_JSON_OBJECT: TypeAdapter[dict[str, Any]] = TypeAdapter(dict[str, Any])
LEGACY_PREFIX = "/auvious.video"
LARGE_BODY = 64 << 10  # bytes: a body larger than this is parsed off the event loop


def _ids(request: web.Request) -> tuple[str, str, str]:
    info = request.match_info
    return info["conversationId"], info["recorderId"], info["instanceId"]


def _org(request: web.Request) -> str:
    return principal(request).organization_id


def _signed_url(request: web.Request, *segments: str, api: str = API) -> tuple[str, str]:
    """(absolute signed URL, valid until) of a GET of `api` + the percent-encoded `segments`."""
    public = request.app[SETTINGS].public_url
    base = public.rstrip("/") if public else str(request.url.origin())
    path, valid_until = request.app[SIGNER].sign(api + "/" + "/".join(quote(s, safe="") for s in segments))
    return base + path, iso(valid_until)


async def start(request: web.Request) -> web.Response:
    body = StartRecording.model_validate_json(await request.read())
    recording = await request.app[SERVICE].start(
        StartCommand(
            organization_id=_org(request),
            application_id=body.application_id,
            conference_id=body.conference_id,
            conversation_id=body.conversation_id,
            audio=body.audio,
            video=body.video,
            screen=body.records_screen,
        )
    )
    return web.json_response(recording_event(recording).wire())


async def stop(request: web.Request) -> web.Response:
    recording = await request.app[SERVICE].stop(_org(request), *_ids(request))
    return web.json_response(recording_event(recording).wire())


async def stop_by_body(request: web.Request) -> web.Response:
    """`POST /recordings/stop` with the ids in the body, as one of Auvious's Postman collections stops."""
    body = StopRecording.model_validate_json(await request.read())
    recording = await request.app[SERVICE].stop_by_ids(
        _org(request), body.application_id, body.recorder_id, body.instance_id, body.conversation_id
    )
    return web.json_response(recording_event(recording).wire())


async def active(request: web.Request) -> web.Response:
    recording = await request.app[SERVICE].get_live(_org(request), request.match_info["conversationId"])
    return web.json_response(recording_event(recording).wire())


async def state(request: web.Request) -> web.Response:
    recording = await request.app[SERVICE].get(_org(request), *_ids(request))
    return web.json_response(recording_event(recording).wire())


async def _storage_url(request: web.Request, application_id: str, key: str | None, uploaded: object) -> str | None:
    """The storage's own signed URL of an uploaded object; None when it has none (local, SFTP), when the file
    is not uploaded yet, or when the storage cannot sign now (the service's own link still works)."""
    if not key or not uploaded:
        return None
    ttl = timedelta(seconds=request.app[SETTINGS].url_ttl_seconds)
    with contextlib.suppress(StorageError):
        return await request.app[SERVICE].storage(application_id).signed_url(key, ttl)  # unreadable keys: None
    return None


async def _recording_with_urls(request: web.Request, recording: Recording) -> web.Response:
    """Track URLs: the storage's own signed URL once a file is uploaded there; otherwise (local storage,
    SFTP, or a file not uploaded yet) the service's signed link, which serves it from wherever it is."""
    service = request.app[SERVICE]
    ids = (recording.conversation_id, recording.recorder_id, recording.instance_id)
    urls: dict[str, str] = {}
    for track in (t for s in recording.streams for t in s.tracks):
        url = await _storage_url(request, recording.application_id, track.object_location, track.object_uploaded)
        if url is None and (track.object_uploaded or track.local_deleted is None):
            name = Path(track.object_location or track.local_location).name
            url = _signed_url(request, "recordings", "attachment", "track", *ids, track.id, name)[0]
        if url is not None:
            urls[track.id] = url
    message = recording_message(recording, service.storage_location(recording.application_id), urls)
    return web.json_response(message.wire())


async def info(request: web.Request) -> web.Response:
    return await _recording_with_urls(request, await request.app[SERVICE].get(_org(request), *_ids(request)))


async def composition(request: web.Request) -> web.Response:
    """The conversation's latest recording, with signed track URLs."""
    recordings = await request.app[SERVICE].recordings(_org(request), request.match_info["conversationId"])
    return await _recording_with_urls(request, recordings[-1])


async def conversation(request: web.Request) -> web.Response:
    service = request.app[SERVICE]
    recordings = await service.recordings(_org(request), request.match_info["conversationId"])
    provider = service.profiles.get(recordings[-1].application_id).provider  # no client needed for a name
    return web.json_response(conversation_message(recordings, provider).wire())


async def storage_info(request: web.Request) -> web.Response:
    service = request.app[SERVICE]
    recording = await service.get(_org(request), *_ids(request))
    return web.json_response(
        storage_profile(recording.application_id, service.storage_location(recording.application_id)).wire()
    )


async def verify_storage(request: web.Request) -> web.Response:
    result = await request.app[SERVICE].verify_storage(_org(request), request.match_info["applicationId"])
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
    await request.app[SERVICE].confirm_storage(_org(request), request.match_info["applicationId"])
    return web.Response(status=204)


def _profile(request: web.Request, application_id: str) -> web.Response:
    profiles = request.app[SERVICE].profiles
    view = storage_profile_view(application_id, profiles.get(application_id), profiles.source(application_id))
    return web.json_response(view)


async def get_storage_profile(request: web.Request) -> web.Response:
    app = request.app[SERVICE].application(_org(request), request.match_info["applicationId"])
    return _profile(request, app.id)


async def put_storage_profile(request: web.Request) -> web.Response:
    """Credentials are write-only: never answered, never logged, encrypted at rest."""
    body = _JSON_OBJECT.validate_json(await request.read())  # bad bytes or not an object: 400
    application_id = request.match_info["applicationId"]
    await request.app[SERVICE].set_profile(_org(request), application_id, body)
    return _profile(request, application_id)


async def delete_storage_profile(request: web.Request) -> web.Response:
    await request.app[SERVICE].delete_profile(_org(request), request.match_info["applicationId"])
    return web.Response(status=204)


async def retry_upload(request: web.Request) -> web.Response:
    """Extension: try the recording's failed uploads again."""
    queued = await request.app[SERVICE].retry_uploads(_org(request), _ids(request))
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
    added = await request.app[SERVICE].add_chat(_org(request), ids, entries)
    return web.json_response({"added": added})


async def add_cobrowse_event(request: web.Request) -> web.Response:
    body = AddCobrowseEventCmd.model_validate_json(await request.read())
    event = CobrowseEvent(body.event.session_id, body.event.sequence_id, body.event.timestamp, body.event.payload)
    ids = (body.conversation_id, body.recorder_id, body.instance_id)
    added = await request.app[SERVICE].add_cobrowse(_org(request), ids, event)
    return web.json_response({"added": added})


async def cobrowse_sessions(request: web.Request) -> web.Response:
    conversation_id = request.match_info["conversationId"]
    sessions = await request.app[SERVICE].cobrowse_sessions(_org(request), conversation_id)
    return web.json_response(cobrowse_sessions_message(conversation_id, sessions).wire())


async def cobrowse_url(request: web.Request) -> web.Response:
    """The spec repeats the ids as required query parameters (`id`: the recorderId); the path's are used."""
    CobrowseUrlQuery.model_validate(dict(request.query))
    ids = _ids(request)
    _, session = await request.app[SERVICE].cobrowse_session(_org(request), ids, request.match_info["sessionId"])
    if session.location is None:
        raise NotFoundError("the cobrowse session is stored when its recording stops")
    url, valid_until = _signed_url(
        request, "recordings", "attachment", "cobrowse", *ids, session.session_id, Path(session.location).name
    )
    return web.json_response(URLResourceMessage(url=url, valid_until=valid_until).wire())


def _verified(request: web.Request) -> None:
    """The link's signature, over its path as sent (either prefix), method and parameters."""
    path = request.rel_url.raw_path
    if path.startswith(LEGACY_PREFIX + API):
        path = path[len(LEGACY_PREFIX) :]
    request.app[SIGNER].verify(request.method if request.method != "HEAD" else "GET", path, request.query)


async def _download(
    request: web.Request, application_id: str, key: str | None, local_file: str | None = None
) -> web.StreamResponse:
    """The file named by the link: the stored object `key`, or while it is not stored yet, the local file.
    Range supported."""
    name = request.match_info["fileName"]
    if name not in {Path(location).name for location in (key, local_file) if location}:
        raise NotFoundError("no such file")
    if key is not None:
        provider = request.app[SERVICE].storage(application_id)
        path = provider.local_path(key)
        if path is not None:
            return _file(path)
        stored = await provider.stat(key)
        if stored is not None:
            return await _stream(request, provider, key, stored.size, name)
    if local_file is not None and await asyncio.to_thread(Path(local_file).is_file):
        return _file(Path(local_file))
    raise NotFoundError("no such file")


def _file(path: Path) -> web.FileResponse:
    return web.FileResponse(path, headers={"Content-Disposition": f'attachment; filename="{path.name}"'})


async def _stream(
    request: web.Request, provider: StorageProvider, key: str, size: int, name: str
) -> web.StreamResponse:
    """An object of a storage without URLs of its own (SFTP), streamed through; one byte range at most."""
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
    _verified(request)
    recording = await request.app[SERVICE].get(None, *_ids(request))
    track = next((t for s in recording.streams for t in s.tracks if t.id == request.match_info["trackId"]), None)
    if track is None:
        raise NotFoundError("no such track")
    key = track.object_location if track.object_uploaded else None
    return await _download(request, recording.application_id, key, track.local_location)


async def cobrowse_attachment(request: web.Request) -> web.StreamResponse:
    """A signed cobrowse session link: no Authorization header; Range supported."""
    _verified(request)
    recording, session = await request.app[SERVICE].cobrowse_session(
        None, _ids(request), request.match_info["sessionId"]
    )
    return await _download(request, recording.application_id, session.location)


async def request_composition(request: web.Request) -> web.Response:
    body = CompositionRequest.model_validate_json(await request.read())
    width, height = body.size
    composition = await request.app[SERVICE].compositions.request(
        CompositionCommand(
            organization_id=_org(request),
            conversation_id=body.conversation_id,
            name=body.name or f"{body.conversation_id} {body.type.value.lower()}",
            type=body.type,
            width=width,
            height=height,
            layout=body.layout,
            priority=body.priority,
        )
    )
    return web.json_response(composition_message(composition).wire())


async def query_compositions(request: web.Request) -> web.Response:
    compositions = await request.app[SERVICE].compositions.query(_org(request), request.match_info["conversationId"])
    return web.json_response(CompositionsMessage(compositions=[composition_message(c) for c in compositions]).wire())


def _composition_ids(request: web.Request) -> tuple[str, str]:
    return request.match_info["conversationId"], request.match_info["compositionId"]


async def composition_url(request: web.Request) -> web.Response:
    """The file's URL: the storage's own signed URL once uploaded there, else the service's signed link."""
    c = await request.app[SERVICE].compositions.completed(_org(request), *_composition_ids(request))
    url = await _storage_url(request, c.application_id, c.object_location, c.object_uploaded)
    if url is not None:
        valid_until = iso(datetime.now(UTC) + timedelta(seconds=request.app[SETTINGS].url_ttl_seconds))
    else:
        ids = (c.conversation_id, c.id, c.file_name)
        url, valid_until = _signed_url(request, "attachment", *ids, api=COMPOSITION_API)
    return web.json_response(URLResourceMessage(url=url, valid_until=valid_until).wire())


async def composition_attachment(request: web.Request) -> web.StreamResponse:
    """A signed composition link: no Authorization header; Range supported."""
    _verified(request)
    composition = await request.app[SERVICE].compositions.completed(None, *_composition_ids(request))
    key = composition.object_location if composition.object_uploaded else None
    return await _download(request, composition.application_id, key, composition.local_location)


async def cancel_composition(request: web.Request) -> web.Response:
    """A queued or running composition stops (its worker ends, nothing is stored): CANCELLED."""
    composition = await request.app[SERVICE].compositions.cancel(_org(request), *_composition_ids(request))
    return web.json_response(composition_message(composition).wire())


async def reexecute_composition(request: web.Request) -> web.Response:
    """A FAILED or CANCELLED composition is queued again (same id)."""
    body = ReexecuteComposition.model_validate_json(await request.read())
    composition = await request.app[SERVICE].compositions.reexecute(_org(request), body.conversation_id, body.target)
    return web.json_response(composition_message(composition).wire())


async def delete_composition(request: web.Request) -> web.Response:
    await request.app[SERVICE].compositions.delete(_org(request), *_composition_ids(request))
    return web.Response(status=204)


@functools.cache
def openapi_document() -> bytes:
    """The HTTP contract, shipped inside the package (package data, read through the package)."""
    return importlib.resources.files("api").joinpath("openapi.yaml").read_bytes()


async def openapi(request: web.Request) -> web.Response:
    return web.Response(body=openapi_document(), content_type="application/yaml")
