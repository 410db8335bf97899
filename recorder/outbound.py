"""The outbound policy: where the service may connect on a caller's behalf.

Every connection made for a caller (webhook deliveries, every storage provider incl. a recording's own
destination, storage verification, SFTP) resolves its host here and connects only to an address this policy
admitted (`storage_providers.guard` hands that address to each client library: no second lookup).

An address is refused when it (or the IPv4 address inside an IPv4-mapped, IPv4-compatible, NAT64 or 6to4
IPv6 address) is loopback, private, link-local, unique-local, site-local, shared (CGNAT, 100.64.0.0/10),
multicast, unspecified, broadcast, reserved or documentation space: anything but a global unicast address.
The operator's allowlist (`outbound_allow`) admits exceptions; an entry is one of

    10.20.0.0/16          a network (any port)         [fd00::]/8:443 or 10.1.2.3:9000   with a port
    minio.internal        a host name, as the caller writes it (any address it resolves to; any port)
    minio.internal:9000   a host name and port

With `outbound_public = false` only the allowlist is reached (a service that may talk to named places only).
Destinations written in the service's own configuration (its applications' storage profiles and webhooks) are
admitted too: the operator chose them. Redirects are never followed.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterable
from urllib.parse import urlsplit

from recorder.addresses import Address, Rule, address_of, category
from recorder.errors import InvalidRequestError
from recorder.settings import Settings
from storage_providers.guard import OutboundRefused, endpoint_host_port
from storage_providers.settings import (
    AzureBlobStorageSettings,
    LocalStorageSettings,
    SftpStorageSettings,
    StorageSettings,
)


def _name(host: str) -> str:
    """A host as the allowlist's names are written: lower case, no brackets, no root dot."""
    return host.lower().strip("[]").rstrip(".")


class OutboundPolicy:
    """Decides whether a host may be reached (see the module's docstring). Implements the storage adapters'
    `Guard`."""

    def __init__(self, allow: Iterable[str] = (), public: bool = True) -> None:
        self._rules = [Rule.parse(entry) for entry in allow]
        self._public = public  # False: only what the allowlist names

    def admit(self, *entries: str) -> None:
        """Add allowlist entries (the destinations of the service's own configuration)."""
        self._rules.extend(Rule.parse(entry) for entry in entries)

    def admitted(self, host: str, address: Address | None, port: int) -> bool:
        if any(rule.admits(_name(host), address, port) for rule in self._rules):
            return True
        return self._public and address is not None and category(address) is None

    def check_literal(self, host: str, port: int) -> None:
        address = address_of(host)
        if address is not None and not self.admitted(host, address, port):
            raise OutboundRefused(host)

    def _vetted(self, host: str, port: int, found: Iterable[tuple[object, ...]]) -> list[str]:
        if any(rule.admits(_name(host), None, port) for rule in self._rules):  # the name itself is listed
            addresses = [str(info[4][0]) for info in found]  # type: ignore[index]
        else:
            addresses = []
            for info in found:
                address = address_of(str(info[4][0]))  # type: ignore[index]
                if address is not None and self.admitted(host, address, port):
                    addresses.append(str(address))
        if not addresses:
            raise OutboundRefused(host)
        return list(dict.fromkeys(addresses))

    async def addresses(self, host: str, port: int) -> list[str]:
        try:
            found = await asyncio.get_running_loop().getaddrinfo(host.strip("[]"), port, type=socket.SOCK_STREAM)
        except (OSError, UnicodeError):
            raise OutboundRefused(host) from None
        return self._vetted(host, port, found)

    def addresses_sync(self, host: str, port: int) -> list[str]:
        try:
            found = socket.getaddrinfo(host.strip("[]"), port, type=socket.SOCK_STREAM)
        except (OSError, UnicodeError):
            raise OutboundRefused(host) from None
        return self._vetted(host, port, found)

    async def check_url(self, url: str) -> None:
        """OutboundRefused unless `url` is http(s) and its host resolves to an address that may be reached."""
        try:
            host, port = endpoint_host_port(url)
        except ValueError:
            raise OutboundRefused(url) from None
        await self.addresses(host, port)


def _destination(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def configured_destinations(settings: Settings) -> list[str]:
    """`host:port` of every destination written in the service's own configuration (its applications'
    storage endpoints and SFTP servers, and its webhooks): the operator chose them, so the policy admits them."""
    found: list[str] = []
    for app in settings.applications:
        storage = app.storage
        if isinstance(storage, SftpStorageSettings):
            found.append(_destination(storage.host, storage.port))
        elif not isinstance(storage, LocalStorageSettings) and storage.endpoint_url:
            found.append(_destination(*endpoint_host_port(storage.endpoint_url)))
        found.extend(_destination(*endpoint_host_port(hook.url)) for hook in app.webhooks)
    return found


def policy_of(settings: Settings) -> OutboundPolicy:
    """The policy of a service: its `outbound_allow` and the destinations of its own configuration."""
    policy = OutboundPolicy(settings.outbound_allow, settings.outbound_public)
    policy.admit(*configured_destinations(settings))
    return policy


async def check_storage(policy: OutboundPolicy, profile: StorageSettings) -> None:
    """InvalidRequestError (400) when a storage profile a caller gives points where the policy refuses."""
    host: str | None = None
    port = 443
    if isinstance(profile, SftpStorageSettings):
        host, port = profile.host, profile.port
    elif isinstance(profile, AzureBlobStorageSettings):
        host, port = endpoint_host_port(profile.endpoint_url or f"https://{profile.account_name}.blob.core.windows.net")
    elif not isinstance(profile, LocalStorageSettings) and profile.endpoint_url:
        host, port = endpoint_host_port(profile.endpoint_url)
    if host is None:
        return  # AWS's and Google's own endpoints
    try:
        await policy.addresses(host, port)
    except OutboundRefused as exc:
        raise InvalidRequestError(f"storage destination {exc}") from None


async def check_webhook(policy: OutboundPolicy, url: str) -> None:
    """InvalidRequestError (400) when a webhook URL a caller gives points where the policy refuses."""
    try:
        await policy.check_url(url)
    except OutboundRefused as exc:
        raise InvalidRequestError(f"webhook URL: {exc}") from None


def origin_only(url: str) -> str:
    """A URL as logged: its scheme, host and port (no user, path or query: they may be capability secrets)."""
    try:
        host, port = endpoint_host_port(url)
    except ValueError:
        return "(not an http URL)"
    return f"{urlsplit(url).scheme}://{_destination(host, port)}"
