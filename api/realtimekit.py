"""The RealtimeKit facade: Cloudflare RealtimeKit's recordings API over our recordings, under `/realtimekit`.
A RealtimeKit client changes `https://api.realtime.cloudflare.com` to `<base>/realtimekit` and its
organization id and API key to one of `realtimekit_keys` (`Authorization: Basic base64(orgId:apiKey)`).

- A meeting is a conference of the key's application (`meeting_id`: a Janus VideoRoom room), and the
  conversation id of its recordings; a recording is ours (`id`: our recorder id).
- Answers are `{success: true, data}` (lists add `paging`); errors `{success: false, error: {code, message}}`
  (`api.errors`). The recording object is `recorder.events.formats.realtimekit_recording`, the same the
  `realtimekit` webhook format sends.
- `file_name_prefix` puts the recording's files below that prefix (in the storage profile's layout).
- Not yet: `storage_config` (a per-recording destination) is refused with 400 rather than ignored.
"""

from __future__ import annotations

import base64
import binascii
import hmac
from datetime import datetime
from typing import Annotated, Any, Literal

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from api.auth import Handler
from api.keys import DOWNLOADS, RECORDINGS, SETTINGS, STORAGE
from recorder.errors import InvalidRequestError, NotFoundError, UnauthorizedError
from recorder.events.events import recording_data, rtk_file
from recorder.events.formats import realtimekit_recording, realtimekit_status
from recorder.models import Caller, Recording, RecordingState, Rules
from recorder.naming import safe_name
from recorder.persistence.ports import RecordingQuery
from recorder.recordings.service import StartCommand
from recorder.settings import ApplicationSettings

MeetingId = Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=r"^[^/\\\x00-\x1f\x7f]+$")]
LIST_PARAMETERS = {"meeting_id", "page_no", "per_page", "status", "sort_by", "sort_order", "start_time", "end_time"}
STATUSES = {  # RealtimeKit's status -> our states
    "INVOKED": ("INITIALISED", "PENDING_RECOVERY"),
    "RECORDING": ("ACTIVE",),
    "PAUSED": ("ACTIVE",),
    "UPLOADING": ("STOPPED",),
    "UPLOADED": ("STOPPED",),
    "ERRORED": ("FAILED", "ABORTED"),
}


class AudioConfig(BaseModel):
    channel: Literal["mono", "stereo"] | None = None
    codec: Literal["MP3", "AAC"] | None = None
    export_file: bool | None = None


class StartRecording(BaseModel):
    model_config = ConfigDict(extra="ignore")

    meeting_id: MeetingId
    max_seconds: Annotated[int, Field(ge=60, le=86400)] | None = None
    file_name_prefix: Annotated[str, Field(max_length=200)] | None = None
    audio_config: AudioConfig | None = None
    allow_multiple_recordings: bool | None = None
    storage_config: dict[str, Any] | None = None


class TrackRecording(BaseModel):
    model_config = ConfigDict(extra="ignore")

    meeting_id: MeetingId
    max_seconds: Annotated[int, Field(ge=60, le=86400)] | None = None
    layers: dict[str, Any] | None = None


class Action(BaseModel):
    model_config = ConfigDict(extra="ignore")

    action: Literal["stop", "pause", "resume"]


