"""What the handlers share: the ids of a path, the caller's organization, query parameters."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from pydantic import TypeAdapter

from api.auth import principal
from recorder.errors import InvalidRequestError
from recorder.models import Rules
from schemas.recording import RecordingRules

JSON_OBJECT: TypeAdapter[dict[str, Any]] = TypeAdapter(dict[str, Any])
LARGE_BODY = 64 << 10  # bytes: a body larger than this is parsed off the event loop


def path_ids(request: web.Request) -> tuple[str, str, str]:
    info = request.match_info
    return info["conversationId"], info["recorderId"], info["instanceId"]


def org(request: web.Request) -> str:
    return principal(request).organization_id


def int_query(request: web.Request, name: str, default: int | None, low: int, high: int) -> int | None:
    text = request.query.get(name)
    if text is None:
        return default
    if not text.isdigit() or not low <= int(text) <= high:
        raise InvalidRequestError(f"{name} must be an integer from {low} to {high}")
    return int(text)


def time_query(value: str | None) -> datetime | None:
    if not value:
        return None
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def rules_of(body: RecordingRules | None) -> Rules:
    return Rules.from_data(body.model_dump(by_alias=True, exclude_none=True, mode="json")) if body else Rules()


def composition_ids(request: web.Request) -> tuple[str, str]:
    return request.match_info["conversationId"], request.match_info["compositionId"]
