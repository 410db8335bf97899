"""Every error becomes a JSON answer here, and nowhere else."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field

import pydantic
from aiohttp import web

from recorder.errors import (
    ConflictError,
    ForbiddenError,
    InvalidRequestError,
    LimitError,
    NotFoundError,
    RecorderError,
    TooLargeError,
    UnauthorizedError,
    UnavailableError,
)
from recorder.signing import SignatureError
from schemas.recording import ErrorBody
from storage_providers.base import StorageError

logger = logging.getLogger(__name__)

_STATUS: dict[type[Exception], int] = {
    NotFoundError: 404,
    InvalidRequestError: 400,
    UnauthorizedError: 401,
    ForbiddenError: 403,
    SignatureError: 403,
    ConflictError: 409,
    TooLargeError: 413,
    LimitError: 429,
    UnavailableError: 503,
}


@dataclass(frozen=True)
class Envelope:
    """How an API answers its errors: the body of (status, code, message, details); whether a validation error
    says its first problem as a sentence (Joi's way, which VideoSDK and RealtimeKit answer with) instead of ours;
    headers every answer of it carries (WHIP's CORS), and those of an error's status (Cloudflare's
    x-should-retry). A facade's sub-application keeps its own under ENVELOPE."""

    body: Callable[[int, str, str, list[dict[str, object]] | None], object]
    first_problem: bool = False
    headers: Mapping[str, str] = field(default_factory=dict)
    error_headers: Callable[[int], Mapping[str, str]] | None = None

    def response(
        self, status: int, code: str, message: str, details: list[dict[str, object]] | None = None
    ) -> web.Response:
        response = web.json_response(self.body(status, code, message, details), status=status)
        if self.error_headers is not None:
            response.headers.update(self.error_headers(status))
        return response


NATIVE = Envelope(
    lambda _status, code, message, details: ErrorBody(error=code, message=message, details=details).wire()
)
ENVELOPE = web.AppKey("envelope", Envelope)


def envelope_of(request: web.Request) -> Envelope:
    """The envelope of the innermost application the request was routed to (a facade's), else ours."""
    for app in reversed(request.match_info.apps):
        envelope = app.get(ENVELOPE)
        if envelope is not None:
            return envelope
    return NATIVE


def _validation_details(exc: pydantic.ValidationError) -> list[dict[str, object]]:
    return [
        {"field": ".".join(str(p) for p in e["loc"]), "problem": e["msg"]}
        for e in exc.errors(include_url=False, include_input=False)
    ]


def body_timeout(seconds: float) -> Callable[..., Awaitable[web.StreamResponse]]:
    """A middleware that reads a request's body within `seconds` (else 408), before its handler sees it."""

    @web.middleware
    async def read_in_time(
        request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        if request.body_exists:
            try:
                await asyncio.wait_for(request.read(), seconds)  # kept: the handler reads it again at once
            except TimeoutError:
                raise web.HTTPRequestTimeout(text=f"the body did not come within {seconds:.0f} s") from None
        return await handler(request)

    return read_in_time


def _first_problem(exc: pydantic.ValidationError) -> str:
    """The first problem, as a sentence (Joi's way, which VideoSDK answers with: `"roomId" is required`)."""
    first = exc.errors(include_url=False, include_input=False)[0]
    field = ".".join(str(p) for p in first["loc"])
    if first["type"] == "missing":
        return f'"{field}" is required'
    return f'"{field}" {first["msg"][:1].lower()}{first["msg"][1:]}' if field else first["msg"]


@web.middleware
async def error_middleware(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    envelope = envelope_of(request)
    response = await _answer_errors(request, handler, envelope)
    response.headers.update(envelope.headers)
    return response


async def _answer_errors(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]], envelope: Envelope
) -> web.StreamResponse:
    error_response = envelope.response
    try:
        return await handler(request)
    except pydantic.ValidationError as exc:
        logger.info("%s %s: invalid request: %s", request.method, request.path, exc.error_count())
        message = _first_problem(exc) if envelope.first_problem else "the request is not valid"
        return error_response(400, "INVALID_REQUEST", message, _validation_details(exc))
    except json.JSONDecodeError as exc:
        logger.info("%s %s: malformed JSON", request.method, request.path)
        return error_response(400, "MALFORMED_JSON", f"the body is not JSON: {exc.msg}")
    except (RecorderError, SignatureError) as exc:
        status = next((s for cls, s in _STATUS.items() if isinstance(exc, cls)), 400)
        code = exc.code if isinstance(exc, RecorderError) else "FORBIDDEN"
        logger.info("%s %s: %s %s", request.method, request.path, status, exc)
        response = error_response(status, code, str(exc))
        if status == 401:
            response.headers["WWW-Authenticate"] = 'Bearer realm="recorder"'
        if isinstance(exc, UnavailableError | LimitError) and exc.retry_after is not None:
            response.headers["Retry-After"] = str(exc.retry_after)
        return response
    except StorageError as exc:  # the application's storage failed a read or a link
        status = 503 if exc.retryable else 502
        logger.warning("%s %s: %s %s", request.method, request.path, status, exc.message)
        response = error_response(status, exc.code, exc.message)
        if exc.retryable:
            response.headers["Retry-After"] = "5"
        return response
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        code = exc.reason.upper().replace(" ", "_")
        response = error_response(exc.status, code, exc.text or exc.reason)
        for name in ("Allow", "Retry-After", "Content-Range"):  # e.g. 405 says which methods are allowed
            if name in exc.headers:
                response.headers[name] = exc.headers[name]
        if exc.status == 408:  # the rest of the body may still come: the connection cannot be used again
            response.force_close()
        return response
    except Exception:
        logger.exception("%s %s failed", request.method, request.path)
        return error_response(500, "INTERNAL_ERROR", "the recorder failed; see its log")
