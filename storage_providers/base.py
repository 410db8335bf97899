"""The StorageProvider port: where finished files are kept.

Errors (raised by every adapter, translated once from the SDK's own)::

    StorageError                the operation did not happen
    ├── DestinationError        the application's destination refused: bad credentials, a missing bucket or
    │                           container, no permission. Retrying will not help until its owner fixes it.
    ├── TransientStorageError   the destination did not answer or failed on its side (connection refused,
    │                           timeout, 5xx): retry later.
    └── ObjectNotFoundError     the key is not there
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import tempfile
import time
import uuid
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from types import TracebackType


class StorageError(Exception):
    """The application's storage refused or failed an operation."""

    code = "STORAGE_FAILED"
    retryable = False

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class DestinationError(StorageError):
    code = "STORAGE_DESTINATION_REFUSED"


class TransientStorageError(StorageError):
    code = "STORAGE_UNAVAILABLE"
    retryable = True


class ObjectNotFoundError(StorageError):
    code = "STORAGE_OBJECT_NOT_FOUND"


@dataclass(frozen=True)
class CheckResult:
    passed: bool
    message: str


@dataclass(frozen=True)
class Throughput:
    """The throughput probe: a payload uploaded then downloaded; the slower direction's speed decides."""

    passed: bool
    message: str
    bytes_transferred: int = 0  # up and down
    duration_millis: int = 0  # both
    mbps: float = 0.0  # the slower direction, Mbit/s

    @classmethod
    def not_run(cls, failed: str) -> Throughput:
        return cls(False, f"not run: the {failed} test failed")


@dataclass(frozen=True)
class Verification:
    """The checks of a storage profile, each with a message a person can act on."""

    bucket: CheckResult
    write: CheckResult
    read: CheckResult
    modify: CheckResult
    delete: CheckResult
    throughput: Throughput


@dataclass(frozen=True)
class StoredObject:
    location: str  # where the object is, in the provider's own terms (never with credentials)
    size: int
    md5: str | None = None  # hex MD5 of the whole object, when the backend reports one
    version: str | None = None  # the object's version (S3 VersionId, Azure version id, GCS generation), if any


CHUNK = 1 << 20  # bytes per piece when reading an object
_CHECKS = ("bucket", "write", "read", "modify", "delete")


