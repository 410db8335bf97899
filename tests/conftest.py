from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiohttp
import pytest
from pytest_aiohttp import AiohttpClient

from api.app import create_app
from api.credentials import hash_secret, sha256_hash
from recorder.settings import Settings
from tests.client import ApiClient
from tests.janus_host import JanusHost, start_janus
from tests.postgres import PostgresServer, start_postgres
from tests.storage_servers import Servers

Client = ApiClient
# Tiers, marked by the fixtures a test uses (directly or through another fixture): `pytest -m "not slow"` runs
# the in-process tier in seconds; the README's test command runs everything.
TIERS = {
    "janus": {"janus", "janus_guids", "janus_restartable"},  # a Janus in a network namespace
    "postgres": {"postgres", "own_postgres"},  # a PostgreSQL server
    "storage": {"servers"},  # moto, s3rver, Azurite, fake-gcs-server, OpenSSH
    "browser": {"browser"},  # headless Chromium
    "process": {"cluster", "live", "service", "venv"},  # the service as processes of its own
}


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


ROOMS = list(range(1001, 1041))
_room_numbers = itertools.count()


@pytest.fixture(scope="session")
def janus() -> Iterator[JanusHost]:
    host = start_janus(ROOMS)  # raises with the reason when Janus cannot start: never skipped
    yield host
    host.stop()


def new_room() -> int:
    """A VideoRoom room no test used last (they are taken in turn)."""
    return ROOMS[next(_room_numbers) % len(ROOMS)]


@pytest.fixture
def room() -> int:
    """A VideoRoom room of its own for each test."""
    return new_room()


# API keys of the tests: organization org1 (by role, and one with every role) and org2 (every role)
KEYS = {
    "all": "test-key-org1-all-roles-000000000000",
    "AGENT": "test-key-org1-agent-0000000000000000",
    "SUPERVISOR": "test-key-org1-supervisor-00000000000",
    "ADMIN": "test-key-org1-admin-0000000000000000",
    "SERVICE": "test-key-org1-service-00000000000000",
    "other": "test-key-org2-all-roles-000000000000",
}
ALL_ROLES = ["AGENT", "SUPERVISOR", "ADMIN", "SERVICE"]
CLIENT_ID, CLIENT_SECRET = "backend", "backend-secret-for-tests"


def api_keys() -> list[dict[str, object]]:
    def key(name: str, org: str, roles: list[str]) -> dict[str, object]:
        return {"name": name, "key_hash": sha256_hash(KEYS[name]), "organization_id": org, "roles": roles}

    return [
        key("all", "org1", ALL_ROLES),
        *(key(role, "org1", [role]) for role in ALL_ROLES),
        key("other", "org2", ALL_ROLES),
    ]


def auth(name: str) -> dict[str, str]:
    """The Authorization header of the test key `name`."""
    return {"Authorization": f"Bearer {KEYS[name]}"}


def make_settings(tmp_path: Path, janus_url: str, **overrides: object) -> Settings:
    return Settings.model_validate(
        {
            "data_dir": tmp_path / "data",
            "url_signing_key": "test-signing-key-0123456789",
            "start_timeout_seconds": 10,
            "conference_request_timeout_seconds": 5,
            "token_signing_key": "test-token-signing-key-0123456789abcdef",
            "spool_reserve_bytes": 1 << 20,
            # the tests' servers (storage, webhook receivers) listen on 127.0.0.1; nothing else is reached
            "outbound_allow": ["127.0.0.1"],
            "outbound_public": False,
            "clients": [
                {
                    "id": CLIENT_ID,
                    "secret_hash": hash_secret(CLIENT_SECRET, log_n=10),
                    "organization_id": "org1",
                    "roles": ["AGENT", "SUPERVISOR"],
                }
            ],
            "api_keys": api_keys(),
            "applications": [
                {
                    "id": "app1",
                    "organization_id": "org1",
                    "janus": {"url": janus_url},
                    "storage": {"provider": "LOCAL_STORAGE", "path": str(tmp_path / "storage")},
                    "coaching": {"jwt_secret": "test-coaching-jwt-secret-0123456789"},
                },
            ],
            **overrides,
        }
    )


async def make_client(aiohttp_client: AiohttpClient, settings: Settings) -> Client:
    """A test client of the app that sends org1's every-role key unless a request says otherwise."""
    return ApiClient(await aiohttp_client(create_app(settings), headers=auth("all")))


@pytest.fixture
async def client(aiohttp_client: AiohttpClient, tmp_path: Path, janus: JanusHost) -> Client:
    return await make_client(aiohttp_client, make_settings(tmp_path, janus.url))


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
