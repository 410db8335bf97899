"""The deliverer: sends the outbox's deliveries as signed webhooks, at least once, in order per subject.

Any instance delivers. Each claims due deliveries under a lease (`webhook_lease_seconds`, longer than a
request's timeout); one that dies leaves them to the others when the lease runs out. A subject's next message
is claimed only after the one before it was DELIVERED or FAILED, so a receiver sees a recording's events in
order; different subjects go out side by side (`webhook_concurrency`).

Each request is a POST of the rendered JSON with Standard Webhooks' headers: `webhook-id` (the event's id, and
`_<n>` for a format's n-th extra message: stable across retries, receivers deduplicate on it),
`webhook-timestamp`, `webhook-signature` (`v1,<base64 HMAC-SHA256>`, one per secret in force). A 2xx answer is
delivered; anything else, a timeout or a connection error is a failure tried again after the next wait of
`webhook_retry_schedule_seconds` (+-20 % jitter), and FAILED after the last. Redirects are not followed; the
answer's body is not read. Requests go only where the outbound policy admits (`recorder.outbound`), and a
failure is recorded in our words (an HTTP status, no answer, could not connect, not permitted), never the
socket's text.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime

import aiohttp
from standardwebhooks.webhooks import Webhook

from recorder.downloads import Downloads
from recorder.events import Event
from recorder.logcontext import scope
from recorder.operations.metrics import Metrics
from recorder.outbound import OutboundPolicy, origin_only
from recorder.persistence.database import Database
from recorder.persistence.ports import CompositionJobStore, Delivery, RecordingStore, WebhookStore
from recorder.persistence.sql.outbox import CHANNEL
from recorder.settings import Settings
from recorder.tasks import TaskSet
from recorder.webhooks.formats import render
from recorder.webhooks.subscriptions import Webhooks
from storage_providers.guard import REFUSED, GuardedResolver, endpoint_host_port, refused

logger = logging.getLogger(__name__)
USER_AGENT = "webrtc-recorder-webhooks/1"


class Links:
    """Download URLs of the files an event names, valid from the moment it is sent."""

    def __init__(
        self, downloads: Downloads, recordings: RecordingStore, compositions: CompositionJobStore, origin: str
    ) -> None:
        self._downloads = downloads
        self._recordings = recordings
        self._compositions = compositions
        self._origin = origin

    async def urls(self, event: Event) -> dict[str, str]:
        """{file location: URL} for the event's `file`, `files` and `composition`."""
        data = event.data
        composition = data.get("composition")
        if composition is not None:
            found = await self._compositions.by_id(composition["id"])
            if found is None or found.object_location is None or found.deleted is not None:
                return {}
            return {found.object_location: (await self._downloads.composition_url(found, self._origin))[0]}
        files = [f for f in [data.get("file"), *data.get("files", [])] if f and f.get("location")]
        if not files:
            return {}
        recording = await self._recordings.by_id(event.subject)
        if recording is None:
            return {}
        return await self._downloads.stored_urls(recording, self._origin)


def message_id(delivery: Delivery) -> str:
    return delivery.event.id if delivery.part == 0 else f"{delivery.event.id}_{delivery.part}"


def signature(keys: list[bytes], msg_id: str, at: datetime, body: str) -> str:
    """Standard Webhooks' `webhook-signature`: `v1,<base64>` for each key, space separated."""
    return " ".join(Webhook(key).sign(msg_id, at, body) for key in keys)


