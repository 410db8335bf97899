"""The factory that turns a storage profile into a provider: a registry of provider name -> adapter, each
imported only when a profile names it (an SDK that is not installed is a clear error naming the package)."""

from __future__ import annotations

import importlib
from typing import Any

from storage_providers.base import StorageProvider
from storage_providers.guard import Guard
from storage_providers.settings import LocalStorageSettings, StorageSettings

# provider (the profile's `provider`) -> (module, class, the package its SDK comes in)
ADAPTERS: dict[str, tuple[str, str, str | None]] = {
    "LOCAL_STORAGE": ("storage_providers.local", "LocalStorage", None),
    "AMAZON_S3": ("storage_providers.s3", "S3Storage", "aioboto3"),
    "AZURE_BLOB": ("storage_providers.azure_blob", "AzureBlobStorage", "azure-storage-blob"),
    "GOOGLE_CLOUD": ("storage_providers.gcs", "GoogleCloudStorage", "google-cloud-storage"),
    "SFTP_STORAGE": ("storage_providers.sftp", "SftpStorage", "asyncssh"),
}


class UnknownProviderError(ValueError):
    """The profile names a provider this build does not have (or whose SDK is not installed)."""


def create_provider(settings: StorageSettings, guard: Guard | None = None) -> StorageProvider:
    """The provider of a profile, connecting only where `guard` (the outbound policy) admits. Raises
    DestinationError when its credentials cannot even be read."""
    name = getattr(settings, "provider", None)
    entry = ADAPTERS.get(str(name))
    if entry is None:
        raise UnknownProviderError(f"unknown storage provider {name!r}; known: {sorted(ADAPTERS)}")
    module, class_name, package = entry
    try:
        adapter: Any = getattr(importlib.import_module(module), class_name)
    except ImportError as exc:
        raise UnknownProviderError(f"{name} storage needs the package {package} (pip install {package})") from exc
    provider: StorageProvider
    provider = adapter(settings.path) if isinstance(settings, LocalStorageSettings) else adapter(settings, guard)
    return provider
