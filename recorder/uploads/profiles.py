"""StorageProfiles: each application's storage profile, from the configuration or set through the admin API
(which wins until it is deleted). Profiles set through the API are kept in the repository with their
credentials encrypted (Fernet, with a key derived from the configured storage credentials key)."""

from __future__ import annotations

import base64
import hashlib
import json
import logging
from typing import Any, Literal

from cryptography.fernet import Fernet, InvalidToken
from pydantic import BaseModel, SecretStr, TypeAdapter, ValidationError

from recorder.errors import InvalidRequestError, NotFoundError
from recorder.persistence.ports import StorageProfileStore, StoredProfile
from recorder.settings import Settings
from storage_providers.settings import LocalStorageSettings, StorageSettings

logger = logging.getLogger(__name__)
_PROFILE: TypeAdapter[StorageSettings] = TypeAdapter(StorageSettings)
ProfileOrigin = Literal["CONFIGURATION", "API"]  # where the profile in force comes from


def _revealed(credentials: BaseModel) -> dict[str, Any]:
    return {
        name: value.get_secret_value() if isinstance(value, SecretStr) else value
        for name, value in credentials.model_dump(by_alias=True).items()
        if value is not None
    }


class StorageProfiles:
    def __init__(self, settings: Settings, store: StorageProfileStore, key: bytes) -> None:
        self._store = store
        self._configured: dict[str, StorageSettings] = {a.id: a.storage for a in settings.applications}
        self._set: dict[str, StorageSettings] = {}
        self._cipher = Fernet(base64.urlsafe_b64encode(hashlib.sha256(key).digest()))

    async def load(self) -> None:
        for stored in await self._store.all():
            try:
                data = json.loads(stored.settings)
                if stored.credentials is not None:
                    data["credentials"] = json.loads(self._cipher.decrypt(stored.credentials.encode()))
                self._set[stored.application_id] = _PROFILE.validate_python(data)
            except (InvalidToken, ValidationError, ValueError):
                logger.error(
                    "the storage profile of application %s cannot be read (was the storage credentials key "
                    "changed?); its configured profile applies until it is set again",
                    stored.application_id,
                )

    def get(self, application_id: str) -> StorageSettings:
        profile = self._set.get(application_id) or self._configured.get(application_id)
        if profile is None:
            raise NotFoundError(f"application {application_id!r} has no storage profile")
        return profile

    def origin(self, application_id: str) -> ProfileOrigin:
        return "API" if application_id in self._set else "CONFIGURATION"

    async def put(self, application_id: str, body: dict[str, Any]) -> StorageSettings:
        """Validate and keep a profile. Without `credentials`, those of the current profile of the same
        provider are kept (they are write-only: a client cannot send back what it cannot read)."""
        if body.get("provider") == LocalStorageSettings.model_fields["provider"].default:
            raise InvalidRequestError("LOCAL_STORAGE profiles are set in the service's configuration only")
        current = self._set.get(application_id) or self._configured.get(application_id)
        same = current is not None and current.provider == body.get("provider")
        if "credentials" not in body and same and current is not None and current.credentials is not None:
            body = {**body, "credentials": _revealed(current.credentials)}
        profile = _PROFILE.validate_python(body)
        credentials = profile.credentials
        token = self._cipher.encrypt(json.dumps(_revealed(credentials)).encode()).decode() if credentials else None
        settings = profile.model_dump_json(by_alias=True, exclude={"credentials"})
        await self._store.save(StoredProfile(application_id, settings, token))
        self._set[application_id] = profile
        return profile

    async def delete(self, application_id: str) -> None:
        if not await self._store.delete(application_id):
            raise NotFoundError(f"application {application_id!r} has no storage profile set through the API")
        self._set.pop(application_id, None)
