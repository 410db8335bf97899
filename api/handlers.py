"""Request handlers: parse, call the service with the caller's organization, present."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

from aiohttp import web

from api.auth import principal
from api.keys import SERVICE, SETTINGS, SIGNER
from api.presenters import (
    cobrowse_sessions_message,
    conversation_message,
    recording_event,
    recording_message,
    storage_profile,
)
from recorder.errors import NotFoundError
from recorder.models import ChatEntry, CobrowseEvent, Recording, Track, iso
from recorder.service import StartCommand
from schemas.recording import (
    AddChatTranscriptCmd,
    AddCobrowseEventCmd,
    CobrowseUrlQuery,
    StartRecording,
    StorageTestResult,
    StorageVerificationStatusMessage,
    URLResourceMessage,
)

API = "/rtc-recorder/api"
LEGACY_PREFIX = "/auvious.video"
OPENAPI = Path(__file__).resolve().parent.parent / "openapi.yaml"


def _ids(request: web.Request) -> tuple[str, str, str]:
    info = request.match_info
    return info["conversationId"], info["recorderId"], info["instanceId"]


def _org(request: web.Request) -> str:
    return principal(request).organization_id


def _signed_url(request: web.Request, *segments: str) -> tuple[str, str]:
    """(absolute signed URL, valid until) of a GET of API + the percent-encoded `segments`."""
    public = request.app[SETTINGS].public_url
    base = public.rstrip("/") if public else str(request.url.origin())
    path, valid_until = request.app[SIGNER].sign(API + "/" + "/".join(quote(s, safe="") for s in segments))
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
        )
    )
    return web.json_response(recording_event(recording).wire())


async def stop(request: web.Request) -> web.Response:
    recording = await request.app[SERVICE].stop(_org(request), *_ids(request))
    return web.json_response(recording_event(recording).wire())


async def active(request: web.Request) -> web.Response:
    recording = await request.app[SERVICE].get_live(_org(request), request.match_info["conversationId"])
    return web.json_response(recording_event(recording).wire())


async def state(request: web.Request) -> web.Response:
    recording = await request.app[SERVICE].get(_org(request), *_ids(request))
    return web.json_response(recording_event(recording).wire())


def _recording_with_urls(request: web.Request, recording: Recording) -> web.Response:
    storage = request.app[SERVICE].storage(recording.application_id)

    def track_url(track: Track) -> str | None:
        if track.object_location is None or storage.local_path(track.object_location) is None:
            return None
        ids = (recording.conversation_id, recording.recorder_id, recording.instance_id)
        return _signed_url(
            request, "recordings", "attachment", "track", *ids, track.id, Path(track.object_location).name
        )[0]

    return web.json_response(recording_message(recording, storage, track_url).wire())


async def info(request: web.Request) -> web.Response:
    return _recording_with_urls(request, await request.app[SERVICE].get(_org(request), *_ids(request)))


async def composition(request: web.Request) -> web.Response:
    """The conversation's latest recording, with signed track URLs."""
    recordings = await request.app[SERVICE].recordings(_org(request), request.match_info["conversationId"])
    return _recording_with_urls(request, recordings[-1])


async def conversation(request: web.Request) -> web.Response:
    service = request.app[SERVICE]
    recordings = await service.recordings(_org(request), request.match_info["conversationId"])
    provider = service.storage(recordings[-1].application_id).provider
    return web.json_response(conversation_message(recordings, provider).wire())


async def storage_info(request: web.Request) -> web.Response:
    service = request.app[SERVICE]
    recording = await service.get(_org(request), *_ids(request))
    return web.json_response(
        storage_profile(recording.application_id, service.storage(recording.application_id)).wire()
    )


async def verify_storage(request: web.Request) -> web.Response:
    service = request.app[SERVICE]
    app = service.application(_org(request), request.match_info["applicationId"])
    result = await service.storage(app.id).verify()
    message = StorageVerificationStatusMessage(
        **{
            f"{name}_test_result": StorageTestResult(passed=check.passed, message=check.message)
            for name, check in vars(result).items()
        }
    )
    return web.json_response(message.wire())


async def add_chat_transcript(request: web.Request) -> web.Response:
    body = AddChatTranscriptCmd.model_validate_json(await request.read())
    entries = [ChatEntry(e.time_stamp, e.transcript, e.user_id, e.user_display_name) for e in body.chat_transcript_list]
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


def _download(request: web.Request, application_id: str, location: str | None) -> web.FileResponse:
    """The stored file named by `location`, if the link's file name is its name; Range supported."""
    if location is None or Path(location).name != request.match_info["fileName"]:
        raise NotFoundError("no such file")
    file = request.app[SERVICE].storage(application_id).local_path(location)
    if file is None:
        raise NotFoundError("the file is not in this recorder's storage")
    return web.FileResponse(file, headers={"Content-Disposition": f'attachment; filename="{file.name}"'})


async def track_attachment(request: web.Request) -> web.StreamResponse:
    """A signed track link: no Authorization header; Range requests answer 206 (or 416)."""
    _verified(request)
    recording = await request.app[SERVICE].get(None, *_ids(request))
    track = next((t for s in recording.streams for t in s.tracks if t.id == request.match_info["trackId"]), None)
    return _download(request, recording.application_id, track.object_location if track else None)


async def cobrowse_attachment(request: web.Request) -> web.StreamResponse:
    """A signed cobrowse session link: no Authorization header; Range supported."""
    _verified(request)
    recording, session = await request.app[SERVICE].cobrowse_session(
        None, _ids(request), request.match_info["sessionId"]
    )
    return _download(request, recording.application_id, session.location)


async def openapi(request: web.Request) -> web.FileResponse:
    return web.FileResponse(OPENAPI, headers={"Content-Type": "application/yaml"})
