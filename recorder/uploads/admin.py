"""Storage administration: verify an application's storage, put its profile in force, change or delete it,
and try failed uploads again (with the profile now in force)."""

from __future__ import annotations

import logging
from typing import Any

from recorder.errors import ConflictError
from recorder.settings import Settings
from recorder.storage.profiles import ProfileOrigin, StorageProfiles
from recorder.storage.providers import Providers
from recorder.uploads.uploader import Uploader
from storage_providers.base import CheckResult, StorageError, Throughput, Verification
from storage_providers.settings import StorageSettings

logger = logging.getLogger(__name__)


class StorageAdmin:
    def __init__(self, settings: Settings, profiles: StorageProfiles, providers: Providers, uploader: Uploader) -> None:
        self._settings = settings
        self._profiles = profiles
        self._providers = providers
        self._uploader = uploader

    def profile(self, application_id: str) -> tuple[StorageSettings, ProfileOrigin]:
        """The application's profile in force and where it comes from (NotFoundError when it has none)."""
        return self._profiles.get(application_id), self._profiles.origin(application_id)

    def provider_name(self, application_id: str) -> str:
        """The wire name of the application's storage provider (no client is made for it)."""
        return self._profiles.get(application_id).provider

    async def location(self, application_id: str, recorder_id: str) -> tuple[str, str | None]:
        """Where a recording's files go (its own destination, else its application's storage): the provider's
        wire name and where it points (None: unreadable keys)."""
        return await self._providers.location_of(application_id, recorder_id)

    async def set_own(self, recorder_id: str, body: dict[str, Any], public: dict[str, Any]) -> None:
        """A recording's own destination, kept before it starts (a facade's per-recording storage)."""
        await self._profiles.set_own(recorder_id, body, public)

    async def own_public(self, recorder_id: str) -> dict[str, Any] | None:
        """A recording's own destination as its facade described it, without secrets (None: it has none)."""
        own = await self._profiles.own(recorder_id)
        return own[1] if own is not None else None

    async def verify(self, organization_id: str, application_id: str) -> Verification:
        """Every check of the application's storage, each with its result."""
        app = self._settings.application_of(organization_id, application_id)
        try:
            provider = self._providers.get(app.id)
        except StorageError as exc:
            not_run = CheckResult(False, "not run: the bucket test failed")
            return Verification(
                CheckResult(False, exc.message), not_run, not_run, not_run, not_run, Throughput.not_run("bucket")
            )
        return await provider.verify(self._settings.storage_probe_bytes, self._settings.storage_min_throughput_mbps)

    async def confirm(self, organization_id: str, application_id: str) -> None:
        """The administrator confirms the application's storage profile as verified: it is put in force (a
        provider is made from it) and the uploads that failed are tried again with it."""
        app = self._settings.application_of(organization_id, application_id)
        try:
            self._providers.get(app.id)
        except StorageError as exc:  # its keys cannot even be read: it is not in force
            raise ConflictError(f"the storage profile in force cannot be used: {exc.message}") from None
        retried = await self.retry(application_id=app.id)
        logger.info("storage of application %s confirmed; %d failed uploads are tried again", app.id, retried)

    async def set_profile(self, organization_id: str, application_id: str, body: dict[str, Any]) -> StorageSettings:
        """Set the application's profile through the API; uploads that failed are tried again with it."""
        app = self._settings.application_of(organization_id, application_id)
        profile = await self._profiles.put(app.id, body)
        self._providers.retire(app.id)
        await self.retry(application_id=app.id)
        return profile

    async def delete_profile(self, organization_id: str, application_id: str) -> None:
        app = self._settings.application_of(organization_id, application_id)
        await self._profiles.delete(app.id)
        self._providers.retire(app.id)

    async def retry(self, application_id: str | None = None, recorder_id: str | None = None) -> int:
        """Failed uploads (of an application or a recording) queued again; how many."""
        return len(await self._uploader.retry(application_id=application_id, recorder_id=recorder_id))
