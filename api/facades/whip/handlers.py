"""WHIP (RFC 9725): a publisher's offer, trickled candidates and the end of its publication, each with the
ingest's token."""

from __future__ import annotations

import asyncio
import hashlib
from urllib.parse import quote

from aiohttp import web

from api.keys import AUTHENTICATOR, RECORDINGS, SETTINGS
from recorder.conference.whip import IngestRefused, NotRecordable, WhipSource, ice_ufrag
from recorder.errors import (
    ConflictError,
    ForbiddenError,
    LimitError,
    NotFoundError,
    UnauthorizedError,
    UnavailableError,
)
from recorder.recordings.session import RecordingSession

CORS = {  # for any origin: the token, not a cookie, is the credential
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": "POST, PATCH, DELETE, OPTIONS",
    "Access-Control-Allow-Headers": "Authorization, Content-Type, If-Match",
    "Access-Control-Expose-Headers": "Location, ETag, Link, Accept-Patch",
}
SDP, FRAGMENT = "application/sdp", "application/trickle-ice-sdpfrag"


def _cors(response: web.StreamResponse, request: web.Request) -> web.StreamResponse:
    response.headers.update(CORS)
    for server in request.config_dict[SETTINGS].ice_servers:
        response.headers.add("Link", f'<{server}>; rel="ice-server"')
    return response


def _etag(publication_id: str, ufrag: str) -> str:
    return '"' + hashlib.sha256(f"{publication_id} {ufrag}".encode()).hexdigest()[:24] + '"'


def _claims(request: web.Request) -> dict[str, str]:
    claims = request.config_dict[AUTHENTICATOR].ingest_claims(request.headers.get("Authorization"))
    if claims["sub"] != request.match_info["ingestId"]:
        raise ForbiddenError("the token is another ingest's")
    return {k: str(v) for k, v in claims.items()}


def _live(request: web.Request, recorder_id: str) -> tuple[RecordingSession, WhipSource]:
    """The ingest's recording, live on this instance, and its WHIP source (else 404)."""
    service = request.config_dict[RECORDINGS]
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
    settings = request.config_dict[SETTINGS]
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
