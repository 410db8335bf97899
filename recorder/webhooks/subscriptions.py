"""Webhook subscriptions of each application: from the configuration (kept in the store at start, so that the
outbox finds them) and through the admin API. Secrets are write-only: kept encrypted (Fernet, with a key derived
from the storage credentials key), never answered, never logged. A rotated secret keeps signing beside the new
one for `webhook_rotation_grace_seconds`, so that receivers can switch without losing a message."""

from __future__ import annotations

import base64
import binascii
import hashlib
import logging
import os
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from cryptography.fernet import Fernet, InvalidToken
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from recorder.errors import ConflictError, InvalidRequestError, LimitError, NotFoundError
from recorder.events import EventType, Format
from recorder.models import Recording
from recorder.outbound import OutboundPolicy, check_webhook, origin_only
from recorder.persistence.ports import Delivery, StoredSubscription, WebhookStore
from recorder.settings import Settings, WebhookSettings

logger = logging.getLogger(__name__)
SECRET_PREFIX = "whsec_"
CONFIGURATION, API = "CONFIGURATION", "API"


def secret_bytes(secret: str) -> bytes:
    """The key of a Standard Webhooks secret (`whsec_` + base64 of 24 to 64 bytes); ValueError when it is not one."""
    if not secret.startswith(SECRET_PREFIX):
        raise ValueError(f"a webhook secret starts with {SECRET_PREFIX!r}")
    try:
        key = base64.b64decode(secret[len(SECRET_PREFIX) :], validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError("a webhook secret is whsec_ followed by base64") from exc
    if not 24 <= len(key) <= 64:
        raise ValueError("a webhook secret holds 24 to 64 bytes")
    return key


def _event_types(events: list[str] | None) -> list[str] | None:
    if events is None:
        return None
    unknown = sorted(set(events) - {e.value for e in EventType})
    if unknown:
        raise ValueError(f"unknown events {unknown}; known: {[e.value for e in EventType]}")
    return list(dict.fromkeys(events))


class SubscriptionRequest(BaseModel):
    """A subscription as a client creates or replaces it (camelCase on the wire)."""

    model_config = ConfigDict(extra="forbid")

    url: str = Field(pattern=r"^https?://[!-~]+$", max_length=2048)
    events: list[str] | None = None
    format: Format = Format.NATIVE
    secret: SecretStr | None = None

    @field_validator("events")
    @classmethod
    def _known(cls, events: list[str] | None) -> list[str] | None:
        return _event_types(events)

    @field_validator("secret")
    @classmethod
    def _secret(cls, secret: SecretStr | None) -> SecretStr | None:
        if secret is not None:
            secret_bytes(secret.get_secret_value())
        return secret


class Webhooks:
    """Subscriptions and their deliveries, for the admin API and for the deliverer."""

    def __init__(
        self, settings: Settings, store: WebhookStore, key: bytes, policy: OutboundPolicy | None = None
    ) -> None:
        self._settings = settings
        self._policy = policy
        self._store = store
        self._configured_secrets: dict[str, str] = {}  # this instance's configuration's, by subscription id
        self._cipher = Fernet(base64.urlsafe_b64encode(hashlib.sha256(b"webhooks:" + key).digest()))

    def _seal(self, secret: str) -> str:
        return self._cipher.encrypt(secret.encode()).decode()

    async def load(self) -> None:
        """Keep the configuration's subscriptions in the store (the outbox reads them there); one that left the
        configuration is deleted."""
        now = time.time()
        configured: set[str] = set()
        known = {s.id: s for s in await self._store.subscriptions()}
        for app in self._settings.applications:
            for index, hook in enumerate(app.webhooks):
                subscription = self._configured(app.id, index, hook, known, now)
                configured.add(subscription.id)
                self._configured_secrets[subscription.id] = hook.secret.get_secret_value()
                await self._store.save_subscription(subscription)
        for subscription in known.values():
            if subscription.origin == CONFIGURATION and subscription.id not in configured:
                await self._store.delete_subscription(subscription.id)

    def _configured(
        self, application_id: str, index: int, hook: WebhookSettings, known: dict[str, StoredSubscription], now: float
    ) -> StoredSubscription:
        subscription_id = hook.id or f"cfg-{application_id}-{index}"
        try:
            secret_bytes(hook.secret.get_secret_value())
            _event_types(hook.events)
        except ValueError as exc:
            raise ValueError(f"webhook {subscription_id} of application {application_id}: {exc}") from exc
        earlier = known.get(subscription_id)
        return StoredSubscription(
            id=subscription_id,
            application_id=application_id,
            url=hook.url,
            events=hook.events,
            format=hook.format,
            secret=self._seal(hook.secret.get_secret_value()),
            origin=CONFIGURATION,
            created=earlier.created if earlier else now,
            updated=now,
        )

    async def of(self, application_id: str) -> list[StoredSubscription]:
        return [s for s in await self._store.subscriptions(application_id) if s.recorder_id is None]

    async def get(self, application_id: str, subscription_id: str) -> StoredSubscription:
        subscription = await self._store.subscription(subscription_id)
        if subscription is None or subscription.application_id != application_id:
            raise NotFoundError(f"webhook subscription {subscription_id!r} not found")
        return subscription

    async def create(
        self, application_id: str, body: dict[str, Any], recorder_id: str | None = None
    ) -> StoredSubscription:
        request = _parse(body)
        if request.secret is None:
            raise InvalidRequestError("secret is required: whsec_ followed by the base64 of 24 to 64 random bytes")
        await self.check_url(request.url)
        if (
            recorder_id is None
            and len(await self.of(application_id)) >= self._settings.webhook_subscriptions_per_application
        ):
            raise LimitError(
                f"application {application_id} has {self._settings.webhook_subscriptions_per_application} webhook"
                " subscriptions, the most it may have"
            )
        now = time.time()
        subscription = StoredSubscription(
            id=f"wh_{uuid.uuid4().hex}",
            application_id=application_id,
            url=request.url,
            events=request.events,
            format=request.format.value,
            secret=self._seal(request.secret.get_secret_value()),
            origin=API,
            created=now,
            updated=now,
            recorder_id=recorder_id,
        )
        await self._store.save_subscription(subscription)
        logger.info(
            "webhook subscription %s of application %s: %s", subscription.id, application_id, origin_only(request.url)
        )
        return subscription

    async def check_url(self, url: str) -> None:
        """400 when the outbound policy refuses the URL's destination."""
        if self._policy is not None:
            await check_webhook(self._policy, url)

    async def for_recording(self, recording: Recording, url: str, format_: str) -> StoredSubscription:
        """A subscription to one recording's events (a facade's per-request webhook URL), signed with a secret
        of its own (the vendor's receivers do not check it; Standard Webhooks receivers cannot, not knowing it)."""
        for known in await self.of(recording.application_id):  # (each URL once)
            if known.recorder_id == recording.recorder_id and known.url == url and known.format == format_:
                return known
        secret = SECRET_PREFIX + base64.b64encode(os.urandom(32)).decode()
        body = {"url": url, "format": format_, "secret": secret}
        return await self.create(recording.application_id, body, recording.recorder_id)

    async def update(self, application_id: str, subscription_id: str, body: dict[str, Any]) -> StoredSubscription:
        """Replace url, events and format (a secret given here rotates it, like `rotate`)."""
        subscription = self._changeable(await self.get(application_id, subscription_id))
        request = _parse(body)
        await self.check_url(request.url)
        subscription.url, subscription.events, subscription.format = request.url, request.events, request.format.value
        if request.secret is not None:
            self._rotated(subscription, request.secret.get_secret_value())
        subscription.updated = time.time()
        await self._store.save_subscription(subscription)
        return subscription

    async def rotate(self, application_id: str, subscription_id: str, body: dict[str, Any]) -> StoredSubscription:
        subscription = self._changeable(await self.get(application_id, subscription_id))
        secret = body.get("secret")
        try:
            if not isinstance(secret, str):
                raise ValueError("secret is required")
            secret_bytes(secret)
        except ValueError as exc:
            raise InvalidRequestError(f"{exc}: whsec_ followed by the base64 of 24 to 64 random bytes") from None
        self._rotated(subscription, secret)
        subscription.updated = time.time()
        await self._store.save_subscription(subscription)
        logger.info("webhook subscription %s: secret rotated", subscription.id)
        return subscription

    def _rotated(self, subscription: StoredSubscription, secret: str) -> None:
        subscription.previous_secret = subscription.secret
        subscription.previous_until = time.time() + self._settings.webhook_rotation_grace_seconds
        subscription.secret = self._seal(secret)

    @staticmethod
    def _changeable(subscription: StoredSubscription) -> StoredSubscription:
        if subscription.origin == CONFIGURATION:
            raise ConflictError(f"webhook subscription {subscription.id} is set in the configuration; change it there")
        return subscription

    async def delete(self, application_id: str, subscription_id: str) -> None:
        self._changeable(await self.get(application_id, subscription_id))
        await self._store.delete_subscription(subscription_id)

    def secrets(self, subscription: StoredSubscription, now: float) -> list[bytes]:
        """The keys that sign now: the secret, and the one before it during its grace period. A configured
        subscription's is this instance's configuration's; one set through the API is read with the storage
        credentials key, which every instance must share (ValueError when it cannot be read: nothing unsigned
        is ever sent)."""
        configured = self._configured_secrets.get(subscription.id)
        if configured is not None:
            return [secret_bytes(configured)]
        sealed = [subscription.secret]
        if subscription.previous_secret and (subscription.previous_until or 0) > now:
            sealed.append(subscription.previous_secret)
        try:
            return [secret_bytes(self._cipher.decrypt(token.encode()).decode()) for token in sealed]
        except InvalidToken:
            raise ValueError(
                "its secret cannot be read here: every instance needs the same storage_credentials_key"
            ) from None

    async def deliveries(
        self, application_id: str, subscription_id: str, status: str | None, limit: int, before: int | None
    ) -> list[Delivery]:
        await self.get(application_id, subscription_id)
        if status is not None and status not in ("PENDING", "DELIVERED", "FAILED"):
            raise InvalidRequestError("status is one of PENDING, DELIVERED, FAILED")
        return await self._store.deliveries(subscription_id, status, limit, before)

    async def redeliver(self, application_id: str, subscription_id: str, delivery_id: int) -> Delivery:
        await self.get(application_id, subscription_id)
        delivery = await self._store.redeliver(subscription_id, delivery_id, time.time())
        if delivery is None:
            raise NotFoundError(f"delivery {delivery_id} of webhook subscription {subscription_id} not found")
        return delivery

    async def replay(
        self,
        application_id: str,
        subscription_id: str,
        recorder_id: str | None,
        since: datetime | None,
        until: datetime | None,
    ) -> int:
        """Every event of a recording (or of a time range) sent again to one subscription, in order."""
        await self.get(application_id, subscription_id)
        if recorder_id is None and since is None:
            raise InvalidRequestError("replay needs a recorderId or a time range (since, and until if wanted)")
        if since is not None and until is not None and until <= since:
            raise InvalidRequestError("until must come after since")
        added = await self._store.replay(
            subscription_id,
            recorder_id,
            since.astimezone(UTC).timestamp() if since else None,
            until.astimezone(UTC).timestamp() if until else None,
            time.time(),
        )
        logger.info("webhook subscription %s: %d deliveries replayed", subscription_id, added)
        return added


def _parse(body: dict[str, Any]) -> SubscriptionRequest:
    try:
        return SubscriptionRequest.model_validate(body)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}" for e in exc.errors(include_input=False)
        )
        raise InvalidRequestError(problems) from None
