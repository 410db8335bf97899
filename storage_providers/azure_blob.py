"""AzureBlobStorage: a container of an Azure Storage account, through azure-storage-blob's asyncio client.

Files above `singlePutBytes` are staged as blocks of `blockSizeBytes` (each checked by the service against its
MD5) and committed as one block list; links carry a read-only SAS.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
from azure.core.exceptions import (
    AzureError,
    ClientAuthenticationError,
    HttpResponseError,
    ResourceNotFoundError,
    ServiceRequestError,
    ServiceResponseError,
)
from azure.core.pipeline.transport import AioHttpTransport
from azure.storage.blob import BlobSasPermissions, generate_blob_sas
from azure.storage.blob.aio import BlobServiceClient, ExponentialRetry

from storage_providers.base import (
    DestinationError,
    ObjectNotFoundError,
    StorageError,
    StorageProvider,
    StoredObject,
    TransientStorageError,
)
from storage_providers.guard import REFUSED, Guard, GuardedResolver, endpoint_host_port, refused
from storage_providers.settings import AzureBlobStorageSettings

logger = logging.getLogger(__name__)


class AzureBlobStorage(StorageProvider):
    provider = "AZURE_BLOB"

    def __init__(self, settings: AzureBlobStorageSettings, guard: Guard | None = None) -> None:
        self._guard = guard
        self._account = settings.account_name
        self._key = settings.credentials.account_key.get_secret_value()
        endpoint = (settings.endpoint_url or f"https://{settings.account_name}.blob.core.windows.net").rstrip("/")
        self._host = endpoint
        self._container_name = settings.container
        self.url = f"{endpoint}/{settings.container}"
        self._service = BlobServiceClient(
            endpoint,
            credential={"account_name": self._account, "account_key": self._key},
            max_block_size=settings.block_size_bytes,
            max_single_put_size=settings.single_put_bytes,
            # a block is retried after 1 s and 3 s (the SDK's default waits 15 s and 60 s); the upload jobs
            # retry whole files with their own, longer backoff
            retry_policy=ExponentialRetry(initial_backoff=1, increment_base=2, retry_total=2, random_jitter_range=1),
            connection_timeout=10,
            read_timeout=60,
            permit_redirects=False,
            **({"transport": AioHttpTransport(session=_guarded_session(guard), session_owner=True)} if guard else {}),
        )
        self._container = self._service.get_container_client(settings.container)

    @contextlib.contextmanager
    def _errors(self, action: str, key: str | None = None) -> Iterator[None]:
        where = f"{self._container_name}/{key}" if key else f"container {self._container_name}"
        try:
            if self._guard is not None:
                self._guard.check_literal(*endpoint_host_port(self._host))
            yield
        except ResourceNotFoundError as exc:
            if key is not None and getattr(exc, "error_code", None) == "BlobNotFound":
                raise ObjectNotFoundError(f"{action} {where}: no such blob") from exc
            raise DestinationError(
                f"{action} {where}: {_code(exc) or 'HTTP 404'} (the container does not exist)"
            ) from exc
        except ClientAuthenticationError as exc:
            raise DestinationError(
                f"{action} {where}: {_code(exc) or 'HTTP 403'} (the account key is wrong or lacks the permission)"
            ) from exc
        except HttpResponseError as exc:
            detail = f"{action} {where}: HTTP {exc.status_code} {_code(exc)}".rstrip()
            if exc.status_code is not None and (exc.status_code >= 500 or exc.status_code in (408, 429)):
                raise TransientStorageError(detail) from exc
            if exc.status_code in (401, 403):
                detail += " (the account key is wrong or lacks the permission)"
            raise DestinationError(detail) from exc
        except (ServiceRequestError, ServiceResponseError, OSError, TimeoutError) as exc:
            if refused(exc):
                raise DestinationError(f"{action} {where}: {self._host}: {REFUSED}") from exc
            logger.info("Azure %s %s: %s did not answer: %r", action, where, self._host, exc)
            raise TransientStorageError(f"{action} {where}: {self._host} did not answer") from exc
        except AzureError as exc:
            logger.info("Azure %s %s: %r", action, where, exc)
            raise StorageError(f"{action} {where}: the Azure client failed ({type(exc).__name__})") from exc

    async def upload(self, source: Path, key: str) -> None:
        blob = self._container.get_blob_client(key)
        size = (await asyncio.to_thread(source.stat)).st_size
        with self._errors("upload to", key), source.open("rb") as file:
            await blob.upload_blob(file, overwrite=True, length=size, validate_content=True, max_concurrency=4)

    async def stat(self, key: str) -> StoredObject | None:
        try:
            with self._errors("look up", key):
                properties = await self._container.get_blob_client(key).get_blob_properties()
        except ObjectNotFoundError:
            return None
        md5 = properties.content_settings.content_md5
        version = getattr(properties, "version_id", None)
        return StoredObject(key, int(properties.size), bytes(md5).hex() if md5 else None, version)

    async def read_range(self, key: str, start: int = 0, end: int | None = None) -> AsyncIterator[bytes]:
        blob = self._container.get_blob_client(key)
        with self._errors("read", key):
            downloader = await blob.download_blob(offset=start, length=None if end is None else end - start)
            async for piece in downloader.chunks():
                yield piece

    async def signed_url(self, key: str, ttl: timedelta) -> str | None:
        sas = generate_blob_sas(
            self._account,
            self._container_name,
            key,
            account_key=self._key,
            permission=BlobSasPermissions(read=True),
            expiry=datetime.now(UTC) + ttl,
        )
        return f"{self._container.get_blob_client(key).url}?{sas}"

    async def delete(self, key: str) -> None:
        with contextlib.suppress(ObjectNotFoundError), self._errors("delete", key):
            await self._container.get_blob_client(key).delete_blob()

    async def hold(self, key: str, on: bool, version: str | None = None) -> bool:
        """Azure's legal hold on the blob version (its container needs version-level immutability)."""
        with self._errors("hold", key):
            try:
                await self._container.get_blob_client(key, version_id=version).set_legal_hold(on)
            except HttpResponseError as exc:
                if exc.status_code in (400, 405, 409, 501) and not isinstance(exc, ResourceNotFoundError):
                    logger.info("Azure hold %s/%s: not supported here: %s", self._container_name, key, _code(exc))
                    return False
                raise  # (in our words, by `_errors`)
        return True

    async def check_destination(self) -> str:
        with self._errors("reach"):
            await self._container.get_container_properties()
        return f"container {self._container_name} exists at {self._host}"

    async def aclose(self) -> None:
        await self._service.close()


def _code(exc: AzureError) -> str:
    """Azure's error code (a word such as AuthenticationFailed); never the remote's message."""
    code = str(getattr(exc, "error_code", None) or "")
    return code if re.fullmatch(r"[A-Za-z]{1,64}", code) else ""


def _guarded_session(guard: Guard) -> aiohttp.ClientSession:
    return aiohttp.ClientSession(connector=aiohttp.TCPConnector(resolver=GuardedResolver(guard)), trust_env=False)
