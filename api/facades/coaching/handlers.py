"""The coaching app's two customer-facing endpoints. Answers are the app's `{success, message, data,
statusCode}`, messages in Arabic unless `Accept-Language` prefers English; errors carry `data: []` on
start-recording and `data: null` on stream-record, as the app's documentation has them."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from api.auth import origin
from api.facades.coaching.credentials import end_user
from api.keys import COACHING
from recorder.facades.coaching.sessions import Problem, SessionProblem

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


async def start_recording(request: web.Request) -> web.Response:
    """Only the session's coach, once: `{recording_id, status: "recording"}`."""
    try:
        app, user = end_user(request)
        recording = await request.config_dict[COACHING].start_recording(app, request.match_info["id"], user)
    except SessionProblem as exc:
        return _refused(request, START_PROBLEMS, exc.problem)
    return answer(request, 200, STARTED, {"recording_id": recording.recorder_id, "status": "recording"})


async def stream_record(request: web.Request) -> web.Response:
    """A temporary URL (2 h) of the completed session's MP4, for the users its viewing policy allows."""
    try:
        app, user = end_user(request)
        url = await request.config_dict[COACHING].stream_url(app, request.match_info["id"], user, origin(request))
    except SessionProblem as exc:
        return _refused(request, STREAM_PROBLEMS, exc.problem)
    return answer(request, 200, FETCHED, {"url": url})
