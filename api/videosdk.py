"""The VideoSDK facade: participant track recording (`POST /v2/recordings/participant/track/start` and `stop`)
over our recordings, under `/videosdk`. A VideoSDK client changes `https://api.videosdk.live` to
`<base>/videosdk` and its token's key and secret to one of `videosdk_keys`.

- A room is a conference of the key's application; its recording is the conversation `roomId`'s live one.
  Each start adds the rule `include {userId: participantId, kind}` to it (the first start starts it); each
  stop takes that rule away, and the last stop stops the recording. A participant's track that restarts
  (unmute, camera again) gets a new file, as VideoSDK does.
- Files go to `${bucketDirPath}/${sessionId}/${participantId}/${kind}/${filename}` in the application's
  storage (`sessionId`: our recorder id).
- `webhookUrl` gets VideoSDK's `participant-track-recording-*` webhooks of that recording through the
  durable webhook machinery.
- The token: `Authorization: <JWT>` (no prefix; `Bearer <JWT>` is taken too), HS256 with the key's secret,
  carrying `apikey`; an expired or badly signed token is 401. Errors are VideoSDK's `{statusCode, error,
  message}` (`api.errors`).
"""

from __future__ import annotations

import logging
from typing import Annotated, Literal

import jwt
from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from api.auth import Handler
from api.credentials import bounded_lifetime
from api.keys import RECORDINGS, SETTINGS, WEBHOOKS
from recorder.errors import InvalidRequestError, NotFoundError, UnauthorizedError, UnavailableError
from recorder.logcontext import scope
from recorder.models import Caller, Recording, RecordingState, Rule, RuleKind, Rules
from recorder.naming import safe_name
from recorder.recordings.service import StartCommand
from recorder.settings import ApplicationSettings

logger = logging.getLogger(__name__)
Text = Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=r"^[^/\\\x00-\x1f\x7f]+$")]
STARTED = "track recording started successfully."
STOPPED = "track recording stopped successfully."


class TrackStart(BaseModel):
    model_config = ConfigDict(extra="ignore")

    roomId: Text
    participantId: Text
    kind: RuleKind
    fileFormat: Literal["webm"] = "webm"
    webhookUrl: Annotated[str, Field(pattern=r"^https?://[!-~]+$", max_length=2048)] | None = None
    bucketDirPath: Annotated[str, Field(max_length=512)] | None = None


class TrackStop(BaseModel):
    model_config = ConfigDict(extra="ignore")

    roomId: Text
    participantId: Text
    kind: RuleKind


def _caller(request: web.Request) -> tuple[ApplicationSettings, Caller]:
    """The key's application and the caller, from the request's token."""
    header = request.headers.get("Authorization", "").strip()
    token = header[7:].strip() if header.lower().startswith("bearer ") else header
    if not token:
        raise UnauthorizedError("Authorization token is required.")
    settings = request.app[SETTINGS]
    try:
        claims = jwt.decode(token, options={"verify_signature": False})
        key = next((k for k in settings.videosdk_keys if k.api_key == claims.get("apikey")), None)
        if key is None:
            raise UnauthorizedError("Invalid API key.")
        claims = jwt.decode(token, key.secret.get_secret_value(), algorithms=["HS256"], options={"require": ["exp"]})
        bounded_lifetime(claims, settings.facade_token_max_seconds)
    except jwt.PyJWTError:
        raise UnauthorizedError("Invalid token.") from None
    app = settings.application(key.application_id)
    if app is None:
        raise UnauthorizedError("Invalid API key.")
    return app, Caller(key.api_key, "API_KEY")


def key_template(bucket_dir_path: str | None) -> str:
    """`${bucketDirPath}/${sessionId}/${participantId}/${kind}/${filename}` (each segment made safe)."""
    parts = [safe_name(p) for p in (bucket_dir_path or "").split("/") if p.strip()]
    return "/".join([*parts, "{recorderId}", "{userId}", "{kind}", "{trackId}.{ext}"])


async def start_track_recording(request: web.Request) -> web.Response:
    app, caller = _caller(request)
    body = TrackStart.model_validate_json(await request.read())
    rule = Rule(user_id=body.participantId, kind=body.kind)
    service = request.app[RECORDINGS]
    live = await service.live(app.organization_id, body.roomId, app.id)
    if live is not None:  # the room's recording records this participant's kind too, from now on
        if rule not in live.rules.include:
            rules = Rules(include=(*live.rules.include, rule), exclude=live.rules.exclude)
            await service.set_rules(app.organization_id, _ids(live), rules)
        with scope(recorderId=live.recorder_id, conversationId=live.conversation_id):
            logger.info("videosdk: room %s records %s of %s", body.roomId, body.kind.value, body.participantId)
        return web.json_response(STARTED)
    if body.webhookUrl:  # refused by the outbound policy: 400, nothing started
        await request.app[WEBHOOKS].check_url(body.webhookUrl)
    command = StartCommand(
        organization_id=app.organization_id,
        application_id=app.id,
        conference_id=body.roomId,
        conversation_id=body.roomId,
        caller=caller,
        rules=Rules(include=(rule,)),
        key_template=key_template(body.bucketDirPath),
        webhook=(body.webhookUrl, "videosdk") if body.webhookUrl else None,
    )
    try:
        recording = await service.start(command)
    except InvalidRequestError as exc:  # an id that can never be a room of the application: no such room
        if exc.code != "INVALID_CONFERENCE_ID":
            raise
        raise NotFoundError(f"Room not found: {exc}") from None
    if recording.state is RecordingState.FAILED:
        message = recording.error.message if recording.error else "the room could not be joined"
        if recording.error is not None and recording.error.code == "ROOM_NOT_FOUND":
            raise NotFoundError(f"Room not found: {message}")
        raise UnavailableError(f"The room could not be joined: {message}", retry_after=5)
    return web.json_response(STARTED)


async def stop_track_recording(request: web.Request) -> web.Response:
    app, caller = _caller(request)
    body = TrackStop.model_validate_json(await request.read())
    live = await request.app[RECORDINGS].live(app.organization_id, body.roomId, app.id)
    rule = Rule(user_id=body.participantId, kind=body.kind)
    if live is None or rule not in live.rules.include:
        raise NotFoundError("No track recording found for this participant and kind.")
    include = tuple(r for r in live.rules.include if r != rule)
    service = request.app[RECORDINGS]
    if include:
        await service.set_rules(app.organization_id, _ids(live), Rules(include=include, exclude=live.rules.exclude))
    else:  # the last track recorded: the room's recording ends
        await service.stop(app.organization_id, *_ids(live), caller=caller)
    return web.json_response(STOPPED)


def _ids(recording: Recording) -> tuple[str, str, str]:
    return recording.conversation_id, recording.recorder_id, recording.instance_id


# (method, path below VIDEOSDK, handler): each authenticates with the VideoSDK token itself
VIDEOSDK_ROUTES: list[tuple[str, str, Handler]] = [
    ("POST", "/v2/recordings/participant/track/start", start_track_recording),
    ("POST", "/v2/recordings/participant/track/stop", stop_track_recording),
]
