"""RealtimeKit's credentials: `Authorization: Basic base64(organizationId:apiKey)`, one of `realtimekit_keys`
(compared in constant time); the key acts within its application."""

from __future__ import annotations

import base64
import binascii
import hmac

from aiohttp import web

from api.keys import SETTINGS
from recorder.errors import UnauthorizedError
from recorder.models import Caller
from recorder.settings import ApplicationSettings


def caller_of(request: web.Request) -> tuple[ApplicationSettings, Caller]:
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
