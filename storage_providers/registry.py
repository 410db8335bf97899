"""The factory that turns a storage profile into a provider."""

from __future__ import annotations

from storage_providers.base import StorageProvider
from storage_providers.local import LocalStorage
from storage_providers.settings import LocalStorageSettings, StorageSettings


class UnknownProviderError(ValueError):
    """The profile names a provider this build does not have."""


def create_provider(settings: StorageSettings) -> StorageProvider:
    if isinstance(settings, LocalStorageSettings):
        return LocalStorage(settings.path)
    raise UnknownProviderError(f"unknown storage provider {getattr(settings, 'provider', settings)!r}")
