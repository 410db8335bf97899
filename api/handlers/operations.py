"""Metrics, liveness and readiness (no Authorization)."""

from __future__ import annotations

from aiohttp import web

from api.keys import (
    METRICS,
    READINESS,
)
from recorder.operations.metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE


async def metrics(request: web.Request) -> web.Response:
    body = await request.config_dict[METRICS].exposition()
    return web.Response(body=body, headers={"Content-Type": METRICS_CONTENT_TYPE})


async def livez(request: web.Request) -> web.Response:
    """The process and its event loop answer."""
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    """503 with the reasons when the database does not answer, the instance is draining, or the spool is full."""
    reasons = await request.config_dict[READINESS].reasons()
    if reasons:
        return web.json_response({"status": "unavailable", "reasons": reasons}, status=503)
    return web.json_response({"status": "ready", "reasons": []})
