"""The provider cache: each application's storage provider (and each recording's own destination's), made from
its profile on first use, replaced when the profile changes. Every provider connects only where the outbound
policy admits. Providers not used for `IDLE_SECONDS` are retired, and retired ones are closed `IDLE_SECONDS`
later (an upload that took one up before may still be using it)."""

from __future__ import annotations

import time
from collections.abc import Callable

from recorder.storage.profiles import StorageProfiles
from storage_providers.base import StorageError, StorageProvider
from storage_providers.guard import Guard
from storage_providers.registry import create_provider
from storage_providers.settings import StorageSettings

IDLE_SECONDS = 900.0
StorageSettingsMaker = Callable[[], StorageSettings]


class Providers:
    def __init__(self, profiles: StorageProfiles, guard: Guard | None = None) -> None:
        self._profiles = profiles
        self._guard = guard
        self._providers: dict[str, StorageProvider] = {}
        self._used: dict[str, float] = {}
        self._retired: list[tuple[float, StorageProvider]] = []

    def _cached(self, key: str, make: StorageSettingsMaker) -> StorageProvider:
        provider = self._providers.get(key)
        if provider is None:
            provider = self._providers[key] = create_provider(make(), self._guard)
        self._used[key] = time.monotonic()
        return provider

    def get(self, application_id: str) -> StorageProvider:
        """The application's storage provider (raises DestinationError when the profile's keys cannot even be
        read, NotFoundError when the application has no profile)."""
        return self._cached(application_id, lambda: self._profiles.get(application_id))

    async def of(self, application_id: str, recorder_id: str | None = None) -> StorageProvider:
        """Where a recording's files are: its own destination if it was started with one, else its
        application's storage (`recorder_id` None: the application's, e.g. for compositions)."""
        own = await self._profiles.own(recorder_id) if recorder_id is not None else None
        if own is None:
            return self.get(application_id)
        return self._cached(f"recording:{recorder_id}", lambda: own[0])

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

    def _retire(self, key: str) -> None:
        provider = self._providers.pop(key, None)
        self._used.pop(key, None)
        if provider is not None:
            self._retired.append((time.monotonic(), provider))

    def retire(self, application_id: str) -> None:
        """The application's profile changed: the next use makes a new provider."""
        self._retire(application_id)

    async def evict_idle(self, idle_seconds: float = IDLE_SECONDS) -> int:
        """Retire the providers not used for `idle_seconds`, close those retired that long ago; how many
        were closed."""
        now = time.monotonic()
        for key in [k for k, used in self._used.items() if now - used > idle_seconds]:
            self._retire(key)
        old = [provider for retired, provider in self._retired if now - retired > idle_seconds]
        self._retired = [(retired, p) for retired, p in self._retired if now - retired <= idle_seconds]
        for provider in old:
            await provider.aclose()
        return len(old)

    def __len__(self) -> int:
        return len(self._providers)

    async def aclose(self) -> None:
        for provider in [*self._providers.values(), *(p for _, p in self._retired)]:
            await provider.aclose()
        self._providers.clear()
        self._used.clear()
        self._retired.clear()
