from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from pytest_aiohttp import AiohttpClient

from api.app import create_app
from recorder.settings import Settings
from tests.janus_host import JanusHost, start_janus

Client = TestClient[web.Request, web.Application]
ROOMS = list(range(1001, 1041))
_room_numbers = itertools.count()


@pytest.fixture(scope="session")
def janus() -> Iterator[JanusHost]:
    host = start_janus(ROOMS)  # raises with the reason when Janus cannot start: never skipped
    yield host
    host.stop()


@pytest.fixture
def room() -> int:
    """A VideoRoom room of its own for each test."""
    return ROOMS[next(_room_numbers) % len(ROOMS)]


def make_settings(tmp_path: Path, janus_url: str, **overrides: object) -> Settings:
    return Settings.model_validate(
        {
            "data_dir": tmp_path / "data",
            "url_signing_key": "test-signing-key-0123456789",
            "start_timeout_seconds": 10,
            "conference_request_timeout_seconds": 5,
            "applications": [
                {
                    "id": "app1",
                    "organization_id": "org1",
                    "janus": {"url": janus_url},
                    "storage": {"provider": "LOCAL_STORAGE", "path": str(tmp_path / "storage")},
                },
            ],
            **overrides,
        }
    )


@pytest.fixture
async def client(aiohttp_client: AiohttpClient, tmp_path: Path, janus: JanusHost) -> Client:
    return await aiohttp_client(create_app(make_settings(tmp_path, janus.url)))


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session
