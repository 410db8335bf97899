"""S3Storage: Amazon S3 or an S3-compatible service, through aioboto3.

Files above `multipartThresholdBytes` go up as a multipart upload (aioboto3's managed transfer, which aborts
the upload when a part fails); links are presigned GETs.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack
from datetime import timedelta
from pathlib import Path
from typing import Any

import aioboto3
import aiohttp
from aiobotocore.config import AioConfig
from boto3.s3.transfer import TransferConfig
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionError,
    HTTPClientError,
    NoCredentialsError,
)

from storage_providers.base import (
    CHUNK,
    DestinationError,
    ObjectNotFoundError,
    StorageError,
    StorageProvider,
    StoredObject,
    TransientStorageError,
)
from storage_providers.guard import REFUSED, Guard, GuardedResolver, endpoint_host_port, refused
from storage_providers.settings import S3StorageSettings

logger = logging.getLogger(__name__)

_NOT_FOUND = frozenset({"NoSuchKey", "404", "NotFound"})
_TRANSIENT = frozenset({"SlowDown", "RequestTimeout", "ServiceUnavailable", "InternalError", "Throttling"})
_HINTS = {
    "InvalidAccessKeyId": "the access key id is not known to the server",
    "SignatureDoesNotMatch": "the secret access key is wrong",
    "AccessDenied": "the credentials lack the permission",
    "NoSuchBucket": "the bucket does not exist",
    "403": "the credentials lack the permission (or are wrong)",
}

# a bucket (or a server) without Object Lock answers these to a legal hold
_NO_OBJECT_LOCK = frozenset(
    {
        "InvalidRequest",
        "NotImplemented",
        "ObjectLockConfigurationNotFoundError",
        "InvalidBucketState",
        "NoSuchObjectLockConfiguration",
    }
)


class S3Storage(StorageProvider):
    provider = "AMAZON_S3"

    def __init__(self, settings: S3StorageSettings, guard: Guard | None = None) -> None:
        self._settings = settings
        self._guard = guard
        self._bucket = settings.bucket
        self._endpoint = settings.endpoint_url
        self.url = (
            f"{settings.endpoint_url.rstrip('/')}/{settings.bucket}"
            if settings.endpoint_url
            else (f"s3://{settings.bucket}")
        )
        credentials = settings.credentials
        self._session = aioboto3.Session(
            aws_access_key_id=credentials.access_key_id.get_secret_value() if credentials else None,
            aws_secret_access_key=credentials.secret_access_key.get_secret_value() if credentials else None,
            aws_session_token=(
                credentials.session_token.get_secret_value() if credentials and credentials.session_token else None
            ),
            region_name=settings.region,
        )
        self._config = AioConfig(
            s3={"addressing_style": "path"} if settings.endpoint_url else None,
            retries={"max_attempts": 2, "mode": "standard"},  # the upload jobs retry with their own backoff
            connect_timeout=10,
            read_timeout=60,
            signature_version="s3v4",
            connector_args={"resolver": GuardedResolver(guard)} if guard is not None else None,
        )
        self._transfer = TransferConfig(
            multipart_threshold=settings.multipart_threshold_bytes,
            multipart_chunksize=settings.part_size_bytes,
            max_concurrency=settings.part_concurrency,
        )
        self._stack = AsyncExitStack()
        self._client: Any = None
        self._lock = asyncio.Lock()

    async def _s3(self) -> Any:
        async with self._lock:
            if self._client is None:
                if self._guard is not None and self._endpoint:
                    host, port = endpoint_host_port(self._endpoint)
                    try:
                        self._guard.check_literal(host, port)
                    except OSError:
                        raise DestinationError(f"{host}: {REFUSED}") from None
                try:
                    self._client = await self._stack.enter_async_context(
                        self._session.client("s3", endpoint_url=self._endpoint, config=self._config)
                    )
                except (BotoCoreError, ValueError) as exc:  # e.g. a region or endpoint that is no such thing
                    raise DestinationError(f"the S3 profile cannot be used: {exc}") from exc
            return self._client

    @contextlib.contextmanager
    def _errors(self, action: str, key: str | None = None) -> Iterator[None]:
        """The SDK's errors as ours, in our words: never the remote's text (its body) or the socket's."""
        where = f"{self._bucket}/{key}" if key else f"bucket {self._bucket}"
        try:
            yield
        except ClientError as exc:
            error = exc.response.get("Error", {})
            code = str(error.get("Code", ""))
            status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0))
            logger.info("S3 %s %s: %s %s", action, where, code or status, error.get("Message") or "")
            known = code if code in _HINTS or code in _TRANSIENT or code in _NOT_FOUND else ""
            detail = f"{action} {where}: {known or f'HTTP {status}'}"
            hint = _HINTS.get(code) or ("the bucket does not exist" if status == 404 and key is None else None)
            if hint:
                detail += f" ({hint})"
            if status >= 500 or code in _TRANSIENT:
                raise TransientStorageError(detail) from exc
            if key is not None and (code in _NOT_FOUND or status == 404):
                raise ObjectNotFoundError(detail) from exc
            raise DestinationError(detail) from exc
        except NoCredentialsError as exc:
            raise DestinationError(f"{action} {where}: no credentials configured") from exc
        except (ConnectionError, HTTPClientError, aiohttp.ClientError, OSError, TimeoutError) as exc:
            host = self._endpoint or "S3"
            if refused(exc):
                raise DestinationError(f"{action} {where}: {host}: {REFUSED}") from exc
            logger.info("S3 %s %s: %s did not answer: %r", action, where, host, exc)
            raise TransientStorageError(f"{action} {where}: {host} did not answer") from exc
        except BotoCoreError as exc:
            logger.info("S3 %s %s: %r", action, where, exc)
            raise StorageError(f"{action} {where}: the S3 client failed ({type(exc).__name__})") from exc

    async def upload(self, source: Path, key: str) -> None:
        s3 = await self._s3()
        with self._errors("upload to", key):
            await s3.upload_file(str(source), self._bucket, key, Config=self._transfer)

    async def stat(self, key: str) -> StoredObject | None:
        s3 = await self._s3()
        try:
            with self._errors("look up", key):
                head = await s3.head_object(Bucket=self._bucket, Key=key)
        except ObjectNotFoundError:
            return None
        etag = str(head.get("ETag", "")).strip('"')
        md5 = etag if len(etag) == 32 and "-" not in etag else None  # a multipart ETag is not an MD5
        version = head.get("VersionId")
        return StoredObject(key, int(head["ContentLength"]), md5, str(version) if version else None)

    async def read_range(self, key: str, start: int = 0, end: int | None = None) -> AsyncIterator[bytes]:
        s3 = await self._s3()
        span = f"bytes={start}-{'' if end is None else end - 1}"
        with self._errors("read", key):
            answer = await s3.get_object(Bucket=self._bucket, Key=key, Range=span)
            body = answer["Body"]
            try:
                async for piece in body.iter_chunks(CHUNK):
                    yield piece
            finally:
                body.close()

    async def signed_url(self, key: str, ttl: timedelta) -> str | None:
        s3 = await self._s3()
        with self._errors("sign", key):
            url: str = await s3.generate_presigned_url(
                "get_object", Params={"Bucket": self._bucket, "Key": key}, ExpiresIn=int(ttl.total_seconds())
            )
        return url

    async def delete(self, key: str) -> None:
        s3 = await self._s3()
        with self._errors("delete", key):
            await s3.delete_object(Bucket=self._bucket, Key=key)

    async def hold(self, key: str, on: bool, version: str | None = None) -> bool:
        """S3 Object Lock legal hold on the version stored (the bucket must have been made with Object Lock)."""
        s3 = await self._s3()
        which = {"VersionId": version} if version else {}
        legal_hold = {"Status": "ON" if on else "OFF"}
        with self._errors("hold", key):
            try:
                if not on:  # (some servers take OFF where no hold could ever be set: ask first whether one can)
                    await s3.get_object_legal_hold(Bucket=self._bucket, Key=key, **which)
                await s3.put_object_legal_hold(Bucket=self._bucket, Key=key, LegalHold=legal_hold, **which)
            except ClientError as exc:
                code = str(exc.response.get("Error", {}).get("Code", ""))
                status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0))
                if code in _NO_OBJECT_LOCK or status in (405, 501):
                    return False
                raise  # (in our words, by `_errors`)
        return True

    async def check_destination(self) -> str:
        s3 = await self._s3()
        try:
            with self._errors("reach"):
                await s3.head_bucket(Bucket=self._bucket)
        except DestinationError:
            # HEAD answers a bare 403 or 404; a listing's error has a code and a message that say why
            with self._errors("reach"):
                await s3.list_objects_v2(Bucket=self._bucket, MaxKeys=1)
            raise
        return f"bucket {self._bucket} exists and the credentials can reach it"

    async def aclose(self) -> None:
        await self._stack.aclose()
        self._client = None
