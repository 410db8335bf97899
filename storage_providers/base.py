"""The StorageProvider port: where finished files are kept.

Errors::

    StorageError            the application's destination failed (not us): keep the local file, retry
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType


class StorageError(Exception):
    """The application's storage refused or failed an operation."""


@dataclass(frozen=True)
class CheckResult:
    passed: bool
    message: str


@dataclass(frozen=True)
class Verification:
    """The five checks of a storage profile, each with a message a person can act on."""

    bucket: CheckResult
    write: CheckResult
    read: CheckResult
    modify: CheckResult
    delete: CheckResult


@dataclass(frozen=True)
class StoredObject:
    location: str  # where the object is, in the provider's own terms (never with credentials)
    size: int


class StorageProvider(ABC):
    provider: str  # the wire name (AMAZON_S3, AZURE_BLOB, GOOGLE_CLOUD, SFTP_STORAGE, LOCAL_STORAGE)
    url: str  # where the profile points, never with credentials

    @abstractmethod
    async def store(self, source: Path, key: str) -> StoredObject:
        """Copy the local file `source` to `key`; return only once it is safely stored."""

    @abstractmethod
    def local_path(self, key: str) -> Path | None:
        """The file behind `key` when this service serves it itself; None when the provider signs its own URLs."""

    @abstractmethod
    async def verify(self) -> Verification:
        """Check the destination: it exists, and an object can be written, read, modified and deleted.
        Leaves no test object behind."""

    async def aclose(self) -> None:
        return None

    async def __aenter__(self) -> StorageProvider:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()
