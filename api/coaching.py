"""The coaching session API: a coaching app's two customer-facing endpoints over our recordings, under
`/coaching/{applicationId}` (the app changes its API base to `<base>/coaching/<application id>`), and the
session registration its backend calls in the recorder API (`/sessions/{applicationId}/{sessionId}`, SERVICE).

- End users send the app's own bearer token: a JWT signed HS256 or RS256 (`applications[].coaching`), whose
  claims name the user and say whether they are a coach or a customer.
- Answers are the app's `{success, message, data, statusCode}`, messages in Arabic unless `Accept-Language`
  prefers English; errors carry `data: []` on start-recording and `data: null` on stream-record, as the app's
  documentation has them.
"""

from __future__ import annotations

import json
from typing import Any

import jwt
from aiohttp import web

from api.auth import Handler, caller, origin, principal
from api.credentials import bounded_lifetime
from api.keys import COACHING, SETTINGS
from recorder.models import Caller
from recorder.sessions.coaching import Problem, SessionProblem, User
from recorder.settings import ApplicationSettings
from schemas.sessions import SessionCommand, SessionPatch, UserType

# the app's messages (Arabic, as its documentation writes them) and their English
STARTED = ("تم بدء التسجيل بنجاح", "Recording started successfully")
FETCHED = ("تم جلب البيانات بنجاح", "Data fetched successfully")
START_PROBLEMS: dict[Problem, tuple[int, str, str]] = {
    Problem.SESSION_NOT_FOUND: (404, "الجلسة غير موجودة", "Session not found"),
    Problem.ALREADY_RECORDING: (400, "يتم التسجيل بالفعل", "Already recording"),
    Problem.UNAUTHORIZED: (401, "غير مصرح", "Unauthorized"),
    Problem.SESSION_ENDED: (400, "الجلسة منتهية", "The session has ended"),
    Problem.NOT_STARTED: (503, "تعذر بدء التسجيل", "The recording could not be started"),
}
STREAM_PROBLEMS: dict[Problem, tuple[int, str, str]] = {
    Problem.SESSION_NOT_FOUND: (404, "لم يتم العثور على الجلسة", "Session not found"),
    Problem.NO_PERMISSION: (404, "لا يوجد صلاحية لمشاهدة التسجيل", "No permission to view the recording"),
    Problem.NO_VIDEOS: (404, "لا يوجد تسجيلات للجلسة", "No recordings exist for the session"),
    Problem.FILE_NOT_FOUND: (404, "ملف التسجيل غير موجود", "Recording file not found"),
    Problem.UNAUTHORIZED: (401, "غير مصرح", "Unauthorized"),
}


def english(request: web.Request) -> bool:
    """Whether `Accept-Language` prefers English to Arabic (Arabic when it names neither)."""
    best: tuple[float, bool] = (0.0, False)
    for item in request.headers.get("Accept-Language", "").split(","):
        tag, _, params = item.strip().partition(";")
        primary = tag.strip().lower().split("-")[0]
        if primary not in ("en", "ar"):
            continue
        try:
            q = float(params.strip().removeprefix("q=")) if params.strip().startswith("q=") else 1.0
        except ValueError:
            q = 0.0
        if q > best[0]:
            best = (q, primary == "en")
    return best[1]


def _utf8(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)  # the messages as the app writes them, not \u escapes


def answer(request: web.Request, status: int, texts: tuple[str, str], data: Any) -> web.Response:
    message = texts[1] if english(request) else texts[0]
    body = {"success": 200 <= status < 300, "message": message, "data": data, "statusCode": status}
    response = web.json_response(body, status=status, dumps=_utf8)
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="coaching"'
    return response


def _refused(request: web.Request, problems: dict[Problem, tuple[int, str, str]], problem: Problem) -> web.Response:
    status, arabic, english_text = problems[problem]
    return answer(request, status, (arabic, english_text), [] if problems is START_PROBLEMS else None)


def _end_user(request: web.Request) -> tuple[ApplicationSettings, User]:
    """The application of the path (SESSION_NOT_FOUND when it has no coaching API) and the token's user."""
    app = request.app[SETTINGS].application(request.match_info["applicationId"])
    if app is None or app.coaching is None:
        raise SessionProblem(Problem.SESSION_NOT_FOUND, "no coaching application")
    max_seconds = request.app[SETTINGS].facade_token_max_seconds
    return app, user_of(app, request.headers.get("Authorization", ""), max_seconds)


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


async def start_recording(request: web.Request) -> web.Response:
    """Only the session's coach, once: `{recording_id, status: "recording"}`."""
    try:
        app, user = _end_user(request)
        recording = await request.app[COACHING].start_recording(app, request.match_info["id"], user)
    except SessionProblem as exc:
        return _refused(request, START_PROBLEMS, exc.problem)
    return answer(request, 200, STARTED, {"recording_id": recording.recorder_id, "status": "recording"})


async def stream_record(request: web.Request) -> web.Response:
    """A temporary URL (2 h) of the completed session's MP4, for the users its viewing policy allows."""
    try:
        app, user = _end_user(request)
        url = await request.app[COACHING].stream_url(app, request.match_info["id"], user, origin(request))
    except SessionProblem as exc:
        return _refused(request, STREAM_PROBLEMS, exc.problem)
    return answer(request, 200, FETCHED, {"url": url})


# (method, path below COACHING, handler): each checks the app's end-user token itself
COACHING_ROUTES: list[tuple[str, str, Handler]] = [
    ("POST", "/{applicationId}/v1/customer/sessions/{id}/start-recording", start_recording),
    ("GET", "/{applicationId}/v1/customer/sessions/{id}/stream-record", stream_record),
]


# ------------------------------------------------------------ the app's backend, in the recorder API (SERVICE)


def _backend(request: web.Request) -> tuple[ApplicationSettings, str, Caller]:
    organization = principal(request).organization_id
    app = request.app[SETTINGS].application_of(organization, request.match_info["applicationId"])
    return app, request.match_info["sessionId"], caller(request)


async def put_session(request: web.Request) -> web.Response:
    """Register or replace a session (201 when new)."""
    app, session_id, caller = _backend(request)
    body = SessionCommand.model_validate_json(await request.read())
    session, created = await request.app[COACHING].register(app, session_id, body, caller)
    return web.json_response(session.wire(), status=201 if created else 200)


async def patch_session(request: web.Request) -> web.Response:
    """Change some of a session's fields (e.g. its status)."""
    app, session_id, caller = _backend(request)
    body = SessionPatch.model_validate_json(await request.read())
    session, _ = await request.app[COACHING].register(app, session_id, body, caller)
    return web.json_response(session.wire())


async def get_session(request: web.Request) -> web.Response:
    app, session_id, _ = _backend(request)
    return web.json_response((await request.app[COACHING].get(app, session_id)).wire())
