"""Wire models of the coaching sessions an application's backend registers (an extension of the recorder API;
camelCase on the wire). The coaching session API (`api.coaching`) reads them to decide who may start a
recording and who may stream it."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated

from pydantic import ConfigDict, Field, field_serializer, model_validator
from pydantic.alias_generators import to_camel

from schemas.recording import Id, JsonInt, UtcDatetime, WireModel

_BODY = ConfigDict(alias_generator=to_camel, populate_by_name=True, frozen=True, extra="forbid")


class SessionType(StrEnum):
    SCHEDULED = "SCHEDULED"
    INSTANT = "INSTANT"
    DIRECT = "DIRECT"


class SessionStatus(StrEnum):
    PENDING = "PENDING"
    SCHEDULED = "SCHEDULED"
    IN_PROGRESS = "IN_PROGRESS"
    COMPLETED = "COMPLETED"
    CANCELLED = "CANCELLED"
    END_REQUEST_PENDING = "END-REQUEST-PENDING"


ENDED = frozenset({SessionStatus.COMPLETED, SessionStatus.CANCELLED})


class UserType(StrEnum):
    COACH = "COACH"
    CUSTOMER = "CUSTOMER"


class ViewingPeriod(WireModel):
    """The allowed viewing period: absolute times (either end open)."""

    model_config = _BODY

    start: UtcDatetime | None = Field(default=None, alias="from")
    until: UtcDatetime | None = None

    @model_validator(mode="after")
    def _ordered(self) -> ViewingPeriod:
        if self.start is not None and self.until is not None and self.until <= self.start:
            raise ValueError("until is after from")
        return self


class ViewingPolicy(WireModel):
    """Who may stream a completed session's recording, and when: the session's own coach or customer, if their
    user type is among `viewers`, from `availableAfterMinutes` after completion, for `availableForHours` after
    completion (null: no limit), within `period` (if given)."""

    model_config = _BODY

    viewers: Annotated[list[UserType], Field(max_length=2)] = [UserType.COACH, UserType.CUSTOMER]
    available_after_minutes: Annotated[JsonInt, Field(ge=0, le=525_600)] = 0
    available_for_hours: Annotated[JsonInt, Field(gt=0, le=87_600)] | None = None
    period: ViewingPeriod | None = None


ConferenceId = Annotated[str, Field(min_length=1, max_length=200, pattern=r"^[^/\\\x00-\x1f\x7f]+$")]


class SessionCommand(WireModel):
    """PUT: the whole session as the backend knows it."""

    model_config = _BODY

    type: SessionType
    status: SessionStatus
    coach_id: Id
    customer_id: Id
    conference_id: ConferenceId
    completed_at: UtcDatetime | None = None  # default: when the status first became COMPLETED
    viewing: ViewingPolicy = ViewingPolicy()


class SessionPatch(WireModel):
    """PATCH: the fields that change (e.g. only `status`)."""

    model_config = _BODY

    type: SessionType | None = None
    status: SessionStatus | None = None
    coach_id: Id | None = None
    customer_id: Id | None = None
    conference_id: ConferenceId | None = None
    completed_at: UtcDatetime | None = None
    viewing: ViewingPolicy | None = None


class CoachingSession(WireModel):
    """A registered session, as stored and answered; `recorderId` is its recording once the coach started it."""

    application_id: str
    session_id: str
    type: SessionType
    status: SessionStatus
    coach_id: str
    customer_id: str
    conference_id: str
    completed_at: datetime | None = None
    viewing: ViewingPolicy = ViewingPolicy()
    recorder_id: str | None = None
    created: datetime
    updated: datetime

    @field_serializer("completed_at", "created", "updated", when_used="json")
    def _milliseconds(self, value: datetime | None) -> str | None:
        """Times as the rest of the API writes them: UTC, milliseconds, `Z`."""
        return (
            None if value is None else value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        )
