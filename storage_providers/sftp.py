"""SftpStorage: a folder on an SFTP server, through asyncssh.

The server's host key is pinned in the profile and nothing else is trusted (no known_hosts file, no SSH
config, no agent). A file goes up under a temporary name and is renamed into place, so a reader never sees
half of it. SFTP has no URLs: the service hands out its own signed links and streams them from here.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import posixpath
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path

import asyncssh

from storage_providers.base import (
    CHUNK,
    DestinationError,
    ObjectNotFoundError,
    StorageError,
    StorageProvider,
    StoredObject,
    TransientStorageError,
)
from storage_providers.guard import REFUSED, Guard, refused
from storage_providers.settings import SftpStorageSettings

logger = logging.getLogger(__name__)


class SftpStorage(StorageProvider):
    provider = "SFTP_STORAGE"

    def __init__(self, settings: SftpStorageSettings, guard: Guard | None = None) -> None:
        self._settings = settings
        self._guard = guard
        self._host = f"{settings.host}:{settings.port}"
        self._root = settings.path.rstrip("/") or "/"
        self.url = f"sftp://{settings.username}@{self._host}/{self._root.lstrip('/')}"
        try:
            self._host_key = asyncssh.import_public_key(settings.host_key)
            key = settings.credentials.private_key
            passphrase = settings.credentials.passphrase
            secret = passphrase.get_secret_value() if passphrase else None
            self._client_keys = [asyncssh.import_private_key(key.get_secret_value(), secret)] if key else []
        except (asyncssh.KeyImportError, ValueError) as exc:
            raise DestinationError(f"a key of the SFTP profile cannot be read: {exc}") from None
        self._lock = asyncio.Lock()
        self._connection: asyncssh.SSHClientConnection | None = None
        self._sftp_client: asyncssh.SFTPClient | None = None

    def _path(self, key: str) -> str:
        parts = key.split("/")
        if not key or key.startswith("/") or any(p in ("", ".", "..") for p in parts):
            raise StorageError(f"invalid key {key!r}")
        return posixpath.join(self._root, key)

    @contextlib.contextmanager
    def _errors(self, action: str, key: str | None = None) -> Iterator[None]:
        where = self._path(key) if key else self._root
        try:
            yield
        except asyncssh.SFTPNoSuchFile as exc:
            if key is not None:
                raise ObjectNotFoundError(f"{action} {where}: no such file") from exc
            raise DestinationError(f"{action} {where}: the folder does not exist on {self._host}") from exc
        except asyncssh.SFTPPermissionDenied as exc:
            raise DestinationError(f"{action} {where}: permission denied on {self._host}") from exc
        except asyncssh.HostKeyNotVerifiable as exc:
            raise DestinationError(f"{self._host} did not present the pinned host key ({exc.reason})") from exc
        except asyncssh.PermissionDenied as exc:
            raise DestinationError(f"{self._host} refused the login of {self._settings.username}") from exc
        except asyncssh.SFTPError as exc:
            logger.info("SFTP %s %s: %s", action, where, exc.reason)
            raise StorageError(f"{action} {where}: the SFTP server failed it ({type(exc).__name__})") from exc
        except (asyncssh.Error, OSError, TimeoutError) as exc:
            if refused(exc):
                raise DestinationError(f"{action} {where}: {self._settings.host}: {REFUSED}") from exc
            logger.info("SFTP %s %s: %s did not answer: %r", action, where, self._host, exc)
            raise TransientStorageError(f"{action} {where}: {self._host} did not answer") from exc

    async def _client(self) -> asyncssh.SFTPClient:
        """One SSH connection and one SFTP channel, shared by every operation (SFTP runs many requests at
        once over one channel; OpenSSH limits unauthenticated connections and channels per connection)."""
        async with self._lock:
            if self._connection is None or self._connection.is_closed() or self._sftp_client is None:
                self._drop()
                credentials = self._settings.credentials
                host = self._settings.host
                if self._guard is not None:  # connect to the address the outbound policy admitted
                    host = (await self._guard.addresses(host, self._settings.port))[0]
                self._connection = await asyncssh.connect(
                    host,
                    self._settings.port,
                    username=self._settings.username,
                    password=credentials.password.get_secret_value() if credentials.password else None,
                    client_keys=self._client_keys,
                    known_hosts=([self._host_key], [], []),
                    config=[],
                    agent_path=None,
                    connect_timeout=self._settings.connect_timeout_seconds,
                )
                self._sftp_client = await self._connection.start_sftp_client()
            return self._sftp_client

    def _drop(self) -> None:
        if self._connection is not None:
            self._connection.close()
        self._connection, self._sftp_client = None, None

    @asynccontextmanager
    async def _sftp(self, action: str, key: str | None = None) -> AsyncIterator[asyncssh.SFTPClient]:
        with self._errors(action, key):
            try:
                yield await self._client()
            except (asyncssh.DisconnectError, asyncssh.ConnectionLost, asyncssh.ChannelOpenError, OSError):
                self._drop()  # the next operation connects again
                raise

    async def upload(self, source: Path, key: str) -> None:
        target = self._path(key)
        partial = f"{target}.partial"
        async with self._sftp("upload to", key) as sftp:
            await sftp.makedirs(posixpath.dirname(target), exist_ok=True)
            await sftp.put(str(source), partial)
            await sftp.posix_rename(partial, target)

    async def stat(self, key: str) -> StoredObject | None:
        try:
            async with self._sftp("look up", key) as sftp:
                attributes = await sftp.stat(self._path(key))
        except ObjectNotFoundError:
            return None
        return StoredObject(key, int(attributes.size or 0))

    async def read_range(self, key: str, start: int = 0, end: int | None = None) -> AsyncIterator[bytes]:
        async with self._sftp("read", key) as sftp, sftp.open(self._path(key), "rb") as file:
            await file.seek(start)
            position = start
            while end is None or position < end:
                piece = await file.read(CHUNK if end is None else min(CHUNK, end - position))
                if not isinstance(piece, bytes) or not piece:
                    return
                position += len(piece)
                yield piece

    async def signed_url(self, key: str, ttl: timedelta) -> str | None:
        return None

    async def delete(self, key: str) -> None:
        with contextlib.suppress(ObjectNotFoundError):
            async with self._sftp("delete", key) as sftp:
                await sftp.remove(self._path(key))

    async def check_destination(self) -> str:
        async with self._sftp("reach") as sftp:
            if not await sftp.isdir(self._root):
                raise DestinationError(f"{self._root} is not a folder on {self._host}")
        return f"{self._root} is a folder on {self._host}"

    async def aclose(self) -> None:
        self._drop()
