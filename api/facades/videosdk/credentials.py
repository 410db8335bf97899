"""VideoSDK's token: `Authorization: <JWT>` (no prefix; `Bearer <JWT>` is taken too), HS256 with the secret
of one of `videosdk_keys`, carrying `apikey`; an expired or badly signed token, or one living longer than
`facade_token_max_seconds`, is 401. The key acts within its application."""

from __future__ import annotations

import jwt
from aiohttp import web

from api.credentials import bounded_lifetime
from api.keys import SETTINGS
from recorder.errors import UnauthorizedError
from recorder.evidence.access import ACTOR, Actor
from recorder.models import Caller
from recorder.settings import ApplicationSettings


def caller_of(request: web.Request) -> tuple[ApplicationSettings, Caller]:
    """The key's application and the caller, from the request's token."""
    header = request.headers.get("Authorization", "").strip()
    token = header[7:].strip() if header.lower().startswith("bearer ") else header
    if not token:
        raise UnauthorizedError("Authorization token is required.")
    settings = request.config_dict[SETTINGS]
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
    ACTOR.set(Actor(key.api_key, "API_KEY", ("AGENT",)))
    return app, Caller(key.api_key, "API_KEY")
