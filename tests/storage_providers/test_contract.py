"""One behavioural contract, run against every provider and a real server of its kind."""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, urlsplit

import aiohttp
import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding

from recorder.outbound import OutboundPolicy
from storage_providers.base import (
    DestinationError,
    ObjectNotFoundError,
    StorageProvider,
    TransientStorageError,
)
from storage_providers.registry import create_provider
from tests.storage_servers import KINDS, Servers, free_port

pytestmark = pytest.mark.timeout(300)
MiB = 1 << 20


# as the service makes them: every connection through the outbound policy, which admits the test servers'
# address (127.0.0.1) and nothing else
GUARD = OutboundPolicy(["127.0.0.1"], public=False)


@pytest.fixture(params=KINDS)
async def provider(request: pytest.FixtureRequest, servers: Servers) -> AsyncIterator[StorageProvider]:
    async with create_provider(servers.profile(request.param), GUARD) as opened:
        yield opened


@pytest.mark.parametrize("kind", [k for k in KINDS if k != "local"])
async def test_a_destination_the_policy_refuses_is_never_reached(servers: Servers, kind: str) -> None:
    async with create_provider(servers.profile(kind), OutboundPolicy([], public=False)) as refused:
        with pytest.raises(DestinationError, match="not a permitted destination"):
            await refused.check_destination()
        verification = await refused.verify(1024, 0)
        assert not verification.bucket.passed and "not a permitted destination" in verification.bucket.message


def _file(directory: Path, size: int) -> tuple[Path, bytes]:
    data = os.urandom(size)
    path = directory / f"source-{size}"
    path.write_bytes(data)
    return path, data


@pytest.mark.parametrize("size", [1024, 50 * MiB], ids=["1KiB", "50MiB"])
async def test_upload_then_download_gives_the_same_bytes(provider: StorageProvider, tmp_path: Path, size: int) -> None:
    source, data = _file(tmp_path, size)
    key = f"contract/{size}/track.webm"
    await provider.upload(source, key)

    stored = await provider.stat(key)
    assert stored is not None and stored.size == size
    if stored.md5 is not None:
        assert stored.md5 == hashlib.md5(data).hexdigest()
    assert hashlib.sha256(await provider.read(key)).digest() == hashlib.sha256(data).digest()

    await provider.delete(key)
    assert await provider.stat(key) is None
    await provider.delete(key)  # deleting what is not there is not an error


async def test_a_second_upload_replaces_the_object(provider: StorageProvider, tmp_path: Path) -> None:
    await provider.upload_bytes(b"first version", "contract/replace.json")
    await provider.upload_bytes(b"second", "contract/replace.json")
    assert await provider.read("contract/replace.json") == b"second"
    await provider.delete("contract/replace.json")


async def test_byte_ranges(provider: StorageProvider) -> None:
    data = os.urandom(3 * MiB + 17)
    await provider.upload_bytes(data, "contract/ranges.bin")
    try:

        async def span(start: int, end: int | None) -> bytes:
            return b"".join([piece async for piece in provider.read_range("contract/ranges.bin", start, end)])

        assert await span(0, 10) == data[:10]
        assert await span(1000, 1001) == data[1000:1001]
        assert await span(MiB - 3, 2 * MiB + 5) == data[MiB - 3 : 2 * MiB + 5]
        assert await span(len(data) - 100, None) == data[-100:]
        assert await span(0, None) == data
    finally:
        await provider.delete("contract/ranges.bin")


async def test_a_missing_object(provider: StorageProvider) -> None:
    assert await provider.stat("contract/missing.bin") is None
    with pytest.raises(ObjectNotFoundError):
        await provider.read("contract/missing.bin")


async def test_signed_links_download_without_credentials(provider: StorageProvider) -> None:
    await provider.upload_bytes(b"signed link body", "contract/linked file.txt")
    try:
        url = await provider.signed_url("contract/linked file.txt", timedelta(minutes=5))
        if provider.provider in ("LOCAL_STORAGE", "SFTP_STORAGE"):
            assert url is None  # the service hands out and serves its own links (tests/api)
            return
        assert url is not None
        async with aiohttp.ClientSession() as http, http.get(url) as answer:
            assert answer.status == 200, await answer.text()
            assert await answer.read() == b"signed link body"
    finally:
        await provider.delete("contract/linked file.txt")


@pytest.mark.parametrize("kind", ["s3rver", "azurite"])
async def test_expired_links_are_refused(servers: Servers, kind: str) -> None:
    async with create_provider(servers.profile(kind)) as provider:
        await provider.upload_bytes(b"short-lived", "contract/expiring.txt")
        url = await provider.signed_url("contract/expiring.txt", timedelta(seconds=1))
        assert url is not None
        async with aiohttp.ClientSession() as http:
            async with http.get(url) as answer:
                assert answer.status == 200
            await asyncio.sleep(2.2)
            async with http.get(url) as answer:
                assert answer.status == 403, await answer.text()
        await provider.delete("contract/expiring.txt")


