"""The factory that turns a storage profile into a provider."""

from __future__ import annotations

from storage_providers.azure_blob import AzureBlobStorage
from storage_providers.base import StorageProvider
from storage_providers.gcs import GoogleCloudStorage
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


def create_provider(settings: StorageSettings) -> StorageProvider:
    """The provider of a profile. Raises DestinationError when its credentials cannot even be read."""
    if isinstance(settings, LocalStorageSettings):
        return LocalStorage(settings.path)
    if isinstance(settings, S3StorageSettings):
        return S3Storage(settings)
    if isinstance(settings, AzureBlobStorageSettings):
        return AzureBlobStorage(settings)
    if isinstance(settings, GoogleCloudStorageSettings):
        return GoogleCloudStorage(settings)
    if isinstance(settings, SftpStorageSettings):
        return SftpStorage(settings)
    raise UnknownProviderError(f"unknown storage provider {getattr(settings, 'provider', settings)!r}")