class StorageProvider(ABC):
    provider: str  # the wire name (AMAZON_S3, AZURE_BLOB, GOOGLE_CLOUD, SFTP_STORAGE, LOCAL_STORAGE)
    url: str  # where the profile points, never with credentials

    @abstractmethod
    async def upload(self, source: Path, key: str) -> None:
        """Copy the local file `source` to `key` (replacing it); return once the destination has it all."""

    @abstractmethod
    async def stat(self, key: str) -> StoredObject | None:
        """The object at `key`, or None when there is none."""

    @abstractmethod
    def read_range(self, key: str, start: int = 0, end: int | None = None) -> AsyncIterator[bytes]:
        """The bytes [start, end) of the object, in pieces. Raises ObjectNotFoundError."""

    @abstractmethod
    async def signed_url(self, key: str, ttl: timedelta) -> str | None:
        """A URL that downloads `key` without credentials until `ttl` has passed; None when the provider has
        no URLs of its own and the service hands out (and serves) its own signed links."""

    @abstractmethod
    async def delete(self, key: str) -> None:
        """Delete `key`; nothing happens when it is not there."""

    async def hold(self, key: str, on: bool, version: str | None = None) -> bool:
        """Set (or clear) the storage's own legal hold on `key` (its `version` where the storage keeps versions),
        which keeps anyone from deleting or overwriting it; False when this storage has none (then only the
        recorder's own hold applies)."""
        return False

    @abstractmethod
    async def check_destination(self) -> str:
        """Check that the bucket, container or folder exists and can be reached; return what was found."""

    def local_path(self, key: str) -> Path | None:
        """The file behind `key` when it is on this machine (served with sendfile); None otherwise."""
        return None

    async def read(self, key: str) -> bytes:
        return b"".join([piece async for piece in self.read_range(key)])

    async def verify(self, probe_bytes: int = 1 << 20, min_mbps: float = 5.0) -> Verification:
        """Check the destination: it exists, and an object can be written, read, modified and deleted; then,
        when all of that passed, how fast it takes and gives `probe_bytes` (at least `min_mbps` both ways).
        Leaves no test object behind."""
        key = f".recorder-verify-{uuid.uuid4()}"
        original, modified = b"recorder verification", b"recorder verification, modified"
        results: list[CheckResult] = []

        async def check(action: str, step: Callable[[], Awaitable[str]]) -> None:
            if results and not results[-1].passed:
                results.append(CheckResult(False, f"not run: the {action} test needs the tests before it"))
                return
            try:
                results.append(CheckResult(True, await step()))
            except StorageError as exc:
                results.append(CheckResult(False, f"{action} failed: {exc.message}"))
            except Exception as exc:  # a profile the SDK cannot even send (e.g. a name it refuses): the answer says so
                results.append(CheckResult(False, f"{action} failed: the client failed ({type(exc).__name__})"))

        async def write() -> str:
            await self.upload_bytes(original, key)
            return f"wrote {key}"

        async def read_back(data: bytes, done: str) -> str:
            if await self.read(key) != data:
                raise StorageError(f"{key} read back different bytes")
            return done

        async def modify() -> str:
            await self.upload_bytes(modified, key)
            return await read_back(modified, f"replaced {key} and read the change back")

        async def delete() -> str:
            await self.delete(key)
            if await self.stat(key) is not None:
                raise StorageError(f"{key} is still there after it was deleted")
            return f"deleted {key}"

        try:
            await check("bucket", self.check_destination)
            await check("write", write)
            await check("read", lambda: read_back(original, f"read {key} back"))
            await check("modify", modify)
            await check("delete", delete)
        finally:
            if len(results) < 5 or not results[-1].passed:
                with contextlib.suppress(Exception):  # best effort: the failed test already says why
                    await self.delete(key)
        failed = next((name for name, r in zip(_CHECKS, results, strict=True) if not r.passed), None)
        throughput = Throughput.not_run(failed) if failed else await self._probe(probe_bytes, min_mbps)
        return Verification(results[0], results[1], results[2], results[3], results[4], throughput)

    async def _probe(self, size: int, min_mbps: float) -> Throughput:
        key = f".recorder-throughput-{uuid.uuid4()}"
        payload = os.urandom(size)  # incompressible
        try:
            started = time.perf_counter()
            await self.upload_bytes(payload, key)
            uploaded = time.perf_counter()
            same = await self.read(key) == payload
            downloaded = time.perf_counter()
        except StorageError as exc:
            return Throughput(False, f"the throughput probe failed: {exc.message}")
        except Exception as exc:
            return Throughput(False, f"the throughput probe failed: the client failed ({type(exc).__name__})")
        finally:
            with contextlib.suppress(Exception):  # best effort: the probe's result already says what failed
                await self.delete(key)
        if not same:
            return Throughput(False, f"the throughput probe read back different bytes from {key}")
        up, down = (size * 8 / 1e6 / max(seconds, 1e-6) for seconds in (uploaded - started, downloaded - uploaded))
        mbps = round(min(up, down), 2)
        message = f"Upload {up:.1f} Mbps, Download {down:.1f} Mbps"
        if mbps < min_mbps:
            message += f": below the {min_mbps:g} Mbps needed"
        duration = round((downloaded - started) * 1000)
        return Throughput(mbps >= min_mbps, message, 2 * size, duration, mbps)

    async def upload_bytes(self, data: bytes, key: str) -> None:
        with tempfile.TemporaryDirectory() as directory:
            source = Path(directory) / "object"
            await asyncio.to_thread(source.write_bytes, data)
            await self.upload(source, key)

    async def aclose(self) -> None:
        return None

    async def __aenter__(self) -> StorageProvider:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()