def _caller(request: web.Request) -> tuple[ApplicationSettings, Caller]:
    header = request.headers.get("Authorization", "")
    if not header.lower().startswith("basic "):
        raise UnauthorizedError("Unauthorized: send Basic base64(organizationId:apiKey)")
    try:
        organization, _, key = base64.b64decode(header[6:].strip(), validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        raise UnauthorizedError("Unauthorized: send Basic base64(organizationId:apiKey)") from None
    settings = request.app[SETTINGS]
    for known in settings.realtimekit_keys:
        same_key = hmac.compare_digest(known.api_key.get_secret_value().encode(), key.encode())
        if same_key and hmac.compare_digest(known.organization_id.encode(), organization.encode()):
            app = settings.application(known.application_id)
            if app is not None:
                return app, Caller(known.organization_id, "API_KEY")
    raise UnauthorizedError("Unauthorized: unknown organization id or API key")


async def _present(request: web.Request, recording: Recording) -> dict[str, Any]:
    """RealtimeKit's recording object of one of ours, with download URLs valid from now."""
    urls = await request.app[DOWNLOADS].stored_urls(recording, str(request.url.origin()))
    files = [rtk_file(t) for s in recording.streams for t in s.tracks if t.object_location]
    return realtimekit_recording(recording_data(recording), realtimekit_status(recording), files, urls)


def _ok(data: Any, status: int = 200, **extra: Any) -> web.Response:
    return web.json_response({"success": True, "data": data, **extra}, status=status)


async def _mine(request: web.Request, app: ApplicationSettings, recording_id: str) -> Recording:
    recording = await request.app[RECORDINGS].by_id(recording_id)
    if recording is None or recording.application_id != app.id:
        raise NotFoundError("Recording not found")
    return recording


async def start_recording(request: web.Request) -> web.Response:
    app, caller = _caller(request)
    body = StartRecording.model_validate_json(await request.read())
    template = None
    if body.file_name_prefix:  # the recording's files go below the prefix, in the profile's layout
        prefix = "/".join(safe_name(p) for p in body.file_name_prefix.split("/") if p.strip())
        template = f"{prefix}/{request.app[STORAGE].profile(app.id)[0].key_template}" if prefix else None
    return await _start(
        request, app, caller, body.meeting_id, body.max_seconds, body.storage_config, video=True, template=template
    )


async def start_track_recording(request: web.Request) -> web.Response:
    """RealtimeKit's participant audio tracks: every participant's audio, each in files of its own."""
    app, caller = _caller(request)
    body = TrackRecording.model_validate_json(await request.read())
    return await _start(request, app, caller, body.meeting_id, body.max_seconds, None, video=False)


async def _start(
    request: web.Request,
    app: ApplicationSettings,
    caller: Caller,
    meeting_id: str,
    max_seconds: int | None,
    storage_config: dict[str, Any] | None,
    video: bool,
    template: str | None = None,
) -> web.Response:
    if storage_config is not None:
        raise InvalidRequestError("storage_config is not supported yet: the application's storage is used")
    service = request.app[RECORDINGS]
    if await service.live(app.organization_id, meeting_id) is not None:
        raise InvalidRequestError("The meeting already has an active recording")
    try:
        recording = await service.start(
            StartCommand(
                organization_id=app.organization_id,
                application_id=app.id,
                conference_id=meeting_id,
                conversation_id=meeting_id,
                audio=True,
                video=video,
                screen=video,
                caller=caller,
                rules=Rules(),
                max_duration_seconds=max_seconds,
                key_template=template,
            )
        )
    except InvalidRequestError as exc:
        if exc.code != "INVALID_CONFERENCE_ID":
            raise
        raise NotFoundError(f"Meeting not found: {exc}") from None
    error = recording.error if recording.state is RecordingState.FAILED else None
    if error is not None and error.code == "ROOM_NOT_FOUND":  # (unreachable Janus: the recording is ERRORED)
        raise NotFoundError(f"Meeting not found: {error.message}")
    return _ok(await _present(request, recording), 201)


async def list_recordings(request: web.Request) -> web.Response:
    app, _ = _caller(request)
    query = request.query
    unknown = sorted(set(query) - LIST_PARAMETERS)
    if unknown:
        raise InvalidRequestError(f"unknown query parameters: {', '.join(unknown)}")
    if query.get("sort_by", "invokedTime") != "invokedTime":
        raise InvalidRequestError("sort_by is invokedTime")
    try:
        page_no = int(query.get("page_no", "1"))
        per_page = int(query.get("per_page", "25"))
        since = datetime.fromisoformat(query["start_time"].replace("Z", "+00:00")) if "start_time" in query else None
        until = datetime.fromisoformat(query["end_time"].replace("Z", "+00:00")) if "end_time" in query else None
    except ValueError:
        raise InvalidRequestError("page_no and per_page are numbers; start_time and end_time ISO times") from None
    if not 1 <= page_no <= 1_000_000 or not 1 <= per_page <= 100:
        raise InvalidRequestError("page_no is from 1 to 1000000; per_page from 1 to 100")
    status = query.get("status")
    if status is not None and status not in STATUSES:
        raise InvalidRequestError(f"status is one of {', '.join(STATUSES)}")
    if query.get("sort_order", "DESC") not in ("ASC", "DESC"):
        raise InvalidRequestError("sort_order is ASC or DESC")
    recordings, total = await request.app[RECORDINGS].page(
        RecordingQuery(
            application_id=app.id,
            conversation_id=query.get("meeting_id"),
            since=since,
            until=until,
            states=STATUSES[status] if status else (),
            offset=(page_no - 1) * per_page,
            limit=per_page,
            oldest_first=query.get("sort_order") == "ASC",
        )
    )
    data = [await _present(request, r) for r in recordings]
    if status:  # states shared by two statuses (RECORDING/PAUSED, UPLOADING/UPLOADED) are told apart here
        data = [d for d in data if d["status"] == status]
    start = (page_no - 1) * per_page
    paging = {"total_count": total, "start_offset": start, "end_offset": start + max(len(recordings) - 1, 0)}
    return _ok(data, paging=paging)


async def active_recording(request: web.Request) -> web.Response:
    app, _ = _caller(request)
    try:
        recording = await request.app[RECORDINGS].get_live(app.organization_id, request.match_info["meeting_id"])
    except NotFoundError:
        raise NotFoundError("No active recording found for this meeting") from None
    return _ok(await _present(request, recording))


async def get_recording(request: web.Request) -> web.Response:
    app, _ = _caller(request)
    return _ok(await _present(request, await _mine(request, app, request.match_info["recording_id"])))


async def recording_action(request: web.Request) -> web.Response:
    app, caller = _caller(request)
    body = Action.model_validate_json(await request.read())
    recording = await _mine(request, app, request.match_info["recording_id"])
    ids = (recording.conversation_id, recording.recorder_id, recording.instance_id)
    service = request.app[RECORDINGS]
    if body.action == "stop":
        recording = await service.stop(app.organization_id, *ids, caller=caller)
    elif body.action == "pause":
        recording = await service.pause(app.organization_id, ids)
    else:
        recording = await service.resume(app.organization_id, ids)
    return _ok(await _present(request, recording))


# (method, path below REALTIMEKIT, handler): each authenticates with RealtimeKit's Basic credentials itself
REALTIMEKIT_ROUTES: list[tuple[str, str, Handler]] = [
    ("GET", "/v2/recordings", list_recordings),
    ("POST", "/v2/recordings", start_recording),
    ("POST", "/v2/recordings/track", start_track_recording),
    ("GET", "/v2/recordings/active-recording/{meeting_id}", active_recording),
    ("GET", "/v2/recordings/{recording_id}", get_recording),
    ("PUT", "/v2/recordings/{recording_id}", recording_action),
]
