"""Webhook subscriptions (ADMIN): the list, one, its secret, its deliveries, redelivery and replay."""

from __future__ import annotations

import time

from aiohttp import web

from api.handlers.common import JSON_OBJECT, int_query, org
from api.keys import (
    DELIVERER,
    SETTINGS,
    WEBHOOKS,
)
from api.presenters import (
    delivery_view,
    subscription_view,
)
from recorder.errors import InvalidRequestError
from recorder.persistence.ports import StoredSubscription
from schemas.webhooks import DeliveriesMessage, ReplayMessage, ReplayRequest, SubscriptionsMessage


def _application(request: web.Request) -> str:
    """The caller's application named in the path (another organization's is as unknown as none: 404)."""
    return request.config_dict[SETTINGS].application_of(org(request), request.match_info["applicationId"]).id


def _subscription(request: web.Request, subscription: StoredSubscription, status: int = 200) -> web.Response:
    return web.json_response(subscription_view(subscription, time.time()).wire(), status=status)


async def list_webhooks(request: web.Request) -> web.Response:
    subscriptions = await request.config_dict[WEBHOOKS].of(_application(request))
    message = SubscriptionsMessage(subscriptions=[subscription_view(s, time.time()) for s in subscriptions])
    return web.json_response(message.wire())


async def create_webhook(request: web.Request) -> web.Response:
    """The secret is write-only: never answered, never logged, encrypted at rest."""
    body = JSON_OBJECT.validate_json(await request.read())
    return _subscription(request, await request.config_dict[WEBHOOKS].create(_application(request), body), 201)


async def get_webhook(request: web.Request) -> web.Response:
    webhooks = request.config_dict[WEBHOOKS]
    return _subscription(request, await webhooks.get(_application(request), request.match_info["subscriptionId"]))


async def put_webhook(request: web.Request) -> web.Response:
    body = JSON_OBJECT.validate_json(await request.read())
    application_id, subscription_id = _application(request), request.match_info["subscriptionId"]
    return _subscription(request, await request.config_dict[WEBHOOKS].update(application_id, subscription_id, body))


async def delete_webhook(request: web.Request) -> web.Response:
    await request.config_dict[WEBHOOKS].delete(_application(request), request.match_info["subscriptionId"])
    return web.Response(status=204)


async def rotate_webhook_secret(request: web.Request) -> web.Response:
    """The new secret signs from now on; the old one signs beside it for `webhook_rotation_grace_seconds`."""
    body = JSON_OBJECT.validate_json(await request.read())
    application_id, subscription_id = _application(request), request.match_info["subscriptionId"]
    return _subscription(request, await request.config_dict[WEBHOOKS].rotate(application_id, subscription_id, body))


async def webhook_deliveries(request: web.Request) -> web.Response:
    """Newest first, `limit` (1..500, default 100) at a time; `before` pages on; `status` filters."""
    limit = int_query(request, "limit", 100, 1, 500) or 100
    before = int_query(request, "before", None, 1, 2**62)
    deliveries = await request.config_dict[WEBHOOKS].deliveries(
        _application(request), request.match_info["subscriptionId"], request.query.get("status"), limit, before
    )
    following = deliveries[-1].id if len(deliveries) == limit else None
    message = DeliveriesMessage(deliveries=[delivery_view(d) for d in deliveries], next_before=following)
    return web.json_response(message.wire())


async def redeliver_webhook(request: web.Request) -> web.Response:
    text = request.match_info["deliveryId"]
    if not text.isdigit() or int(text) > 2**62:
        raise InvalidRequestError("deliveryId must be a delivery's number")
    delivery = await request.config_dict[WEBHOOKS].redeliver(
        _application(request), request.match_info["subscriptionId"], int(text)
    )
    request.config_dict[DELIVERER].wake()
    return web.json_response(delivery_view(delivery).wire(), status=202)


async def replay_webhooks(request: web.Request) -> web.Response:
    """Every event of a recording (`recorderId`), or of a time range (`since`, `until`), sent again in order."""
    body = ReplayRequest.model_validate_json(await request.read())
    replayed = await request.config_dict[WEBHOOKS].replay(
        _application(request), request.match_info["subscriptionId"], body.recorder_id, body.since, body.until
    )
    request.config_dict[DELIVERER].wake()
    return web.json_response(ReplayMessage(replayed=replayed).wire(), status=202)
