"""RealtimeKit's recordings endpoints: parse, call `RealtimeKitRecordings`, answer `{success: true, data}`."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from aiohttp import web

from api.auth import origin
from api.facades.realtimekit.credentials import caller_of
from api.facades.realtimekit.models import Action, StartRecording, TrackRecording
from api.keys import REALTIMEKIT
from recorder.errors import InvalidRequestError, NotFoundError
from recorder.facades.core import RoomNotFound
from recorder.facades.realtimekit.recordings import Start
from recorder.facades.realtimekit.wire import STATUSES
from recorder.models import Caller, Recording
from recorder.persistence.ports import RecordingQuery
from recorder.settings import ApplicationSettings

LIST_PARAMETERS = {"meeting_id", "page_no", "per_page", "status", "sort_by", "sort_order", "start_time", "end_time"}


def _ok(data: Any, status: int = 200, **extra: Any) -> web.Response:
    return web.json_response({"success": True, "data": data, **extra}, status=status)


async def _answer(request: web.Request, recording: Recording, status: int = 200) -> web.Response:
    return _ok(await request.config_dict[REALTIMEKIT].present(recording, origin(request)), status)


async def start_recording(request: web.Request) -> web.Response:
    app, caller = caller_of(request)
    body = StartRecording.model_validate_json(await request.read())
    start = Start(body.meeting_id, body.max_seconds, True, body.file_name_prefix, body.storage_config)
    return await _start(request, app, caller, start)


async def start_track_recording(request: web.Request) -> web.Response:
    """RealtimeKit's participant audio tracks: every participant's audio, each in files of its own."""
    app, caller = caller_of(request)
    body = TrackRecording.model_validate_json(await request.read())
    return await _start(request, app, caller, Start(body.meeting_id, body.max_seconds, video=False))


async def _start(request: web.Request, app: ApplicationSettings, caller: Caller, start: Start) -> web.Response:
    try:
        recording = await request.config_dict[REALTIMEKIT].start(app, caller, start)
    except RoomNotFound as exc:
        raise NotFoundError(f"Meeting not found: {exc}") from None
    return await _answer(request, recording, 201)  # (a bot that could not join: the recording is ERRORED)


def _time(query: Any, name: str) -> datetime | None:
    return datetime.fromisoformat(query[name].replace("Z", "+00:00")) if name in query else None


async def list_recordings(request: web.Request) -> web.Response:
    app, _ = caller_of(request)
    query = request.query
    unknown = sorted(set(query) - LIST_PARAMETERS)
    if unknown:
        raise InvalidRequestError(f"unknown query parameters: {', '.join(unknown)}")
    if query.get("sort_by", "invokedTime") != "invokedTime":
        raise InvalidRequestError("sort_by is invokedTime")
    try:
        page_no, per_page = int(query.get("page_no", "1")), int(query.get("per_page", "25"))
        since, until = _time(query, "start_time"), _time(query, "end_time")
    except ValueError:
        raise InvalidRequestError("page_no and per_page are numbers; start_time and end_time ISO times") from None
    if not 1 <= page_no <= 1_000_000 or not 1 <= per_page <= 100:
        raise InvalidRequestError("page_no is from 1 to 1000000; per_page from 1 to 100")
    status = query.get("status")
    if status is not None and status not in STATUSES:
        raise InvalidRequestError(f"status is one of {', '.join(STATUSES)}")
    if query.get("sort_order", "DESC") not in ("ASC", "DESC"):
        raise InvalidRequestError("sort_order is ASC or DESC")
    start = (page_no - 1) * per_page
    page = RecordingQuery(
        application_id=app.id,
        conversation_id=query.get("meeting_id"),
        since=since,
        until=until,
        offset=start,
        limit=per_page,
        oldest_first=query.get("sort_order") == "ASC",
    )
    data, listed, total = await request.config_dict[REALTIMEKIT].page(app, page, status, origin(request))
    paging = {"total_count": total, "start_offset": start, "end_offset": start + max(listed - 1, 0)}
    return _ok(data, paging=paging)


async def active_recording(request: web.Request) -> web.Response:
    app, _ = caller_of(request)
    recording = await request.config_dict[REALTIMEKIT].active(app, request.match_info["meeting_id"])
    if recording is None:
        raise NotFoundError("No active recording found for this meeting")
    return await _answer(request, recording)


async def get_recording(request: web.Request) -> web.Response:
    app, _ = caller_of(request)
    return await _answer(request, await request.config_dict[REALTIMEKIT].get(app, request.match_info["recording_id"]))


async def recording_action(request: web.Request) -> web.Response:
    app, caller = caller_of(request)
    body = Action.model_validate_json(await request.read())
    recording = await request.config_dict[REALTIMEKIT].act(app, caller, request.match_info["recording_id"], body.action)
    return await _answer(request, recording)
