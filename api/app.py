"""create_app: wires settings, repository, storage, service and routes together."""

from __future__ import annotations

import logging
import os
import secrets
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
from aiohttp import web
from pydantic import SecretStr

from api.auth import AUTHENTICATOR, Authenticator, sha256_hash
from api.errors import body_timeout, error_middleware
from api.keys import SERVICE, SETTINGS, SIGNER
from api.routes import add_routes
from recorder.database import open_database
from recorder.service import RecordingService
from recorder.settings import ClientSettings, Role, Settings
from recorder.signing import UrlSigner
from recorder.sql_repository import SqlRepository

logger = logging.getLogger(__name__)


def _kept_secret(path: Path) -> str:
    """A random secret kept in `path` (made on first use, readable by this user only)."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as file:
            file.write(secrets.token_urlsafe(32))
    return path.read_text().strip()


def _key(configured: SecretStr | None, path: Path) -> bytes:
    return (configured.get_secret_value() if configured is not None else _kept_secret(path)).encode()


def _clients(settings: Settings) -> list[ClientSettings]:
    """The configured clients; with no clients and no API keys, the demo client (every role, organization
    `demo`), whose secret is in <data_dir>/demo-client-secret."""
    if settings.clients or settings.api_keys:
        return settings.clients
    path = settings.data_dir / "demo-client-secret"
    secret = _kept_secret(path)
    logger.info("demo client: client_id demo, its secret is in %s", path)
    demo = {"id": "demo", "secret_hash": sha256_hash(secret), "organization_id": "demo", "roles": list(Role)}
    return [ClientSettings.model_validate(demo)]


def _database_url(settings: Settings) -> str | None:
    return settings.database_url.get_secret_value() if settings.database_url is not None else None


def create_app(settings: Settings) -> web.Application:
    app = web.Application(
        middlewares=[error_middleware, body_timeout(settings.request_body_timeout_seconds)],
        client_max_size=settings.max_body_bytes,
    )
    app[SETTINGS] = settings
    app[SIGNER] = UrlSigner(
        _key(settings.url_signing_key, settings.data_dir / "url-signing.key"), settings.url_ttl_seconds
    )
    token_key = _key(settings.token_signing_key, settings.data_dir / "token-signing.key")
    app[AUTHENTICATOR] = Authenticator(settings, token_key, _clients(settings))
    credentials_key = _key(settings.storage_credentials_key, settings.data_dir / "storage-credentials.key")

    async def resources(app: web.Application) -> AsyncIterator[None]:
        database = await open_database(_database_url(settings), settings.database)
        async with (
            await SqlRepository.open(database) as repository,
            aiohttp.ClientSession() as http,
            RecordingService(settings, repository, database, http, credentials_key) as service,
        ):
            app[SERVICE] = service
            yield

    app.cleanup_ctx.append(resources)
    add_routes(app)
    return app
