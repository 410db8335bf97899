"""RealtimeKit's credentials, per mount (`CREDENTIALS` of its sub-application): Cloudflare's API tokens
(`Authorization: Bearer <token>`, one of `cloudflare_tokens`, acting under its own account id and app id only)
and the older API's `Authorization: Basic base64(organizationId:apiKey)` (one of `realtimekit_keys`). Secrets
are compared in constant time; a key acts within its application."""

from __future__ import annotations

import base64
import binascii
import hmac
from collections.abc import Callable

from aiohttp import web

from api.keys import SETTINGS
from recorder.errors import ForbiddenError, UnauthorizedError
from recorder.evidence.access import ACTOR, Actor
from recorder.models import Caller
from recorder.settings import ApplicationSettings

Credentials = Callable[[web.Request], tuple[ApplicationSettings, Caller]]
CREDENTIALS: web.AppKey[Credentials] = web.AppKey("realtimekit_credentials")


def caller_of(request: web.Request) -> tuple[ApplicationSettings, Caller]:
    """The application and the caller of a request, by its mount's credentials."""
    check: Credentials = request.config_dict[CREDENTIALS]
    app, caller = check(request)
    ACTOR.set(Actor(caller.name, caller.type, ("AGENT", "SUPERVISOR")))
    return app, caller


def basic_caller(request: web.Request) -> tuple[ApplicationSettings, Caller]:
    header = request.headers.get("Authorization", "")
    if not header.lower().startswith("basic "):
        raise UnauthorizedError("Unauthorized: send Basic base64(organizationId:apiKey)")
    try:
        organization, _, key = base64.b64decode(header[6:].strip(), validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        raise UnauthorizedError("Unauthorized: send Basic base64(organizationId:apiKey)") from None
    settings = request.config_dict[SETTINGS]
    for known in settings.realtimekit_keys:
        same_key = hmac.compare_digest(known.api_key.get_secret_value().encode(), key.encode())
        if same_key and hmac.compare_digest(known.organization_id.encode(), organization.encode()):
            app = settings.application(known.application_id)
            if app is not None:
                return app, Caller(known.organization_id, "API_KEY")
    raise UnauthorizedError("Unauthorized: unknown organization id or API key")


def bearer_caller(request: web.Request) -> tuple[ApplicationSettings, Caller]:
    """Cloudflare's API token: 401 unknown (every token compared), 403 for another account id or app id."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise UnauthorizedError("Authentication error: send Authorization: Bearer <API token>")
    settings = request.config_dict[SETTINGS]
    found = None
    for known in settings.cloudflare_tokens:
        if hmac.compare_digest(known.api_token.get_secret_value().encode(), token.strip().encode()):
            found = known
    if found is None:
        raise UnauthorizedError("Authentication error: unknown API token")
    app = settings.application(found.application_id)
    account, app_id = request.match_info.get("account_id"), request.match_info.get("app_id")
    if app is None or (account, app_id) != (found.account_id, found.app_id):
        raise ForbiddenError("Authentication error: the API token may not act on this account and app")
    return app, Caller(found.account_id, "API_TOKEN")
