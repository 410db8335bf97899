"""The provider cache: each application's storage provider, made from its profile on first use, replaced when
the profile changes (the old one is closed at shutdown: uploads under way may still use it)."""

from __future__ import annotations

from recorder.uploads.profiles import StorageProfiles
from storage_providers.base import StorageError, StorageProvider
from storage_providers.registry import create_provider


class Providers:
    def __init__(self, profiles: StorageProfiles) -> None:
        self._profiles = profiles
        self._providers: dict[str, StorageProvider] = {}
        self._retired: list[StorageProvider] = []

    def get(self, application_id: str) -> StorageProvider:
        """The application's storage provider (raises DestinationError when the profile's keys cannot even be
        read, NotFoundError when the application has no profile)."""
        provider = self._providers.get(application_id)
        if provider is None:
            provider = self._providers[application_id] = create_provider(self._profiles.get(application_id))
        return provider

    async def of(self, application_id: str, recorder_id: str | None = None) -> StorageProvider:
        """Where a recording's files are: its own destination if it was started with one, else its
        application's storage (`recorder_id` None: the application's, e.g. for compositions)."""
        own = await self._profiles.own(recorder_id) if recorder_id is not None else None
        if own is None:
            return self.get(application_id)
        key = f"recording:{recorder_id}"
        provider = self._providers.get(key)
        if provider is None:
            provider = self._providers[key] = create_provider(own[0])
        return provider

    async def has_own(self, recorder_id: str) -> bool:
        """Whether the recording was started with a destination of its own."""
        return await self._profiles.own(recorder_id) is not None

    async def location_of(self, application_id: str, recorder_id: str) -> tuple[str, str | None]:
        """`location` of where a recording's files are."""
        try:
            provider = await self.of(application_id, recorder_id)
        except StorageError:
            return self._profiles.get(application_id).provider, None
        return provider.provider, provider.url

    def location(self, application_id: str) -> tuple[str, str | None]:
        """The provider's wire name and where it points; no place when the profile's keys cannot be read
        (a recording's answer still shows; the storage's failure shows where it is used)."""
        try:
            provider = self.get(application_id)
        except StorageError:
            return self._profiles.get(application_id).provider, None
        return provider.provider, provider.url

    def retire(self, application_id: str) -> None:
        """The application's profile changed: the next use makes a new provider."""
        provider = self._providers.pop(application_id, None)
        if provider is not None:
            self._retired.append(provider)

    async def aclose(self) -> None:
        for provider in [*self._providers.values(), *self._retired]:
            await provider.aclose()
        self._providers.clear()
        self._retired.clear()