class Deliverer:
    def __init__(
        self,
        settings: Settings,
        store: WebhookStore,
        webhooks: Webhooks,
        links: Links,
        database: Database,
        metrics: Metrics,
        policy: OutboundPolicy,
        signers: Mapping[str, Callable[[str], dict[str, str]]] | None = None,
    ) -> None:
        self._settings = settings
        self._policy = policy
        self._signers = signers or {}  # a format's own signature headers of a body (RealtimeKit's rtk-signature)
        self._store = store
        self._webhooks = webhooks
        self._links = links
        self._database = database
        self._metrics = metrics
        self._me = settings.instance_id
        self._wake = asyncio.Event()
        self._running: set[int] = set()
        self._tasks = TaskSet("webhooks")
        self._http: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        await self._store.release(self._me)  # what an earlier run of this instance held: at once, not at lease end
        self._http = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(resolver=GuardedResolver(self._policy)),
            timeout=aiohttp.ClientTimeout(total=self._settings.webhook_timeout_seconds),
            headers={"User-Agent": USER_AGENT},
        )
        await self._database.listen(CHANNEL, lambda _: self._wake.set())
        self._tasks.spawn(self._loop(), name="webhooks-loop")

    def wake(self) -> None:
        self._wake.set()

    async def _loop(self) -> None:
        poll = self._settings.webhook_poll_seconds
        while True:
            self._wake.clear()
            try:
                await self._claim()
                due = await self._store.next_due()
            except Exception:  # the database is away for a moment: look again later
                logger.exception("webhook deliveries could not be read; trying again in %.1f s", poll)
                due = None
            delay = poll if due is None else min(poll, max(0.005, due - time.time()))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), delay)

    async def _claim(self) -> None:
        free = self._settings.webhook_concurrency - len(self._running)
        if free <= 0:
            return
        now = time.time()
        for delivery in await self._store.claim(self._me, now, free, self._lease()):
            if delivery.id in self._running:
                continue
            self._running.add(delivery.id)
            self._tasks.spawn(self._deliver(delivery), name=f"webhook-{delivery.id}", done=lambda _: self._wake.set())

    async def _deliver(self, first: Delivery) -> None:
        """Send `first`, then, while they are due, the next messages of its subject to its subscription."""
        delivery: Delivery | None = first
        while delivery is not None:
            self._running.add(delivery.id)
            event = delivery.event
            recorder_id = event.data.get("recording", {}).get("recorderId")
            with scope(recorderId=recorder_id, compositionId=event.data.get("composition", {}).get("id")):
                try:
                    following = await self._attempt(delivery)
                except Exception as exc:  # a bug must not lose the delivery: it counts as a failed attempt
                    logger.exception("webhook delivery %s failed unexpectedly", delivery.id)
                    following = await self._failed(delivery, f"unexpected {type(exc).__name__}: {exc}", None)
            self._running.discard(delivery.id)
            delivery = following

    async def _attempt(self, delivery: Delivery) -> Delivery | None:
        """One try; the subject's next message when this one is done with and the next is due."""
        assert self._http is not None
        subscription = await self._store.subscription(delivery.subscription_id)
        if subscription is None:
            return None  # deleted meanwhile, its deliveries with it
        event = delivery.event
        payload = render(subscription.format, delivery.message, event, await self._links.urls(event))
        body = json.dumps(payload, separators=(",", ":"), ensure_ascii=False)  # (as JSON.stringify writes it)
        now = datetime.now(UTC)
        msg_id = message_id(delivery)
        try:
            keys = self._webhooks.secrets(subscription, now.timestamp())
        except ValueError as exc:
            return await self._failed(delivery, str(exc), None)
        headers = {
            "Content-Type": "application/json",
            "webhook-id": msg_id,
            "webhook-timestamp": str(int(now.timestamp())),
            "webhook-signature": signature(keys, msg_id, now, body),
        }
        sign = self._signers.get(subscription.format)
        if sign is not None:
            headers.update(sign(body))
        status: int | None = None
        try:  # to an address the outbound policy admitted (a name is checked by the resolver, as it resolves)
            self._policy.check_literal(*endpoint_host_port(subscription.url))
            async with self._http.post(subscription.url, data=body, headers=headers, allow_redirects=False) as answer:
                status = answer.status
        except TimeoutError:
            error = f"no answer within {self._settings.webhook_timeout_seconds:g} s"
        except (aiohttp.ClientError, OSError, ValueError) as exc:  # in our words, never the socket's
            error = f"{origin_only(subscription.url)}: {REFUSED}" if refused(exc) else "could not connect"
            logger.info("webhook %s: %s (%s)", message_id(delivery), error, type(exc).__name__)
        else:
            if 200 <= status < 300:
                return await self._delivered(delivery, status)
            error = f"HTTP {status}"
        return await self._failed(delivery, error, status)

    def _lease(self) -> float:
        return time.time() + self._settings.webhook_lease_seconds

    async def _delivered(self, delivery: Delivery, status: int) -> Delivery | None:
        now = time.time()
        delivery.attempts += 1
        delivery.status, delivery.last_status, delivery.last_error, delivery.finished = "DELIVERED", status, None, now
        following = await self._store.finish(delivery, self._me, self._lease())
        self._metrics.webhook_attempts.labels("delivered").inc()
        self._metrics.webhook_latency.observe(max(0.0, now - delivery.event.occurred.timestamp()))
        logger.info(
            "webhook %s (%s #%d) delivered to subscription %s after %d attempt(s)",
            message_id(delivery),
            delivery.message,
            delivery.event.sequence,
            delivery.subscription_id,
            delivery.attempts,
        )
        return following

    async def _failed(self, delivery: Delivery, error: str, status: int | None) -> Delivery | None:
        schedule = self._settings.webhook_retry_schedule_seconds
        delivery.attempts += 1
        delivery.last_error, delivery.last_status = error, status
        now = time.time()
        if delivery.attempts > len(schedule):
            delivery.status, delivery.finished = "FAILED", now
            self._metrics.webhook_attempts.labels("failed").inc()
            logger.error(
                "webhook %s to subscription %s FAILED after %d attempts: %s",
                message_id(delivery),
                delivery.subscription_id,
                delivery.attempts,
                error,
            )
        else:
            wait = schedule[delivery.attempts - 1] * random.uniform(0.8, 1.2)
            delivery.next_attempt = now + wait
            self._metrics.webhook_attempts.labels("retried").inc()
            logger.warning(
                "webhook %s to subscription %s: attempt %d failed (%s); next in %.1f s",
                message_id(delivery),
                delivery.subscription_id,
                delivery.attempts,
                error,
                wait,
            )
        return await self._store.finish(delivery, self._me, self._lease())

    async def refresh_metrics(self) -> None:
        pending, failed, oldest = await self._store.counts()
        self._metrics.webhook_pending.set(pending)
        self._metrics.webhook_failed.set(failed)
        self._metrics.webhook_oldest.set(max(0.0, time.time() - oldest) if oldest is not None else 0.0)

    async def aclose(self) -> None:
        """Stop sending; deliveries under way are released for the next look (any instance's)."""
        await self._tasks.aclose()
        with contextlib.suppress(Exception):
            await self._store.release(self._me)
        if self._http is not None:
            await self._http.close()
