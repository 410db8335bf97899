"""Wire models of the webhook administration (an extension of the recorder API; camelCase on the wire)."""

from __future__ import annotations

from pydantic import ConfigDict
from pydantic.alias_generators import to_camel

from schemas.recording import UtcDatetime, WireModel


class SubscriptionView(WireModel):
    """A subscription as answered: never its secret."""

    id: str
    application_id: str
    url: str
    events: list[str] | None  # null: every event
    format: str
    origin: str  # CONFIGURATION or API
    created: str
    updated: str
    previous_secret_until: str | None = None  # the rotated-out secret signs too until then

    def wire(self) -> dict[str, object]:
        data = self.model_dump(mode="json", by_alias=True, exclude_none=True)
        data["events"] = self.events  # null is meaningful: every event
        return data


class SubscriptionsMessage(WireModel):
    subscriptions: list[SubscriptionView]

    def wire(self) -> dict[str, object]:
        return {"subscriptions": [s.wire() for s in self.subscriptions]}


class DeliveryView(WireModel):
    id: int
    event_id: str
    message_id: str  # the `webhook-id` header: stable across retries
    event_type: str
    message: str  # the message's name in the subscription's format
    subject: str  # the recording (or composition) whose events keep their order
    sequence: int
    status: str  # PENDING, DELIVERED or FAILED
    attempts: int
    next_attempt: str | None = None
    last_error: str | None = None
    last_status: int | None = None
    created: str
    finished: str | None = None


class DeliveriesMessage(WireModel):
    deliveries: list[DeliveryView]
    next_before: int | None = None  # the `before` of the next page (None: the last page)

    def wire(self) -> dict[str, object]:
        return {"deliveries": [d.wire() for d in self.deliveries], "nextBefore": self.next_before}


class ReplayRequest(WireModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=False, frozen=True, extra="forbid")

    recorder_id: str | None = None
    since: UtcDatetime | None = None
    until: UtcDatetime | None = None


class ReplayMessage(WireModel):
    replayed: int
