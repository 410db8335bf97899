"""Addresses and allowlist entries, for the outbound policy (`recorder.outbound`) and the settings that
name its exceptions. No I/O."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
_CGNAT = ipaddress.ip_network("100.64.0.0/10")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_UNIQUE_LOCAL = ipaddress.ip_network("fc00::/7")
_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")


def embedded_ipv4(address: Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address carries (mapped, compatible, NAT64, 6to4), or None."""
    if isinstance(address, ipaddress.IPv4Address):
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address in _NAT64 or (address in _IPV4_COMPATIBLE and int(address) > 1):
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def category(address: Address) -> str | None:
    """Why `address` may not be reached (None: a global unicast address)."""
    inner = embedded_ipv4(address)
    if inner is not None:
        why = category(inner)
        return f"IPv4-in-IPv6 {why}" if why else None
    if address.is_multicast:
        return "multicast"
    if address.is_unspecified:
        return "unspecified"
    if address.is_loopback:
        return "loopback"
    if address.is_link_local:
        return "link-local"
    if isinstance(address, ipaddress.IPv4Address) and address in _CGNAT:
        return "shared (CGNAT)"
    if isinstance(address, ipaddress.IPv6Address) and (address in _UNIQUE_LOCAL or address.is_site_local):
        return "unique-local"
    if address.is_private:
        return "private"
    if not address.is_global or address.is_reserved:
        return "reserved"
    return None


@dataclass(frozen=True)
class Rule:
    """One allowlist entry: a network or a host name, with a port or any."""

    network: Network | None
    name: str | None
    port: int | None

    @classmethod
    def parse(cls, entry: str) -> Rule:
        text = entry.strip()
        if not text:
            raise ValueError("an outbound_allow entry is empty")
        port: int | None = None
        if text.startswith("["):  # [v6] or [v6/len], maybe :port
            inside, closed, rest = text[1:].partition("]")
            if not closed:
                raise ValueError(f"outbound_allow entry {entry!r}: no closing ']'")
            host = inside
            if rest:
                if not rest.startswith(":"):
                    raise ValueError(f"outbound_allow entry {entry!r}: expected [address]:port")
                port = _port(rest[1:], entry)
        elif text.count(":") == 1:
            host, _, port_text = text.partition(":")
            port = _port(port_text, entry)
        else:
            host = text
        try:
            return cls(ipaddress.ip_network(host, strict=False), None, port)
        except ValueError:
            pass
        name = host.lower().rstrip(".")
        if not name or any(c in name for c in "/@?#[] "):
            raise ValueError(f"outbound_allow entry {entry!r} is neither a network nor a host name")
        return cls(None, name, port)

    def admits(self, name: str, address: Address | None, port: int) -> bool:
        if self.port is not None and self.port != port:
            return False
        if self.name is not None:
            return self.name == name
        return (
            address is not None
            and self.network is not None
            and address.version == self.network.version
            and (address in self.network)
        )


def _port(text: str, entry: str) -> int:
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise ValueError(f"outbound_allow entry {entry!r} has no valid port")
    return int(text)


def address_of(host: str) -> Address | None:
    try:
        return ipaddress.ip_address(host.strip("[]").split("%")[0])
    except ValueError:
        return None
