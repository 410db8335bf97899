"""The coaching app's backend, in the recorder API (SERVICE): it registers its sessions
(`/sessions/{applicationId}/{sessionId}`)."""

from __future__ import annotations

from aiohttp import web

from api.auth import caller, principal
from api.keys import COACHING, SETTINGS
from recorder.models import Caller
from recorder.settings import ApplicationSettings
from schemas.sessions import SessionCommand, SessionPatch


def _backend(request: web.Request) -> tuple[ApplicationSettings, str, Caller]:
    organization = principal(request).organization_id
    app = request.config_dict[SETTINGS].application_of(organization, request.match_info["applicationId"])
    return app, request.match_info["sessionId"], caller(request)


async def put_session(request: web.Request) -> web.Response:
    """Register or replace a session (201 when new)."""
    app, session_id, caller = _backend(request)
    body = SessionCommand.model_validate_json(await request.read())
    session, created = await request.config_dict[COACHING].register(app, session_id, body, caller)
    return web.json_response(session.wire(), status=201 if created else 200)


async def patch_session(request: web.Request) -> web.Response:
    """Change some of a session's fields (e.g. its status)."""
    app, session_id, caller = _backend(request)
    body = SessionPatch.model_validate_json(await request.read())
    session, _ = await request.config_dict[COACHING].register(app, session_id, body, caller)
    return web.json_response(session.wire())


async def get_session(request: web.Request) -> web.Response:
    app, session_id, _ = _backend(request)
    return web.json_response((await request.config_dict[COACHING].get(app, session_id)).wire())
