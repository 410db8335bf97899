"""The outbound policy over every form an address can take, names that resolve inward, the allowlist, DNS
rebinding and redirects (against real listeners on this machine)."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from typing import Any

import aiohttp
import pytest
import requests
from aiohttp import web

from recorder.addresses import Rule
from recorder.outbound import OutboundPolicy, origin_only
from storage_providers.guard import GuardedAdapter, GuardedResolver, OutboundRefused
from tests.storage_servers import free_port

# (host as a caller writes it, why it must be refused)
REFUSED = [
    ("127.0.0.1", "loopback"),
    ("127.1", "loopback, short form"),
    ("2130706433", "loopback, decimal"),
    ("0x7f000001", "loopback, hex"),
    ("0177.0.0.1", "loopback, octal"),
    ("0x7f.1", "loopback, mixed"),
    ("localhost", "a name that resolves to loopback"),
    ("LOCALHOST.", "the same, upper case with a root dot"),
    ("[::1]", "IPv6 loopback"),
    ("[0:0:0:0:0:0:0:1]", "IPv6 loopback, long form"),
    ("[::ffff:127.0.0.1]", "IPv4-mapped loopback"),
    ("[::ffff:7f00:1]", "IPv4-mapped loopback, hex"),
    ("[::127.0.0.1]", "IPv4-compatible loopback"),
    ("[64:ff9b::7f00:1]", "NAT64 of loopback"),
    ("[64:ff9b::a9fe:a9fe]", "NAT64 of the metadata service"),
    ("[2002:7f00:1::]", "6to4 of loopback"),
    ("[2002:a9fe:a9fe::]", "6to4 of the metadata service"),
    ("[2001:0:4136:e378:8000:63bf:3fff:fdd2]", "Teredo (its endpoints are obfuscated)"),
    ("[fd00:ec2::254]", "the IPv6 metadata service (unique-local)"),
    ("[0:0:0:0:0:ffff:169.254.169.254]", "IPv4-mapped metadata service, uncompressed"),
    ("[::169.254.169.254]", "IPv4-compatible metadata service"),
    ("0.0.0.0", "unspecified"),
    ("0", "unspecified, decimal"),
    ("[::]", "IPv6 unspecified"),
    ("10.0.0.1", "private"),
    ("172.16.5.4", "private"),
    ("192.168.1.1", "private"),
    ("[::ffff:10.0.0.1]", "IPv4-mapped private"),
    ("169.254.169.254", "link-local: the cloud metadata service"),
    ("[fe80::1]", "IPv6 link-local"),
    ("100.64.0.1", "CGNAT"),
    ("[fc00::1]", "unique-local"),
    ("[fd12:3456::1]", "unique-local"),
    ("[fec0::1]", "site-local"),
    ("224.0.0.1", "multicast"),
    ("[ff02::1]", "IPv6 multicast"),
    ("255.255.255.255", "broadcast"),
    ("240.0.0.1", "reserved"),
    ("192.0.2.10", "documentation"),
    ("198.18.0.1", "benchmarking"),
    ("no-such-host.invalid", "a name that does not resolve"),
]
ADMITTED = ["8.8.8.8", "1.1.1.1", "[2606:4700:4700::1111]", "[::ffff:8.8.8.8]"]


@pytest.mark.parametrize(("host", "why"), REFUSED)
async def test_an_address_of_every_inward_form_is_refused(host: str, why: str) -> None:
    policy = OutboundPolicy()
    with pytest.raises(OutboundRefused):
        await policy.addresses(host, 443)
    with pytest.raises(OutboundRefused):
        policy.addresses_sync(host, 443)
    with pytest.raises(OutboundRefused):
        await policy.check_url(f"https://{host}/hook")


@pytest.mark.parametrize("host", ADMITTED)
async def test_public_addresses_are_admitted_unless_the_operator_allows_only_its_list(host: str) -> None:
    found = await OutboundPolicy().addresses(host, 443)
    assert [ipaddress.ip_address(a) for a in found] == [ipaddress.ip_address(host.strip("[]"))]
    OutboundPolicy().check_literal(host, 443)
    with pytest.raises(OutboundRefused):
        OutboundPolicy(public=False).check_literal(host, 443)


@pytest.mark.parametrize(
    ("entry", "host", "port", "admitted"),
    [
        ("127.0.0.1", "127.0.0.1", 9000, True),
        ("127.0.0.1:9000", "127.0.0.1", 9000, True),
        ("127.0.0.1:9000", "127.0.0.1", 9001, False),
        ("127.0.0.1:9000", "2130706433", 9000, True),  # the same address, however written
        ("10.0.0.0/8", "10.20.30.40", 443, True),
        ("10.0.0.0/8", "172.16.0.1", 443, False),
        ("[::1]:8443", "[::1]", 8443, True),
        ("[::1]:8443", "[::1]", 8444, False),
        ("localhost", "localhost", 5, True),
        ("localhost:80", "localhost", 81, False),
        ("localhost", "127.0.0.1", 80, False),  # a name admits that name, not its address written out
    ],
)
async def test_the_allowlist_admits_networks_names_and_ports(entry: str, host: str, port: int, admitted: bool) -> None:
    policy = OutboundPolicy([entry])
    if admitted:
        assert await policy.addresses(host, port)
    else:
        with pytest.raises(OutboundRefused):
            await policy.addresses(host, port)


@pytest.mark.parametrize("entry", ["", "10.0.0.0/33", "host:99999", "[::1", "user@host", "a/b"])
def test_a_bad_allowlist_entry_is_refused_at_start(entry: str) -> None:
    with pytest.raises(ValueError):
        Rule.parse(entry)


async def test_the_connection_goes_to_the_address_that_was_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    """DNS rebinding: a name that answers a public address to the check and loopback a moment later. The
    connector uses the one lookup the policy vetted; a second lookup never happens."""
    answers = iter(["93.184.216.34", "127.0.0.1", "127.0.0.1"])
    lookups: list[str] = []

    async def rebinding(host: str, port: int, **_: Any) -> list[tuple[Any, ...]]:
        address = next(answers)
        lookups.append(address)
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))]

    monkeypatch.setattr(asyncio.get_running_loop(), "getaddrinfo", rebinding)
    resolved = await GuardedResolver(OutboundPolicy()).resolve("rebind.example", 443)
    assert [r["host"] for r in resolved] == ["93.184.216.34"] and lookups == ["93.184.216.34"]
    with pytest.raises(OutboundRefused):  # the next lookup, now loopback, is refused in its turn
        await GuardedResolver(OutboundPolicy()).resolve("rebind.example", 443)


async def _listener(app: web.Application) -> tuple[web.AppRunner, int]:
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner, port


async def test_aiohttp_and_requests_reach_only_admitted_listeners_and_follow_no_redirect_inward() -> None:
    hits: list[str] = []

    async def inner(request: web.Request) -> web.Response:
        hits.append(request.path)
        return web.Response(text="internal secret")

    inner_app = web.Application()
    inner_app.router.add_get("/{tail:.*}", inner)
    inner_runner, inner_port = await _listener(inner_app)

    async def bounce(request: web.Request) -> web.Response:
        raise web.HTTPFound(f"http://localhost:{inner_port}/secret")

    outer_app = web.Application()
    outer_app.router.add_get("/", bounce)
    outer_runner, outer_port = await _listener(outer_app)
    policy = OutboundPolicy([f"127.0.0.1:{outer_port}"], public=False)
    try:
        connector = aiohttp.TCPConnector(resolver=GuardedResolver(policy))
        async with aiohttp.ClientSession(connector=connector) as http:
            with pytest.raises(aiohttp.ClientConnectorError):  # a name that resolves to the unlisted port
                await http.get(f"http://localhost:{inner_port}/direct")
            with pytest.raises(aiohttp.ClientConnectorError):  # a redirect inward is refused at its hop
                await http.get(f"http://127.0.0.1:{outer_port}/")
        # requests (the GCS client's transport) follows redirects by default: each hop passes the policy
        session = requests.Session()
        session.mount("http://", GuardedAdapter(policy))
        with pytest.raises(requests.ConnectionError):
            await asyncio.to_thread(session.get, f"http://127.0.0.1:{outer_port}/", timeout=5)
        with pytest.raises(requests.ConnectionError):
            await asyncio.to_thread(session.get, f"http://127.0.0.1:{inner_port}/", timeout=5)
        assert hits == []  # the internal listener was never reached
    finally:
        await outer_runner.cleanup()
        await inner_runner.cleanup()


def test_urls_are_logged_by_their_origin_only() -> None:
    assert origin_only("https://user:pw@hooks.example:8443/t/SECRET?token=abc") == "https://hooks.example:8443"
    assert origin_only("http://[::1]/x") == "http://[::1]:80"
