"""Request handlers: parse, call the service, present."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

from aiohttp import web

from api.keys import SERVICE, SETTINGS, SIGNER
from api.presenters import conversation_message, recording_event, recording_message
from recorder.errors import NotFoundError
from recorder.models import Track
from recorder.service import StartCommand
from schemas.recording import StartRecording

API = "/rtc-recorder/api"
LEGACY_PREFIX = "/auvious.video"
OPENAPI = Path(__file__).resolve().parent.parent / "openapi.yaml"


def _ids(request: web.Request) -> tuple[str, str, str]:
    info = request.match_info
    return info["conversationId"], info["recorderId"], info["instanceId"]


def _base_url(request: web.Request) -> str:
    public = request.app[SETTINGS].public_url
    return public.rstrip("/") if public else str(request.url.origin())


async def start(request: web.Request) -> web.Response:
    body = StartRecording.model_validate_json(await request.read())
    recording = await request.app[SERVICE].start(
        StartCommand(
            application_id=body.application_id,
            conference_id=body.conference_id,
            conversation_id=body.conversation_id,
            audio=body.audio,
            video=body.video,
        )
    )
    return web.json_response(recording_event(recording).wire())


async def stop(request: web.Request) -> web.Response:
    recording = await request.app[SERVICE].stop(*_ids(request))
    return web.json_response(recording_event(recording).wire())


async def active(request: web.Request) -> web.Response:
    recording = await request.app[SERVICE].get_live(request.match_info["conversationId"])
    return web.json_response(recording_event(recording).wire())


async def state(request: web.Request) -> web.Response:
    recording = await request.app[SERVICE].get(*_ids(request))
    return web.json_response(recording_event(recording).wire())


async def info(request: web.Request) -> web.Response:
    service = request.app[SERVICE]
    recording = await service.get(*_ids(request))
    storage = service.storage(recording.application_id)
    signer, base = request.app[SIGNER], _base_url(request)

    def track_url(track: Track) -> str | None:
        if track.object_location is None or storage.local_path(track.object_location) is None:
            return None
        name = Path(track.object_location).name
        segments = (recording.conversation_id, recording.recorder_id, recording.instance_id, track.id, name)
        path = f"{API}/recordings/attachment/track/" + "/".join(quote(s, safe="") for s in segments)
        return base + signer.sign(path)[0]

    return web.json_response(recording_message(recording, storage.provider, track_url).wire())


async def conversation(request: web.Request) -> web.Response:
    service = request.app[SERVICE]
    recordings = await service.list(request.match_info["conversationId"])
    provider = service.storage(recordings[-1].application_id).provider
    return web.json_response(conversation_message(recordings, provider).wire())


async def track_attachment(request: web.Request) -> web.StreamResponse:
    """A signed track link: no Authorization header; Range requests answer 206 (or 416)."""
    path = request.rel_url.raw_path
    if path.startswith(LEGACY_PREFIX + API):
        path = path[len(LEGACY_PREFIX) :]
    request.app[SIGNER].verify(request.method if request.method != "HEAD" else "GET", path, request.query)
    service = request.app[SERVICE]
    recording = await service.get(*_ids(request))
    track = next((t for s in recording.streams for t in s.tracks if t.id == request.match_info["trackId"]), None)
    if (
        track is None
        or track.object_location is None
        or Path(track.object_location).name != request.match_info["fileName"]
    ):
        raise NotFoundError("no such file")
    file = service.storage(recording.application_id).local_path(track.object_location)
    if file is None:
        raise NotFoundError("the file is not in this recorder's storage")
    return web.FileResponse(file, headers={"Content-Disposition": f'attachment; filename="{file.name}"'})


async def openapi(request: web.Request) -> web.FileResponse:
    return web.FileResponse(OPENAPI, headers={"Content-Type": "application/yaml"})
