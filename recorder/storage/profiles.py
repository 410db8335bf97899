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
from recorder.outbound import OutboundPolicy, check_storage
from recorder.persistence.ports import StorageProfileStore, StoredProfile
from recorder.settings import Settings
from storage_providers.base import DestinationError
from storage_providers.settings import LocalStorageSettings, S3StorageSettings, StorageSettings

logger = logging.getLogger(__name__)
_PROFILE: TypeAdapter[StorageSettings] = TypeAdapter(StorageSettings)
ProfileOrigin = Literal["CONFIGURATION", "API"]  # where the profile in force comes from
OWN_CACHE = 10_000  # recordings remembered as having no destination of their own


def _revealed(credentials: BaseModel) -> dict[str, Any]:
    return {
        name: value.get_secret_value() if isinstance(value, SecretStr) else value
        for name, value in credentials.model_dump(by_alias=True).items()
        if value is not None
    }


class StorageProfiles:
    def __init__(
        self, settings: Settings, store: StorageProfileStore, key: bytes, policy: OutboundPolicy | None = None
    ) -> None:
        self._store = store
        self._policy = policy
        self._configured: dict[str, StorageSettings] = {a.id: a.storage for a in settings.applications}
        self._ambient = {a.id for a in settings.applications if a.ambient_credentials}
        self._set: dict[str, StorageSettings] = {}
        self._own: dict[str, tuple[StorageSettings, dict[str, Any]] | None] = {}  # by recorder id
        self._cipher = Fernet(base64.urlsafe_b64encode(hashlib.sha256(key).digest()))

    def _open(self, stored: StoredProfile) -> StorageSettings:
        """A stored profile with its credentials unsealed (InvalidToken, ValidationError, ValueError)."""
        data = json.loads(stored.settings)
        if stored.credentials is not None:
            data["credentials"] = json.loads(self._cipher.decrypt(stored.credentials.encode()))
        return _PROFILE.validate_python(data)

    def _sealed(self, owner: str, profile: StorageSettings) -> StoredProfile:
        """The profile as stored: its settings without secrets, its credentials sealed."""
        credentials = profile.credentials
        token = self._cipher.encrypt(json.dumps(_revealed(credentials)).encode()).decode() if credentials else None
        return StoredProfile(owner, profile.model_dump_json(by_alias=True, exclude={"credentials"}), token)

    async def load(self) -> None:
        for stored in await self._store.all():
            try:
                self._set[stored.application_id] = self._open(stored)
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
        kept = "credentials" not in body and same and current is not None and current.credentials is not None
        if kept and current is not None and current.credentials is not None:
            body = {**body, "credentials": _revealed(current.credentials)}
        profile = _PROFILE.validate_python(body)
        if kept and current is not None and profile.destination() != current.destination():
            raise InvalidRequestError(
                "credentials are required: kept credentials go only to the destination they were given for"
                " (the endpoint, host, port, account or bucket changed)"
            )
        await self._check(application_id, profile)
        await self._store.save(self._sealed(application_id, profile))
        self._set[application_id] = profile
        return profile

    async def _check(self, application_id: str | None, profile: StorageSettings) -> None:
        """A profile a caller gives: its destination must pass the outbound policy, and an S3 profile without
        credentials (which would use this machine's own: its instance role) is only for an application whose
        operator allowed it."""
        if self._policy is not None:
            await check_storage(self._policy, profile)
        ambient = application_id is not None and application_id in self._ambient
        if isinstance(profile, S3StorageSettings) and profile.credentials is None and not ambient:
            raise InvalidRequestError(
                "credentials are required: this application may not use the service's own AWS credentials"
            )

    # ------------------------------------------------------------ a recording's own destination

    async def set_own(self, recorder_id: str, body: dict[str, Any], public: dict[str, Any]) -> StorageSettings:
        """Keep a recording's own destination (before the recording starts: its files go there), credentials
        sealed, with `public`, a description of it without secrets. ValidationError when it is not valid."""
        profile = _PROFILE.validate_python(body)
        if isinstance(profile, LocalStorageSettings):
            raise InvalidRequestError("a recording's own storage cannot be this machine's disk")
        await self._check(None, profile)
        await self._store.save_own(recorder_id, self._sealed(recorder_id, profile), json.dumps(public))
        self._own[recorder_id] = (profile, public)
        return profile

    async def own(self, recorder_id: str) -> tuple[StorageSettings, dict[str, Any]] | None:
        """A recording's own destination and its public description (None: its application's storage)."""
        if recorder_id not in self._own:
            if len(self._own) > OWN_CACHE:  # forget the recordings without one (a lookup brings them back)
                self._own = {k: v for k, v in self._own.items() if v is not None}
            stored = await self._store.own(recorder_id)
            if stored is None:
                self._own[recorder_id] = None
            else:
                try:
                    self._own[recorder_id] = (self._open(stored[0]), json.loads(stored[1]))
                except (InvalidToken, ValidationError, ValueError):
                    raise DestinationError(
                        f"recording {recorder_id}'s own storage cannot be read (was the storage credentials key "
                        "changed?)"
                    ) from None
        return self._own[recorder_id]

    def forget_own(self) -> None:
        """Forget the recordings' own destinations read so far (retention may have deleted some: a later use
        reads them again)."""
        self._own.clear()

    async def delete(self, application_id: str) -> None:
        if not await self._store.delete(application_id):
            raise NotFoundError(f"application {application_id!r} has no storage profile set through the API")
        self._set.pop(application_id, None)
