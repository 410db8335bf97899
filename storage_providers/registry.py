"""The factory that turns a storage profile into a provider."""

from __future__ import annotations

from storage_providers.azure_blob import AzureBlobStorage
from storage_providers.base import StorageProvider
from storage_providers.gcs import GoogleCloudStorage
from storage_providers.guard import Guard
from storage_providers.local import LocalStorage
from storage_providers.s3 import S3Storage
from storage_providers.settings import (
    AzureBlobStorageSettings,
    GoogleCloudStorageSettings,
    LocalStorageSettings,
    S3StorageSettings,
    SftpStorageSettings,
    StorageSettings,
)
from storage_providers.sftp import SftpStorage


class UnknownProviderError(ValueError):
    """The profile names a provider this build does not have."""


def create_provider(settings: StorageSettings, guard: Guard | None = None) -> StorageProvider:
    """The provider of a profile, connecting only where `guard` (the outbound policy) admits. Raises
    DestinationError when its credentials cannot even be read."""
    if isinstance(settings, LocalStorageSettings):
        return LocalStorage(settings.path)
    if isinstance(settings, S3StorageSettings):
        return S3Storage(settings, guard)
    if isinstance(settings, AzureBlobStorageSettings):
        return AzureBlobStorage(settings, guard)
    if isinstance(settings, GoogleCloudStorageSettings):
        return GoogleCloudStorage(settings, guard)
    if isinstance(settings, SftpStorageSettings):
        return SftpStorage(settings, guard)
    raise UnknownProviderError(f"unknown storage provider {getattr(settings, 'provider', settings)!r}")
