"""Storage profiles, one model per provider (the `provider` field picks it).

The same models are read from the configuration (snake_case) and from the admin API (camelCase). Secrets sit
in `credentials` only: they are write-only on the API and encrypted at rest.
"""

from __future__ import annotations

import string
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator
from pydantic.alias_generators import to_camel

DEFAULT_KEY_TEMPLATE = "{organizationId}/{conversationId}/{recorderId}/{streamId}/{trackId}.{ext}"
KEY_FIELDS = frozenset(
    {
        "kind",  # VideoSDK's: audio, video, screen_audio, screen_video
        "organizationId",
        "applicationId",
        "conversationId",
        "recorderId",
        "streamId",
        "streamType",
        "userId",
        "trackId",
        "trackType",
        "ext",
    }
)
MiB = 1 << 20
# an endpoint is scheme, host, port and a path: no user, query or fragment (a fragment would cut the SDK's own
# path off the URL and make it fetch whatever path the endpoint names)
ENDPOINT = r"^https?://[A-Za-z0-9.\-_~%]+(:[0-9]{1,5})?(/[A-Za-z0-9.\-_~%/]*)?$|^https?://\[[0-9A-Fa-f:.]+\](:[0-9]{1,5})?(/[A-Za-z0-9.\-_~%/]*)?$"
Endpoint = Annotated[str, Field(pattern=ENDPOINT, max_length=512)]


class _Model(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")


class _Profile(_Model):
    key_template: str = Field(
        default=DEFAULT_KEY_TEMPLATE,
        description="Where each file goes; placeholders: " + ", ".join(sorted(KEY_FIELDS)),
    )

    @field_validator("key_template")
    @classmethod
    def _known_fields(cls, template: str) -> str:
        try:
            fields = [(name, spec, conversion) for _, name, spec, conversion in string.Formatter().parse(template)]
        except ValueError as exc:
            raise ValueError(f"keyTemplate is not a template: {exc}") from None
        if any(name is not None and (spec or conversion) for name, spec, conversion in fields):
            raise ValueError("keyTemplate placeholders are plain names: no format specs (':...') or conversions ('!r')")
        names = {name for name, _, _ in fields if name is not None}
        unknown = names - KEY_FIELDS
        if unknown:
            raise ValueError(f"keyTemplate has unknown placeholders {sorted(unknown)}; known: {sorted(KEY_FIELDS)}")
        if not {"recorderId", "trackId"} <= names:
            raise ValueError("keyTemplate must contain {recorderId} and {trackId}, or files would overwrite others")
        if "{{" in template or "}}" in template:
            raise ValueError("keyTemplate cannot hold literal braces")
        if template.startswith("/") or "//" in template or "/../" in f"/{template}/":
            raise ValueError("keyTemplate must be a relative path without empty or '..' segments")
        return template

    def destination(self) -> tuple[object, ...]:
        """What kept credentials are bound to: another destination needs its credentials sent again."""
        return (getattr(self, "provider", None),)


class LocalStorageSettings(_Profile):
    """A directory on this machine; files are handed out by the service itself through signed URLs."""

    provider: Literal["LOCAL_STORAGE"] = "LOCAL_STORAGE"
    path: Path
    credentials: None = None


class S3Credentials(_Model):
    access_key_id: SecretStr
    secret_access_key: SecretStr
    session_token: SecretStr | None = None


class S3StorageSettings(_Profile):
    """Amazon S3 or an S3-compatible service (`endpointUrl`). Without credentials the standard AWS chain
    (environment, instance role) is used."""

    provider: Literal["AMAZON_S3"]
    bucket: str = Field(min_length=3, max_length=63)
    region: str = "us-east-1"
    endpoint_url: Endpoint | None = None
    multipart_threshold_bytes: int = Field(default=16 * MiB, ge=5 * MiB)
    part_size_bytes: int = Field(default=8 * MiB, ge=5 * MiB)
    # parts of one file in flight at once (the AWS CLI's max_concurrent_requests is 10)
    part_concurrency: int = Field(default=10, ge=1, le=64)
    credentials: S3Credentials | None = None

    def destination(self) -> tuple[object, ...]:
        return (self.provider, self.endpoint_url, self.region, self.bucket)


class AzureBlobCredentials(_Model):
    account_key: SecretStr


class AzureBlobStorageSettings(_Profile):
    """An Azure Blob Storage container; `endpointUrl` defaults to https://{accountName}.blob.core.windows.net."""

    provider: Literal["AZURE_BLOB"]
    account_name: str = Field(min_length=1)
    container: str = Field(min_length=3, max_length=63)
    endpoint_url: Endpoint | None = None
    block_size_bytes: int = Field(default=4 * MiB, ge=64 * 1024, le=4000 * MiB)
    single_put_bytes: int = Field(default=8 * MiB, ge=1, le=5000 * MiB)
    credentials: AzureBlobCredentials

    def destination(self) -> tuple[object, ...]:
        return (self.provider, self.endpoint_url, self.account_name, self.container)


class GoogleCloudCredentials(_Model):
    service_account_key: SecretStr  # the JSON key file of a service account


class GoogleCloudStorageSettings(_Profile):
    """A Google Cloud Storage bucket. `endpointUrl` points at an emulator (requests are then anonymous;
    URLs are still signed with the service account's key)."""

    provider: Literal["GOOGLE_CLOUD"]
    bucket: str = Field(min_length=3, max_length=222)
    endpoint_url: Endpoint | None = None
    chunk_size_bytes: int = Field(default=8 * MiB, ge=256 * 1024)
    credentials: GoogleCloudCredentials

    def destination(self) -> tuple[object, ...]:
        return (self.provider, self.endpoint_url, self.bucket)

    @field_validator("chunk_size_bytes")
    @classmethod
    def _whole_chunks(cls, size: int) -> int:
        if size % (256 * 1024):
            raise ValueError("chunkSizeBytes must be a multiple of 256 KiB (262144)")
        return size


class SftpCredentials(_Model):
    password: SecretStr | None = None
    private_key: SecretStr | None = None  # OpenSSH or PEM text
    passphrase: SecretStr | None = None  # of an encrypted private key

    @model_validator(mode="after")
    def _one_way_in(self) -> SftpCredentials:
        if self.password is None and self.private_key is None:
            raise ValueError("SFTP credentials need a password or a privateKey")
        return self


class SftpStorageSettings(_Profile):
    """A folder on an SFTP server. The server's host key is pinned: a server with another key is refused."""

    provider: Literal["SFTP_STORAGE"]
    host: str = Field(min_length=1)
    port: int = Field(default=22, ge=1, le=65535)
    username: str = Field(min_length=1)
    path: str = "."
    host_key: str = Field(min_length=1, description="the server's public host key, e.g. 'ssh-ed25519 AAAA...'")
    connect_timeout_seconds: float = Field(default=10.0, gt=0, le=60)
    credentials: SftpCredentials

    def destination(self) -> tuple[object, ...]:
        return (self.provider, self.host.lower(), self.port, self.username, self.host_key)


StorageSettings = Annotated[
    LocalStorageSettings
    | S3StorageSettings
    | AzureBlobStorageSettings
    | GoogleCloudStorageSettings
    | SftpStorageSettings,
    Field(discriminator="provider"),
]
