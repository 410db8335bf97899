"""create_app: wires settings, repository, storage, service and routes together."""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
from aiohttp import web

from api.errors import error_middleware
from api.keys import SERVICE, SETTINGS, SIGNER
from api.routes import add_routes
from recorder.service import RecordingService
from recorder.settings import Settings
from recorder.signing import UrlSigner
from recorder.sqlite_repository import SqliteRepository


def _signing_key(settings: Settings) -> bytes:
    if settings.url_signing_key is not None:
        return settings.url_signing_key.get_secret_value().encode()
    path: Path = settings.data_dir / "url-signing.key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as file:
            file.write(secrets.token_urlsafe(32))
    return path.read_text().strip().encode()


def create_app(settings: Settings) -> web.Application:
    app = web.Application(middlewares=[error_middleware], client_max_size=settings.max_body_bytes)
    app[SETTINGS] = settings
    app[SIGNER] = UrlSigner(_signing_key(settings), settings.url_ttl_seconds)

    async def resources(app: web.Application) -> AsyncIterator[None]:
        async with (
            await SqliteRepository.open(settings.database) as repository,
            aiohttp.ClientSession() as http,
            RecordingService(settings, repository, http) as service,
        ):
            app[SERVICE] = service
            yield

    app.cleanup_ctx.append(resources)
    add_routes(app)
    return app
