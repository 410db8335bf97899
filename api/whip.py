"""WHIP ingest (RFC 9725) at `/whip`, and the ingests an AGENT makes in the recorder API.

- `POST /rtc-recorder/api/ingests` (AGENT) `{applicationId, conversationId, userId, streamType, ttlSeconds}`:
  the conversation's live recording (one without a conference, for WHIP publishers only, is started when it
  has none) gets an ingest: `201 {ingestId, url, token, expires, conversationId, recorderId, instanceId}`.
- `POST /whip/{ingestId}` with `Authorization: Bearer <token>` and an SDP offer (`application/sdp`, else 415):
  201 with the answer, `Location` (the WHIP session), `ETag` and the ICE servers in `Link` headers; 406 when a
  section offers no codec that is written without re-encoding (Opus; VP8, H264); 403 when the recording's rules
  record nothing of that publisher; 404 when the recording is not live on this instance.
- `PATCH` of the session: trickled candidates (`application/trickle-ice-sdpfrag`, `If-Match` its ETag or
  `*`): 204. An ICE restart (new ufrag) is 422: aiortc cannot restart ICE; publish again instead.
- `DELETE` of the session ends the publication: its tracks are finished and stored (200).
- `OPTIONS` answers browsers' preflights (CORS for any origin: the token, not a cookie, is the credential).
"""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from typing import Annotated
from urllib.parse import quote

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from api.auth import Handler, caller, origin, principal
from api.keys import AUTHENTICATOR, RECORDINGS, SETTINGS
from recorder.conference.whip import PREFIX, IngestRefused, NotRecordable, WhipSource, ice_ufrag
from recorder.errors import (
    ConflictError,
    ForbiddenError,
    LimitError,
    NotFoundError,
    UnauthorizedError,
    UnavailableError,
)
from recorder.recordings.service import StartCommand
from recorder.recordings.session import RecordingSession
from schemas.recording import Id

CORS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": "POST, PATCH, DELETE, OPTIONS",
    "Access-Control-Allow-Headers": "Authorization, Content-Type, If-Match",
    "Access-Control-Expose-Headers": "Location, ETag, Link, Accept-Patch",
}
SDP, FRAGMENT = "application/sdp", "application/trickle-ice-sdpfrag"


class IngestCommand(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=False, frozen=True, extra="forbid")

    application_id: Id
    conversation_id: Id
    user_id: Id = "whip"
    stream_type: Annotated[str, Field(pattern=r"^(CAM|MIC|SCREEN|VIDEO)$")] = "CAM"
    ttl_seconds: Annotated[int, Field(ge=60, le=86400)] | None = None  # default: ingest_ttl_seconds


def _cors(response: web.StreamResponse, request: web.Request) -> web.StreamResponse:
    response.headers.update(CORS)
    for server in request.app[SETTINGS].ice_servers:
        response.headers.add("Link", f'<{server}>; rel="ice-server"')
    return response


def _etag(publication_id: str, ufrag: str) -> str:
    return '"' + hashlib.sha256(f"{publication_id} {ufrag}".encode()).hexdigest()[:24] + '"'


async def create_ingest(request: web.Request) -> web.Response:
    """An ingest for a conversation: its live recording's WHIP URL and a short-lived token."""
    body = IngestCommand.model_validate_json(await request.read())
    base = origin(request)  # (a Host the service does not answer for: 400 before anything is made)
    service = request.app[RECORDINGS]
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
    settings = request.app[SETTINGS]
    ttl = body.ttl_seconds or settings.ingest_ttl_seconds
    token, expires = request.app[AUTHENTICATOR].issue_ingest_token(claims, ttl)
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
    service = request.app[RECORDINGS]
    recording = await service.by_id(recorder_id)
    source = service.whip_source(recorder_id)
    if recording is None or recording.organization_id != principal(request).organization_id or source is None:
        raise NotFoundError(f"ingest {ingest} is not live on this instance")
    ended = source.revoke(ingest)
    return web.json_response({"ingestId": ingest, "revoked": True, "publicationsEnded": ended})


def _claims(request: web.Request) -> dict[str, str]:
    claims = request.app[AUTHENTICATOR].ingest_claims(request.headers.get("Authorization"))
    if claims["sub"] != request.match_info["ingestId"]:
        raise ForbiddenError("the token is another ingest's")
    return {k: str(v) for k, v in claims.items()}


