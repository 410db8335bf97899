"""What a command to the recording service is: a start (`StartCommand`, its limits), and a command to
another instance (the caller as fields of a message)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from recorder.errors import InvalidRequestError
from recorder.models import Caller, Limits, Rules
from recorder.settings import Settings

Ids = tuple[str, str, str]  # (conversationId, recorderId, instanceId)


@dataclass(frozen=True)
class StartCommand:
    organization_id: str  # the caller's: an application of another organization is not found
    application_id: str
    conference_id: str
    conversation_id: str
    audio: bool = True
    video: bool = True
    screen: bool = True
    caller: Caller | None = None
    rules: Rules = field(default_factory=Rules)
    # limits asked for (None: the service's default), each at most the service's maximum
    max_duration_seconds: float | None = None
    empty_room_timeout_seconds: float | None = None
    no_media_timeout_seconds: float | None = None
    key_template: str | None = None  # where its files go (a facade's layout); None: the storage profile's
    facade: str | None = None  # the facade it is started through
    webhook: tuple[str, str] | None = None  # (url, format): a subscription to this recording's events alone
    recorder_id: str | None = None  # the new recording's id (default: a new UUID)


def limits_of(settings: Settings, command: StartCommand) -> Limits:
    """The recording's limits: what the request asks, else the service's defaults; more than the service's
    maximum is refused (400), not cut silently."""
    asked = [
        ("maxDurationSeconds", command.max_duration_seconds, settings.max_duration_seconds),
        ("emptyRoomTimeoutSeconds", command.empty_room_timeout_seconds, settings.empty_room_timeout_seconds),
        ("noMediaTimeoutSeconds", command.no_media_timeout_seconds, settings.no_media_timeout_seconds),
    ]
    maxima = [
        settings.max_duration_seconds_max,
        settings.empty_room_timeout_seconds_max,
        settings.no_media_timeout_seconds_max,
    ]
    values = []
    for (name, value, default), maximum in zip(asked, maxima, strict=True):
        if value is not None and value > maximum:
            raise InvalidRequestError(f"{name} is at most {maximum:g} on this service", code="LIMIT_TOO_HIGH")
        values.append(default if value is None else value)
    return Limits(values[0], values[1], values[2], settings.pause_timeout_seconds)


def caller_fields(caller: Caller | None) -> dict[str, str]:
    """A caller as the fields of a command to another instance."""
    return {"callerName": caller.name, "callerType": caller.type} if caller is not None else {}


def caller_of(message: dict[str, Any]) -> Caller | None:
    name, kind = message.get("callerName"), message.get("callerType")
    return Caller(str(name), str(kind)) if name and kind else None
