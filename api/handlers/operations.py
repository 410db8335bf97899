"""Metrics, liveness and readiness (no Authorization)."""

from __future__ import annotations

from aiohttp import web

from api.keys import (
    METRICS,
    READINESS,
    RECORDINGS,
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


async def capacity(request: web.Request) -> web.Response:
    """Room for recordings, of this instance and of every running instance: what an autoscaler scales on."""
    room = await request.config_dict[RECORDINGS].capacity()
    return web.json_response(
        {
            "instanceId": request.config_dict[RECORDINGS].instance_id,
            "instance": {"capacity": room.own, "live": room.here, "free": room.free_here},
            "cluster": {"instances": room.instances, "capacity": room.total, "live": room.live, "free": room.free},
        }
    )
