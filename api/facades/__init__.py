"""Facades: other vendors' APIs over the same core, each one plug-in of one shape, an aiohttp sub-application
mounted at its prefix (`api.paths`) that owns its routes, its credentials (each handler checks its vendor's
own), its request models and its error envelope (`api.errors.ENVELOPE`: the one error middleware answers in
it, for the facade's 404s and 405s too). Its domain is `recorder.facades.<name>`, over the facade port
(`recorder.facades.core`). A new facade is a folder here, one over there, one mount line in `api.routes` and
its settings."""

from __future__ import annotations

from aiohttp import web

from api.auth import Handler, add_route
from api.errors import ENVELOPE, Envelope

Route = tuple[str, str, Handler]  # (method, path below the facade's prefix, handler)


def facade_app(routes: list[Route], envelope: Envelope) -> web.Application:
    """A facade's sub-application: its routes, answering errors in its envelope."""
    app = web.Application()
    app[ENVELOPE] = envelope
    for method, path, handler in routes:
        add_route(app.router, method, path, handler)
    return app
