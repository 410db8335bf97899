"""The coaching app's end users' credentials: its own bearer token, a JWT signed HS256 or RS256
(`applications[].coaching`), whose claims name the user and say whether they are a coach or a customer; a
token living longer than `facade_token_max_seconds` is refused."""

from __future__ import annotations

import jwt
from aiohttp import web

from api.credentials import bounded_lifetime
from api.keys import SETTINGS
from recorder.evidence.access import ACTOR, Actor
from recorder.facades.coaching.sessions import Problem, SessionProblem, User
from recorder.settings import ApplicationSettings
from schemas.sessions import UserType


def end_user(request: web.Request) -> tuple[ApplicationSettings, User]:
    """The application of the path (SESSION_NOT_FOUND when it has no coaching API) and the token's user."""
    app = request.config_dict[SETTINGS].application(request.match_info["applicationId"])
    if app is None or app.coaching is None:
        raise SessionProblem(Problem.SESSION_NOT_FOUND, "no coaching application")
    max_seconds = request.config_dict[SETTINGS].facade_token_max_seconds
    user = user_of(app, request.headers.get("Authorization", ""), max_seconds)
    ACTOR.set(Actor(f"coaching:{app.id}", "END_USER", (user.type.value,), user.id))
    return app, user


def user_of(app: ApplicationSettings, header: str, max_seconds: int) -> User:
    """The end user of the app's bearer token; SessionProblem(UNAUTHORIZED) when it is missing or not valid."""
    coaching = app.coaching
    if coaching is None or not header.lower().startswith("bearer "):
        raise SessionProblem(Problem.UNAUTHORIZED, "no bearer token")
    token = header[7:].strip()
    if coaching.jwt_secret is not None:
        key, algorithm = coaching.jwt_secret.get_secret_value(), "HS256"
    else:
        key, algorithm = str(coaching.jwt_public_key), "RS256"
    try:
        claims = jwt.decode(
            token,
            key,
            algorithms=[algorithm],
            issuer=coaching.issuer,
            audience=coaching.audience,
            options={"verify_aud": coaching.audience is not None, "require": ["exp"]},
        )
        bounded_lifetime(claims, max_seconds)
    except jwt.PyJWTError as exc:
        raise SessionProblem(Problem.UNAUTHORIZED, f"token: {type(exc).__name__}") from None
    user, kind = claims.get(coaching.user_claim), str(claims.get(coaching.user_type_claim, "")).upper()
    if (
        not isinstance(user, str | int)
        or isinstance(user, bool)
        or str(user) == ""
        or kind not in {t.value for t in UserType}
    ):
        raise SessionProblem(Problem.UNAUTHORIZED, "the token names no user or user type")
    return User(str(user), UserType(kind))
