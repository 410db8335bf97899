"""How the storage adapters (and the webhooks) connect only where the outbound policy lets them.

The policy itself (`recorder.outbound.OutboundPolicy`) decides; this module is the plumbing that makes each
client library connect to the address the policy checked, with no second name lookup in between (DNS
rebinding):

- aiohttp (webhooks, aiobotocore for S3, azure-core for Azure Blob): a resolver that answers only vetted
  addresses; an IP literal never reaches a resolver in aiohttp, so `check_literal` is called for it first.
- requests (google-cloud-storage): a transport adapter whose connections dial the vetted address while TLS
  still checks the name.
- asyncssh (SFTP): `addresses()` gives the vetted address to connect to.
"""

from __future__ import annotations

import socket
from typing import Any, Protocol
from urllib.parse import urlsplit

from aiohttp.abc import AbstractResolver, ResolveResult
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError
from urllib3.util.connection import create_connection

REFUSED = "not a permitted destination (it does not resolve to a public address, or the outbound policy refuses it)"


def endpoint_host_port(url: str) -> tuple[str, int]:
    """The host and port an http(s) URL connects to (ValueError when it is no such URL)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("the URL must be http:// or https:// with a host")
    return parts.hostname, parts.port or (443 if parts.scheme == "https" else 80)


class OutboundRefused(OSError):
    """The outbound policy refused a destination. Its text names the host the caller gave, never an address it
    resolved to (which would tell a caller about the network it cannot reach)."""

    def __init__(self, host: str) -> None:
        super().__init__(f"{host}: {REFUSED}")
        self.host = host


class Guard(Protocol):
    """The outbound policy as the adapters see it."""

    async def addresses(self, host: str, port: int) -> list[str]:
        """The addresses of `host` that may be reached on `port` (OutboundRefused when there are none)."""

    def addresses_sync(self, host: str, port: int) -> list[str]:
        """The same, blocking (for clients that run in threads)."""

    def check_literal(self, host: str, port: int) -> None:
        """OutboundRefused when `host` is an IP address that may not be reached; a name passes (it is checked
        when it is resolved)."""


class GuardedResolver(AbstractResolver):
    """An aiohttp resolver that answers only the addresses the guard admits."""

    def __init__(self, guard: Guard) -> None:
        self._guard = guard

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        return [
            ResolveResult(
                hostname=host,
                host=address,
                port=port,
                family=socket.AF_INET6 if ":" in address else socket.AF_INET,
                proto=0,
                flags=socket.AI_NUMERICHOST,
            )
            for address in await self._guard.addresses(host, port)
        ]

    async def close(self) -> None:
        return None


def _pinned(base: type[HTTPConnection], guard: Guard) -> type[HTTPConnection]:
    class Pinned(base):  # type: ignore[valid-type,misc]
        def _new_conn(self) -> socket.socket:
            # dial the vetted address; `self.host` stays the name (TLS SNI and the certificate's check)
            address = guard.addresses_sync(self.host, self.port or 0)[0]
            try:
                return create_connection(
                    (address, self.port),
                    self.timeout,
                    source_address=self.source_address,
                    socket_options=self.socket_options,
                )
            except TimeoutError as exc:
                raise ConnectTimeoutError(self, f"connecting to {self.host} timed out") from exc
            except OSError as exc:
                raise NewConnectionError(self, f"cannot connect to {self.host}") from exc

    return Pinned


def refused(exc: BaseException) -> bool:
    """Whether the outbound policy is why `exc` happened (anywhere in its chain of causes)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, OutboundRefused):
            return True
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return False


class GuardedAdapter(HTTPAdapter):
    """A requests adapter whose every connection (redirects too) goes to an address the guard admitted."""

    def __init__(self, guard: Guard, **kwargs: Any) -> None:
        self._guard = guard
        super().__init__(**kwargs)

    def init_poolmanager(self, connections: int, maxsize: int, block: bool = False, **pool_kwargs: Any) -> None:
        super().init_poolmanager(connections, maxsize, block, **pool_kwargs)
        http = type("GuardedHTTPPool", (HTTPConnectionPool,), {"ConnectionCls": _pinned(HTTPConnection, self._guard)})
        https = type(
            "GuardedHTTPSPool", (HTTPSConnectionPool,), {"ConnectionCls": _pinned(HTTPSConnection, self._guard)}
        )
        self.poolmanager.pool_classes_by_scheme = {"http": http, "https": https}
