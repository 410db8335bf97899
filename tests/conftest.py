"""The fixtures: the servers the tests start (Janus, PostgreSQL, the storage servers), the app and its clients,
and the tiers the fixtures mark. What the tests build is in tests/builders.py."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiohttp
import pytest
from pytest_aiohttp import AiohttpClient

from tests.builders import (
    ROOMS,
    Client,
    fake_room,
    make_client,
    make_settings,
    new_room,
)
from tests.janus_host import JanusHost, start_janus
from tests.postgres import PostgresServer, start_postgres
from tests.storage_servers import Servers

# Tiers, marked by the fixtures a test uses (directly or through another fixture): `pytest -m "not slow"` runs
# the in-process tier in seconds; the README's test command runs everything.
TIERS = {
    "janus": {"janus", "janus_guids", "janus_restartable"},  # a Janus in a network namespace
    "postgres": {"postgres", "own_postgres"},  # a PostgreSQL server
    "storage": {"servers"},  # moto, s3rver, Azurite, fake-gcs-server, OpenSSH
    "browser": {"browser"},  # headless Chromium
    "process": {"cluster", "live", "service", "venv"},  # the service as processes of its own
}


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    """The schemathesis module draws its cases while it is collected (about 25 s on 2 cores): a run that leaves
    the slow tier out (its test runs the service as a process) does not collect it."""
    if collection_path.name == "test_schemathesis.py" and "not slow" in (config.option.markexpr or ""):
        return True
    return None


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        used = set(getattr(item, "fixturenames", ()))
        callspec = getattr(item, "callspec", None)
        if callspec is not None and "postgresql" in callspec.params.values():  # the contract suites' opener
            used.add("postgres")
        marked = {mark.name for mark in item.iter_markers()}
        tiers = [tier for tier, fixtures in TIERS.items() if used & fixtures or tier in marked]
        for tier in tiers:
            item.add_marker(tier)
        if tiers:
            item.add_marker("slow")


@pytest.fixture(scope="session")
def janus() -> Iterator[JanusHost]:
    host = start_janus(ROOMS)  # raises with the reason when Janus cannot start: never skipped
    yield host
    host.stop()


@pytest.fixture
def room() -> int:
    """A VideoRoom room of its own for each test."""
    return new_room()


@pytest.fixture
async def client(aiohttp_client: AiohttpClient, tmp_path: Path, janus: JanusHost) -> Client:
    return await make_client(aiohttp_client, make_settings(tmp_path, janus.url))


@pytest.fixture
async def app_client(aiohttp_client: AiohttpClient, tmp_path: Path) -> Client:
    """The app with the fake conference instead of Janus (no server started): for what needs no media."""
    return await make_client(aiohttp_client, make_settings(tmp_path, "http://127.0.0.1:9/janus"), fake_room)


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture(scope="session")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Servers]:
    running = Servers(tmp_path_factory.mktemp("storage-servers"))
    try:
        running.start()
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    server = start_postgres()  # raises with the reason when PostgreSQL cannot start: never skipped
    yield server
    server.stop()
