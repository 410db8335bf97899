"""VideoSDK's participant track recording endpoints: parse, call `VideoSdkTracks`, answer its strings."""

from __future__ import annotations

from aiohttp import web

from api.facades.videosdk.credentials import caller_of
from api.facades.videosdk.models import TrackStart, TrackStop
from api.keys import VIDEOSDK
from recorder.errors import NotFoundError
from recorder.facades.core import RoomNotFound
from recorder.facades.videosdk import tracks

STARTED = "track recording started successfully."
STOPPED = "track recording stopped successfully."


async def start_track_recording(request: web.Request) -> web.Response:
    app, caller = caller_of(request)
    body = TrackStart.model_validate_json(await request.read())
    start = tracks.TrackStart(body.roomId, body.participantId, body.kind, body.webhookUrl, body.bucketDirPath)
    try:
        await request.config_dict[VIDEOSDK].start(app, caller, start)
    except RoomNotFound as exc:
        raise NotFoundError(f"Room not found: {exc}") from None
    return web.json_response(STARTED)


async def stop_track_recording(request: web.Request) -> web.Response:
    app, caller = caller_of(request)
    body = TrackStop.model_validate_json(await request.read())
    await request.config_dict[VIDEOSDK].stop(app, caller, body.roomId, body.participantId, body.kind)
    return web.json_response(STOPPED)
