"""The console: static files shipped in the package (`api/console/`), served at `/console/` by the service itself
(same origin as the API; no build step, nothing fetched from elsewhere at run time)."""

from __future__ import annotations

import importlib.resources

from aiohttp import web

FILES = {"index.html": "text/html", "console.js": "text/javascript", "console.css": "text/css"}
HEADERS = {
    "Cache-Control": "no-cache",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",  # a recording's signed links never leave in a Referer
    # media and the storage's own signed URLs may be on another origin; scripts and styles only from here
    "Content-Security-Policy": "default-src 'self'; media-src * blob:; connect-src *; img-src 'self' data:; "
    "object-src 'none'; frame-ancestors 'none'; base-uri 'none'",
}


async def console_root(request: web.Request) -> web.StreamResponse:
    raise web.HTTPFound("/console/")


async def console_file(request: web.Request) -> web.StreamResponse:
    name = request.match_info.get("name") or "index.html"
    if name not in FILES:
        raise web.HTTPNotFound(text="no such file of the console")
    body = (importlib.resources.files("api") / "console" / name).read_bytes()
    return web.Response(body=body, content_type=FILES[name], charset="utf-8", headers=HEADERS)
