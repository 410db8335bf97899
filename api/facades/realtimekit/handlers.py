"""RealtimeKit's recordings endpoints (both mounts): parse, call `RealtimeKitRecordings`, answer `{success: true,
data}` with the fields Cloudflare's SDKs declare for each answer (`wire.ONE`, `LISTED`, `ACTIVE`)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from aiohttp import web

from api.auth import origin
from api.facades.realtimekit.credentials import caller_of
from api.facades.realtimekit.models import ActionBody, StartRecording, TrackRecording
from api.keys import REALTIMEKIT, RTK_SIGNER
from recorder.errors import InvalidRequestError, NotFoundError
from recorder.facades.core import RoomNotFound
from recorder.facades.realtimekit.recordings import Start
from recorder.facades.realtimekit.wire import ACTIVE, LISTED, ONE, STATUSES
from recorder.models import Caller, Recording
from recorder.persistence.ports import RecordingQuery
from recorder.settings import ApplicationSettings

LIST_PARAMETERS = {
    "meeting_id",
    "page_no",
    "per_page",
    "status",
    "sort_by",
    "sort_order",
    "start_time",
    "end_time",
    "expired",
    "search",
}


def _ok(data: Any, **extra: Any) -> web.Response:
    return web.json_response({"success": True, "data": data, **extra})


async def _present(request: web.Request, recording: Recording, fields: tuple[str, ...] = ONE) -> dict[str, Any]:
    return await request.config_dict[REALTIMEKIT].present(recording, origin(request), fields)


def _refuse(why: str | None) -> None:
    if why is not None:
        raise InvalidRequestError(why)


async def start_recording(request: web.Request) -> web.Response:
    app, caller = caller_of(request)
    body = StartRecording.model_validate_json(await request.read())
    _refuse(body.unsupported())
    start = Start(body.meeting_id, body.max_seconds, True, body.file_name_prefix, body.storage_config)
    return _ok(await _present(request, await _start(request, app, caller, start)))


async def start_track_recording(request: web.Request) -> web.Response:
    """RealtimeKit's participant audio tracks: every participant's audio (or that of `user_ids`), each in files
    of its own (below the layer's `file_name_prefix`); answered as `data.recording`."""
    app, caller = caller_of(request)
    body = TrackRecording.model_validate_json(await request.read())
    _refuse(body.unsupported())
    start = Start(
        body.meeting_id, body.max_seconds, False, body.file_name_prefix(), user_ids=tuple(dict.fromkeys(body.user_ids))
    )
    return _ok({"recording": await _present(request, await _start(request, app, caller, start), ACTIVE)})


async def _start(request: web.Request, app: ApplicationSettings, caller: Caller, start: Start) -> Recording:
    try:  # (a bot that could not join: the recording is ERRORED)
        recording: Recording = await request.config_dict[REALTIMEKIT].start(app, caller, start)
    except RoomNotFound as exc:
        raise NotFoundError(f"Meeting not found: {exc}") from None
    return recording


def _time(query: Any, name: str) -> datetime | None:
    return datetime.fromisoformat(query[name].replace("Z", "+00:00")) if name in query else None


def _whole(value: str) -> int:
    """A page number as the SDKs send it (their type is a float: `2.0`) or as people write it (`2`)."""
    number = float(value)
    if not number.is_integer():
        raise ValueError(value)
    return int(number)


async def list_recordings(request: web.Request) -> web.Response:
    app, _ = caller_of(request)
    query = request.query
    unknown = sorted(set(query) - LIST_PARAMETERS)
    if unknown:
        raise InvalidRequestError(f"unknown query parameters: {', '.join(unknown)}")
    if query.get("sort_by", "invokedTime") != "invokedTime":
        raise InvalidRequestError("sort_by is invokedTime")
    try:
        page_no, per_page = _whole(query.get("page_no", "1")), _whole(query.get("per_page", "25"))
        since, until = _time(query, "start_time"), _time(query, "end_time")
    except ValueError:
        raise InvalidRequestError("page_no and per_page are whole numbers; start_time and end_time ISO times") from None
    if not 1 <= page_no <= 1_000_000 or not 1 <= per_page <= 100:
        raise InvalidRequestError("page_no is from 1 to 1000000; per_page from 1 to 100")
    statuses = query.getall("status", [])
    if any(status not in STATUSES for status in statuses):
        raise InvalidRequestError(f"status is one of {', '.join(STATUSES)}")
    if query.get("sort_order", "DESC") not in ("ASC", "DESC"):
        raise InvalidRequestError("sort_order is ASC or DESC")
    if query.get("expired", "false") not in ("true", "false"):
        raise InvalidRequestError("expired is true or false")
    start = (page_no - 1) * per_page
    page = RecordingQuery(
        application_id=app.id,
        conversation_id=query.get("meeting_id"),
        conversation_prefix=query.get("search") or None,  # (meetings have ids, no titles)
        since=since,
        until=until,
        offset=start,
        limit=per_page,
        oldest_first=query.get("sort_order") == "ASC",
    )
    if query.get("expired") == "true":  # the files are kept as the application's retention says: none expired
        data: list[dict[str, Any]] = []
        listed = total = 0
    else:
        recordings = request.config_dict[REALTIMEKIT]
        data, listed, total = await recordings.page(app, page, statuses, origin(request), LISTED)
    paging = {"total_count": total, "start_offset": start, "end_offset": start + max(listed - 1, 0)}
    return _ok(data, paging=paging)


async def active_recording(request: web.Request) -> web.Response:
    app, _ = caller_of(request)
    recording = await request.config_dict[REALTIMEKIT].active(app, request.match_info["meeting_id"])
    if recording is None:
        raise NotFoundError("No active recording found for this meeting")
    return _ok(await _present(request, recording, ACTIVE))


async def get_recording(request: web.Request) -> web.Response:
    app, _ = caller_of(request)
    recording = await request.config_dict[REALTIMEKIT].get(app, request.match_info["recording_id"])
    return _ok(await _present(request, recording))


async def recording_action(request: web.Request) -> web.Response:
    app, caller = caller_of(request)
    body = ActionBody.model_validate_json(await request.read())
    recordings = request.config_dict[REALTIMEKIT]
    recording = await recordings.act(app, caller, request.match_info["recording_id"], body.action)
    return _ok(await _present(request, recording))


async def webhook_key(request: web.Request) -> web.Response:
    """The public key that verifies the `realtimekit` webhooks' `rtk-signature` (no credentials needed)."""
    return web.json_response({"publicKey": request.config_dict[RTK_SIGNER].public_pem})
