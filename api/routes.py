"""The route table: every path answers under /rtc-recorder/api and /auvious.video/rtc-recorder/api."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from api import handlers

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
IDS = "{conversationId}/{recorderId}/{instanceId}"

# (method, path below the API base, handler); more specific paths first
ROUTES: list[tuple[str, str, Handler]] = [
    ("POST", "/recordings/start", handlers.start),
    ("GET", f"/recordings/attachment/track/{IDS}/{{trackId}}/{{fileName}}", handlers.track_attachment),
    ("GET", "/recordings/{conversationId}/active", handlers.active),
    ("POST", f"/recordings/{IDS}/stop", handlers.stop),
    ("GET", f"/recordings/{IDS}/state", handlers.state),
    ("GET", f"/recordings/{IDS}", handlers.info),
    ("GET", "/recordings/{conversationId}", handlers.conversation),
    ("GET", "/openapi.yaml", handlers.openapi),
]


def add_routes(app: web.Application) -> None:
    for prefix in (handlers.API, handlers.LEGACY_PREFIX + handlers.API):
        for method, path, handler in ROUTES:
            app.router.add_route(method, prefix + path, handler)
