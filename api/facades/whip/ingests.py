"""The ingests an AGENT makes in the recorder API (`POST /ingests`, `DELETE /ingests/{ingestId}`): a
conversation's live recording (one without a conference, for WHIP publishers only, is started when it has
none) gets a WHIP URL and a short-lived token; a revoked ingest's token opens nothing more."""

from __future__ import annotations

import uuid
from typing import Annotated
from urllib.parse import quote

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from api.auth import caller, origin, principal
from api.keys import AUTHENTICATOR, RECORDINGS, SETTINGS
from recorder.conference.whip import PREFIX
from recorder.errors import ConflictError, NotFoundError
from recorder.recordings.commands import StartCommand
from schemas.recording import Id


class IngestCommand(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=False, frozen=True, extra="forbid")

    application_id: Id
    conversation_id: Id
    user_id: Id = "whip"
    stream_type: Annotated[str, Field(pattern=r"^(CAM|MIC|SCREEN|VIDEO)$")] = "CAM"
    ttl_seconds: Annotated[int, Field(ge=60, le=86400)] | None = None  # default: ingest_ttl_seconds


async def create_ingest(request: web.Request) -> web.Response:
    """An ingest for a conversation: its live recording's WHIP URL and a short-lived token."""
    body = IngestCommand.model_validate_json(await request.read())
    base = origin(request)  # (a Host the service does not answer for: 400 before anything is made)
    service = request.config_dict[RECORDINGS]
    organization = principal(request).organization_id
    recording = await service.live(organization, body.conversation_id)
    if recording is None:  # a recording of WHIP publishers only
        recording = await service.start(
            StartCommand(
                organization_id=organization,
                application_id=body.application_id,
                conference_id="",
                conversation_id=body.conversation_id,
                caller=caller(request),
            )
        )
    elif recording.application_id != body.application_id:
        raise ConflictError(f"conversation {body.conversation_id} is recorded for another application")
    if service.whip(recording.recorder_id) is None:
        raise ConflictError(
            f"recording {recording.recorder_id} is {recording.state.value} on instance {recording.instance_id}: "
            "WHIP publishers send to the instance that runs it"
        )
    session = service.whip(recording.recorder_id)
    if session is not None and any(
        s.user_id == body.user_id and not s.publication_id.startswith(PREFIX) and s.stopped is None
        for s in session.recording.streams
    ):  # a participant of the conference: nobody publishes in its name
        raise ConflictError(f"user {body.user_id} is a participant of the conference: a publisher takes another id")
    ingest = f"{recording.recorder_id}.{uuid.uuid4().hex[:16]}"
    claims = {"sub": ingest, "rid": recording.recorder_id, "uid": body.user_id, "st": body.stream_type}
    settings = request.config_dict[SETTINGS]
    ttl = body.ttl_seconds or settings.ingest_ttl_seconds
    token, expires = request.config_dict[AUTHENTICATOR].issue_ingest_token(claims, ttl)
    answer = {
        "ingestId": ingest,
        "url": f"{base.rstrip('/')}/whip/{quote(ingest, safe='')}",
        "token": token,
        "expires": expires,
        "conversationId": recording.conversation_id,
        "recorderId": recording.recorder_id,
        "instanceId": recording.instance_id,
    }
    return web.json_response(answer, status=201)


async def revoke_ingest(request: web.Request) -> web.Response:
    """DELETE /ingests/{ingestId} (AGENT of the ingest's organization): its token opens nothing more and its
    publications end (their tracks are finished and stored)."""
    ingest = request.match_info["ingestId"]
    recorder_id = ingest.rsplit(".", 1)[0]
    service = request.config_dict[RECORDINGS]
    recording = await service.by_id(recorder_id)
    source = service.whip_source(recorder_id)
    if recording is None or recording.organization_id != principal(request).organization_id or source is None:
        raise NotFoundError(f"ingest {ingest} is not live on this instance")
    ended = source.revoke(ingest)
    return web.json_response({"ingestId": ingest, "revoked": True, "publicationsEnded": ended})