def _live(request: web.Request, recorder_id: str) -> tuple[RecordingSession, WhipSource]:
    """The ingest's recording, live on this instance, and its WHIP source (else 404)."""
    service = request.app[RECORDINGS]
    session, source = service.whip(recorder_id), service.whip_source(recorder_id)
    if session is None or source is None:
        raise NotFoundError("the ingest's recording is not live on this instance")
    return session, source


def _own(source: WhipSource, claims: dict[str, str], publication_id: str) -> None:
    """A WHIP session is reached with the token of the ingest that opened it only (404 otherwise)."""
    if source.of_ingest(publication_id) != claims["sub"]:
        raise NotFoundError("no such WHIP session")


async def publish(request: web.Request) -> web.StreamResponse:
    """RFC 9725 §4.2: the publisher's offer; 201 with our answer."""
    claims = _claims(request)
    if request.content_type != SDP:
        raise web.HTTPUnsupportedMediaType(text=f"the offer is sent as {SDP}")
    offer = await request.text()
    _, source = _live(request, claims["rid"])
    settings = request.app[SETTINGS]
    try:
        async with asyncio.timeout(settings.start_timeout_seconds):
            publication_id, answer = await source.publish(
                claims["uid"], claims["st"], offer, claims["sub"], settings.ingest_max_publications
            )
    except NotRecordable as exc:
        raise web.HTTPNotAcceptable(text=str(exc)) from None
    except IngestRefused as exc:
        if exc.reason == "REVOKED":
            raise UnauthorizedError(str(exc)) from None
        if exc.reason == "BUSY":
            raise ConflictError(str(exc)) from None
        raise LimitError(str(exc)) from None
    except TimeoutError:
        raise UnavailableError("the recording did not take the publication up in time", retry_after=1) from None
    if answer is None:
        raise ForbiddenError("the recording's rules record nothing of this publisher, or it has ended")
    location = f"/whip/{quote(request.match_info['ingestId'], safe='')}/{publication_id}"
    response = web.Response(status=201, text=answer, content_type=SDP)
    response.headers["Location"] = location
    response.headers["ETag"] = _etag(publication_id, ice_ufrag(offer))
    response.headers["Accept-Patch"] = FRAGMENT
    return _cors(response, request)


async def patch(request: web.Request) -> web.StreamResponse:
    """Trickled ICE candidates (RFC 8840 fragment); an ICE restart is 422."""
    claims = _claims(request)
    if request.content_type != FRAGMENT:
        raise web.HTTPUnsupportedMediaType(text=f"candidates are sent as {FRAGMENT}")
    publication_id = request.match_info["publicationId"]
    session, source = _live(request, claims["rid"])
    _own(source, claims, publication_id)
    fragment = await request.text()
    ufrag = source.ufrag(publication_id)
    if ufrag is None:
        raise NotFoundError("no such WHIP session")
    if_match = request.headers.get("If-Match", "")
    if if_match not in ("*", _etag(publication_id, ufrag)):
        raise web.HTTPPreconditionFailed(text="If-Match is not this session's ETag")
    asked = ice_ufrag(fragment)
    if asked and asked != ufrag:
        raise web.HTTPUnprocessableEntity(text="ICE restarts are not supported: publish again")
    if not await session.add_candidates(publication_id, fragment):
        raise NotFoundError("no such WHIP session")
    return _cors(web.Response(status=204), request)


async def end(request: web.Request) -> web.StreamResponse:
    """The publisher ends its publication: its tracks are finished and stored."""
    claims = _claims(request)
    _, source = _live(request, claims["rid"])
    _own(source, claims, request.match_info["publicationId"])
    if not source.remove(request.match_info["publicationId"]):
        raise NotFoundError("no such WHIP session")
    return _cors(web.Response(status=200), request)


async def options(request: web.Request) -> web.StreamResponse:
    response = web.Response(status=204)
    response.headers["Accept-Post"] = SDP
    return _cors(response, request)


# (method, path below WHIP, handler): each checks the ingest's token itself (OPTIONS needs none)
WHIP_ROUTES: list[tuple[str, str, Handler]] = [
    ("POST", "/{ingestId}", publish),
    ("OPTIONS", "/{ingestId}", options),
    ("PATCH", "/{ingestId}/{publicationId}", patch),
    ("DELETE", "/{ingestId}/{publicationId}", end),
    ("OPTIONS", "/{ingestId}/{publicationId}", options),
]
