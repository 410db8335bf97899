"""GoogleCloudStorage: a Google Cloud Storage bucket, through google-cloud-storage (run in threads).

Why google-cloud-storage and not gcloud-aio-storage: its resumable upload goes up in `chunkSizeBytes` pieces and
resumes from the last piece the server has, where gcloud-aio-storage sends the whole file in one PUT and starts
over; and it signs v4 URLs offline with the service account's key for any endpoint, where gcloud-aio-storage
hard-codes storage.googleapis.com. The price is a thread per call, bounded by the upload workers.

Links are v4 signed URLs made offline from the service account's private key.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from pathlib import Path

import requests
from google.api_core import exceptions as api
from google.auth import exceptions as auth
from google.auth.credentials import AnonymousCredentials
from google.auth.transport.requests import AuthorizedSession, Request
from google.cloud import storage
from google.oauth2 import service_account

from storage_providers.base import (
    CHUNK,
    DestinationError,
    ObjectNotFoundError,
    StorageError,
    StorageProvider,
    StoredObject,
    TransientStorageError,
)
from storage_providers.guard import REFUSED, Guard, GuardedAdapter, refused
from storage_providers.settings import GoogleCloudStorageSettings

logger = logging.getLogger(__name__)

_TIMEOUT = (10, 120)  # connect, read (seconds)


class GoogleCloudStorage(StorageProvider):
    provider = "GOOGLE_CLOUD"

    def __init__(self, settings: GoogleCloudStorageSettings, guard: Guard | None = None) -> None:
        try:
            info = json.loads(settings.credentials.service_account_key.get_secret_value())
            self._signer = service_account.Credentials.from_service_account_info(info)  # type: ignore[no-untyped-call]
        except (ValueError, KeyError) as exc:
            raise DestinationError(f"the service account key is not a valid key file ({type(exc).__name__})") from None
        self._endpoint = settings.endpoint_url.rstrip("/") if settings.endpoint_url else None
        self._bucket_name = settings.bucket
        self._chunk = settings.chunk_size_bytes
        self.url = f"gs://{settings.bucket}"
        credentials = AnonymousCredentials() if self._endpoint else self._signer  # type: ignore[no-untyped-call]
        http: requests.Session | None = None
        if guard is not None:  # every connection (redirects and token refreshes too) to an address the policy admitted
            refresh = requests.Session()
            http = AuthorizedSession(credentials, auth_request=Request(refresh))  # type: ignore[no-untyped-call]
            for session in (http, refresh):
                session.mount("https://", GuardedAdapter(guard))
                session.mount("http://", GuardedAdapter(guard))
        self._client = storage.Client(
            project=info.get("project_id"),
            credentials=credentials,
            client_options={"api_endpoint": self._endpoint} if self._endpoint else None,
            _http=http,
        )
        self._bucket = self._client.bucket(settings.bucket)

    @contextlib.contextmanager
    def _errors(self, action: str, key: str | None = None) -> Iterator[None]:
        """The SDK's errors as ours, in our words: never the remote's text (its body) or the socket's."""
        where = f"{self._bucket_name}/{key}" if key else f"bucket {self._bucket_name}"
        host = self._endpoint or "storage.googleapis.com"
        try:
            yield
        except api.NotFound as exc:
            if key is not None and "bucket" not in str(exc.message).lower():
                raise ObjectNotFoundError(f"{action} {where}: no such object") from exc
            raise DestinationError(f"{action} {where}: the bucket does not exist") from exc
        except (api.Unauthorized, api.Forbidden) as exc:
            raise DestinationError(
                f"{action} {where}: HTTP {exc.code} (the service account lacks the permission)"
            ) from exc
        except api.GoogleAPICallError as exc:
            logger.info("GCS %s %s: HTTP %s %s", action, where, exc.code, exc.message)
            detail = f"{action} {where}: HTTP {exc.code}"
            if exc.code is None or exc.code >= 500 or exc.code in (408, 429):
                raise TransientStorageError(detail) from exc
            raise DestinationError(detail) from exc
        except auth.RefreshError as exc:
            raise DestinationError(f"{action} {where}: the service account key was refused") from exc
        except (requests.ConnectionError, requests.Timeout, auth.TransportError, OSError, TimeoutError) as exc:
            if refused(exc):
                raise DestinationError(f"{action} {where}: {host}: {REFUSED}") from exc
            logger.info("GCS %s %s: %s did not answer: %r", action, where, host, exc)
            raise TransientStorageError(f"{action} {where}: {host} did not answer") from exc
        except (api.GoogleAPIError, requests.RequestException, ValueError) as exc:
            logger.info("GCS %s %s: %r", action, where, exc)
            raise StorageError(f"{action} {where}: the GCS client failed ({type(exc).__name__})") from exc

    async def upload(self, source: Path, key: str) -> None:
        blob = self._bucket.blob(key, chunk_size=self._chunk)  # chunk_size: a resumable upload
        with self._errors("upload to", key):
            await asyncio.to_thread(blob.upload_from_filename, str(source), timeout=_TIMEOUT, retry=None)

    async def stat(self, key: str) -> StoredObject | None:
        try:
            with self._errors("look up", key):
                blob = await asyncio.to_thread(self._bucket.get_blob, key, timeout=_TIMEOUT, retry=None)
        except ObjectNotFoundError:
            return None
        if blob is None:
            return None
        md5 = base64.b64decode(blob.md5_hash).hex() if blob.md5_hash else None
        generation = str(blob.generation) if blob.generation else None
        return StoredObject(key, int(blob.size or 0), md5, generation)

    async def read_range(self, key: str, start: int = 0, end: int | None = None) -> AsyncIterator[bytes]:
        blob = self._bucket.blob(key)
        position = start
        while end is None or position < end:
            last = position + CHUNK - 1 if end is None else min(position + CHUNK, end) - 1
            with self._errors("read", key):
                try:
                    piece = await asyncio.to_thread(
                        blob.download_as_bytes, start=position, end=last, timeout=_TIMEOUT, retry=None
                    )
                except api.RequestRangeNotSatisfiable:
                    return  # past the end of a non-empty object
            if piece:
                yield piece
            if len(piece) < last - position + 1:
                return  # a short piece: the object ended
            position += len(piece)

    async def signed_url(self, key: str, ttl: timedelta) -> str | None:
        with self._errors("sign", key):
            url: str = self._bucket.blob(key).generate_signed_url(
                expiration=ttl,
                method="GET",
                version="v4",
                credentials=self._signer,
                api_access_endpoint=self._endpoint or "https://storage.googleapis.com",
            )
        return url

    async def delete(self, key: str) -> None:
        with contextlib.suppress(ObjectNotFoundError), self._errors("delete", key):
            await asyncio.to_thread(self._bucket.delete_blob, key, timeout=_TIMEOUT, retry=None)

    async def hold(self, key: str, on: bool, version: str | None = None) -> bool:
        """GCS's temporary hold on the object (its live generation: a held one cannot be replaced); False when
        the server does not keep it (its answer says)."""

        def patch() -> bool:
            blob = self._bucket.blob(key)
            blob.temporary_hold = on
            blob.patch(timeout=_TIMEOUT, retry=None)
            return blob.temporary_hold is on  # (a server without holds answers no field: None)

        with self._errors("hold", key):
            return await asyncio.to_thread(patch)

    async def check_destination(self) -> str:
        with self._errors("reach"):
            await asyncio.to_thread(self._client.get_bucket, self._bucket_name, timeout=_TIMEOUT, retry=None)
        return f"bucket {self._bucket_name} exists and the service account can reach it"

    async def aclose(self) -> None:
        await asyncio.to_thread(self._client.close)
