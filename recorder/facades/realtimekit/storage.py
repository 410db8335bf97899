"""A RealtimeKit recording's own destination (`storage_config`: AWS S3, DigitalOcean Spaces, Azure Blob, GCS,
SFTP with a password or a key) as our storage profile. Its write-only fields (access_key, secret, password,
private_key) are kept sealed like our profiles', never answered or logged."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, StringConstraints, ValidationError

from recorder.errors import InvalidRequestError

Text = Annotated[str, StringConstraints(min_length=1, max_length=2048)]
Secret = Annotated[SecretStr, Field(min_length=1, max_length=16384)]


class StorageConfig(BaseModel):
    """RealtimeKit's storage_config; `endpoint_url` (an S3-compatible, Azure or GCS endpoint) and `host_key`
    (the SFTP server's public host key, which this recorder pins) are ours."""

    model_config = ConfigDict(extra="ignore")

    type: Literal["aws", "azure", "digitalocean", "gcs", "sftp"]
    access_key: Secret | None = None
    secret: Secret | None = None
    bucket: Annotated[str, StringConstraints(min_length=3, max_length=222)] | None = None
    region: Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[a-z0-9-]+$")] | None = None
    path: Annotated[str, Field(max_length=512)] | None = None
    host: Annotated[str, StringConstraints(min_length=1, max_length=255, pattern=r"^[A-Za-z0-9.:_\[\]-]+$")] | None = (
        None
    )
    port: Annotated[int, Field(ge=1, le=65535)] | None = None
    username: Text | None = None
    auth_method: Literal["KEY", "PASSWORD"] | None = None
    password: Secret | None = None
    private_key: Secret | None = None
    endpoint_url: Annotated[str, Field(pattern=r"^https?://[!-~]+$", max_length=2048)] | None = None
    host_key: Text | None = None

    def public(self) -> dict[str, Any]:
        """As answered: every field but the write-only ones."""
        fields = (
            "type",
            "bucket",
            "region",
            "path",
            "host",
            "port",
            "username",
            "auth_method",
            "endpoint_url",
            "host_key",
        )
        return {name: getattr(self, name) for name in fields if getattr(self, name) is not None}

    def profile(self) -> dict[str, Any]:
        """Our storage profile of it (InvalidRequestError naming what is missing)."""
        kind = self.type

        def needed(*names: str) -> None:
            for name in names:
                if getattr(self, name) is None:
                    raise InvalidRequestError(f"storage_config.{name} is required for {kind} storage")

        def reveal(value: SecretStr | None) -> str | None:
            return value.get_secret_value() if value is not None else None

        if kind in ("aws", "digitalocean"):
            needed("bucket", "access_key", "secret", *(("region",) if kind == "digitalocean" else ()))
            endpoint = self.endpoint_url
            if endpoint is None and kind == "digitalocean":
                endpoint = f"https://{self.region}.digitaloceanspaces.com"
            credentials = {"accessKeyId": reveal(self.access_key), "secretAccessKey": reveal(self.secret)}
            return {
                "provider": "AMAZON_S3",
                "bucket": self.bucket,
                "region": self.region or "us-east-1",
                "endpointUrl": endpoint,
                "credentials": credentials,
            }
        if kind == "azure":  # access_key: the storage account's name; secret: its key
            needed("bucket", "access_key", "secret")
            return {
                "provider": "AZURE_BLOB",
                "accountName": reveal(self.access_key),
                "container": self.bucket,
                "endpointUrl": self.endpoint_url,
                "credentials": {"accountKey": reveal(self.secret)},
            }
        if kind == "gcs":  # secret: the service account's JSON key
            needed("bucket", "secret")
            return {
                "provider": "GOOGLE_CLOUD",
                "bucket": self.bucket,
                "endpointUrl": self.endpoint_url,
                "credentials": {"serviceAccountKey": reveal(self.secret)},
            }
        needed("host", "username", "host_key")
        method = self.auth_method or ("KEY" if self.private_key is not None else "PASSWORD")
        if method == "KEY":
            needed("private_key")
            sftp = {"privateKey": reveal(self.private_key), "passphrase": reveal(self.password)}
        else:
            needed("password")
            sftp = {"password": reveal(self.password)}
        return {
            "provider": "SFTP_STORAGE",
            "host": self.host,
            "port": self.port or 22,
            "username": self.username,
            "path": self.path or ".",  # (the folder the files go below, from the login's)
            "hostKey": self.host_key,
            "credentials": {k: v for k, v in sftp.items() if v is not None},
        }


def problem(exc: ValidationError) -> str:
    """The first problem of our profile made from a storage_config (never the input: it may hold secrets)."""
    first = exc.errors(include_url=False, include_input=False)[0]
    return f"{'.'.join(str(p) for p in first['loc'])}: {first['msg']}"