async def test_gcs_links_carry_a_valid_v4_signature(servers: Servers) -> None:
    """fake-gcs-server does not check signatures: check the signature offline, as GCS would."""
    async with create_provider(servers.profile("gcs")) as provider:
        url = await provider.signed_url("contract/some track.webm", timedelta(minutes=10))
    assert url is not None
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    assert query["X-Goog-Algorithm"] == "GOOG4-RSA-SHA256" and query["X-Goog-Expires"] == "600"
    signature = bytes.fromhex(query.pop("X-Goog-Signature"))
    canonical_query = "&".join(f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in sorted(query.items()))
    scope = query["X-Goog-Credential"].split("/", 1)[1]

    def string_to_sign(path: str) -> bytes:
        request = "\n".join(
            ["GET", path, canonical_query, f"host:{parts.netloc}\n", query["X-Goog-SignedHeaders"], "UNSIGNED-PAYLOAD"]
        )
        digest = hashlib.sha256(request.encode()).hexdigest()
        return "\n".join(["GOOG4-RSA-SHA256", query["X-Goog-Date"], scope, digest]).encode()

    assert parts.path == "/recordings/contract/some%20track.webm"
    servers.gcs_public_key.verify(signature, string_to_sign(parts.path), padding.PKCS1v15(), hashes.SHA256())
    with pytest.raises(InvalidSignature):  # the signature covers the object's name
        servers.gcs_public_key.verify(
            signature, string_to_sign("/recordings/contract/other.webm"), padding.PKCS1v15(), hashes.SHA256()
        )


async def test_verify_passes_and_leaves_nothing_behind(provider: StorageProvider) -> None:
    result = await provider.verify()
    for name, check in vars(result).items():
        assert check.passed, f"{name}: {check.message}"
    assert "deleted" in result.delete.message
    key = result.write.message.removeprefix("wrote ")
    assert await provider.stat(key) is None
    probe = result.throughput  # 1 MiB up, then down; the slower direction decides
    assert probe.bytes_transferred == 2 << 20 and probe.duration_millis > 0, probe
    assert probe.mbps >= 5 and "Upload" in probe.message and "Download" in probe.message, probe
    print(f"{provider.provider} {provider.url}: {probe.message}, {probe.duration_millis} ms")


async def test_a_storage_slower_than_the_minimum_fails_the_throughput_test(provider: StorageProvider) -> None:
    result = await provider.verify(probe_bytes=64 << 10, min_mbps=1e9)
    assert result.delete.passed
    probe = result.throughput
    assert not probe.passed and "below the 1e+09 Mbps needed" in probe.message, probe
    assert probe.bytes_transferred == 128 << 10 and 0 < probe.mbps < 1e9


BAD_CREDENTIALS: dict[str, dict[str, Any]] = {
    # s3rver checks the access key id (and the signature of presigned links only)
    "s3rver": {"credentials": {"accessKeyId": "NOT-KNOWN", "secretAccessKey": "wrong"}},
    "azurite": {"credentials": {"accountKey": "d3Jvbmc="}},
    "sftp": {"credentials": {"password": "wrong"}},
}


@pytest.mark.parametrize("kind", sorted(BAD_CREDENTIALS))
async def test_bad_credentials_fail_the_bucket_test_with_a_reason(servers: Servers, kind: str) -> None:
    async with create_provider(servers.profile(kind, **BAD_CREDENTIALS[kind])) as provider:
        result = await provider.verify()
        with pytest.raises(DestinationError):
            await provider.upload_bytes(b"x", "contract/refused.txt")
    assert not result.bucket.passed
    assert any(word in result.bucket.message for word in ("access key", "account key", "refused the login")), (
        result.bucket.message
    )
    assert result.write.message.startswith("not run")
    assert not result.throughput.passed and result.throughput.message.startswith("not run")


MISSING_BUCKET: dict[str, dict[str, Any]] = {
    "moto": {"bucket": "no-such-bucket"},
    "azurite": {"container": "no-such-container"},
    "gcs": {"bucket": "no-such-bucket"},
    "sftp": {"path": "/no/such/folder"},
}


@pytest.mark.parametrize("kind", sorted(MISSING_BUCKET))
async def test_a_missing_bucket_is_named(servers: Servers, kind: str) -> None:
    async with create_provider(servers.profile(kind, **MISSING_BUCKET[kind])) as provider:
        result = await provider.verify()
    assert not result.bucket.passed
    assert "exist" in result.bucket.message or "not a folder" in result.bucket.message, result.bucket.message


UNREACHABLE: dict[str, dict[str, Any]] = {
    "moto": {"endpointUrl": "http://127.0.0.1:{port}"},
    "azurite": {"endpointUrl": "http://127.0.0.1:{port}/devstoreaccount1"},
    "gcs": {"endpointUrl": "http://127.0.0.1:{port}"},
    "sftp": {"port": "{port}"},
}


@pytest.mark.parametrize("kind", sorted(UNREACHABLE))
async def test_a_server_that_does_not_answer_is_a_transient_fault(servers: Servers, kind: str, tmp_path: Path) -> None:
    port = free_port()
    extra = {k: v.format(port=port) for k, v in UNREACHABLE[kind].items()}
    async with create_provider(servers.profile(kind, **extra)) as provider:
        with pytest.raises(TransientStorageError, match=f"127.0.0.1:{port}"):
            await provider.upload_bytes(b"x", "contract/nowhere.txt")
        result = await provider.verify()
    assert not result.bucket.passed and "did not answer" in result.bucket.message


async def test_sftp_refuses_a_server_without_the_pinned_host_key(servers: Servers) -> None:
    other = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGq4Z3wX0B3g0yQn2m2wQ0p0T3o6tKUb3n1x6v4q5Y8Z"
    async with create_provider(servers.profile("sftp", hostKey=other)) as provider:
        with pytest.raises(DestinationError, match="pinned host key"):
            await provider.upload_bytes(b"x", "contract/never.txt")
