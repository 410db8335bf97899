"""What the tests build: the service's settings and clients, the test keys, the fake conference's rooms, and
the records the persistence contract suites store. Fixtures stay in the conftest modules; test modules import
these from here."""

from __future__ import annotations

import itertools
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

from pytest_aiohttp import AiohttpClient

from api.app import create_app
from api.credentials import hash_secret, sha256_hash
from recorder.conference.base import Conference, ConferenceError
from recorder.conference.factory import Rooms
from recorder.models import (
    Composition,
    CompositionState,
    CompositionType,
    Layout,
    MediaKind,
    Recording,
    RecordingState,
    Stream,
    StreamState,
    Track,
    UploadJob,
    UploadKind,
)
from recorder.persistence.store import Store
from recorder.settings import ApplicationSettings, Settings
from tests.client import ApiClient
from tests.fakes import FakeConference

Client = ApiClient


ROOMS = list(range(1001, 1041))


_room_numbers = itertools.count()


def new_room() -> int:
    """A VideoRoom room no test used last (they are taken in turn)."""
    return ROOMS[next(_room_numbers) % len(ROOMS)]


# API keys of the tests: organization org1 (by role, and one with every role) and org2 (every role)
KEYS = {
    "all": "test-key-org1-all-roles-000000000000",
    "AGENT": "test-key-org1-agent-0000000000000000",
    "SUPERVISOR": "test-key-org1-supervisor-00000000000",
    "ADMIN": "test-key-org1-admin-0000000000000000",
    "SERVICE": "test-key-org1-service-00000000000000",
    "AUDITOR": "test-key-org1-auditor-00000000000000",
    "other": "test-key-org2-all-roles-000000000000",
}


ALL_ROLES = ["AGENT", "SUPERVISOR", "ADMIN", "SERVICE", "AUDITOR"]


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


async def make_client(aiohttp_client: AiohttpClient, settings: Settings, rooms: Rooms | None = None) -> Client:
    """A test client of the app that sends org1's every-role key unless a request says otherwise."""
    return ApiClient(await aiohttp_client(create_app(settings, rooms), headers=auth("all")))


NO_ROOM = "999999"  # the fake conference's room that does not exist


def fake_room(app: ApplicationSettings, conference_id: str) -> Conference:
    """The fake conference: an empty room that joins at once, except NO_ROOM, which does not exist."""
    if conference_id == NO_ROOM:
        return FakeConference(refuse=ConferenceError("ROOM_NOT_FOUND", f"room {conference_id} does not exist"))
    return FakeConference()


Opener = Callable[[], Awaitable[Store]]


T0 = datetime(2026, 11, 21, 10, 0, 0, tzinfo=UTC)


def recording(conversation: str = "c1", org: str = "org1", instance: str = "i1", **fields: object) -> Recording:
    values: dict[str, object] = {
        "recorder_id": str(uuid.uuid4()),
        "conversation_id": conversation,
        "instance_id": instance,
        "organization_id": org,
        "application_id": "app1",
        "conference_id": "1234",
        "audio": True,
        "video": False,
        "state": RecordingState.INITIALISED,
        "created": T0,
        "lease_until": time.time() + 30,
        **fields,
    }
    return Recording(**values)  # type: ignore[arg-type]


def stream(recorder_id: str, stream_id: str = "s1") -> Stream:
    return Stream(stream_id, recorder_id, f"pub-{stream_id}", "CAM", "u1", StreamState.RECORDING, T0)


def track(track_id: str = "t1", stream_id: str = "s1", **fields: object) -> Track:
    values: dict[str, object] = {
        "id": track_id,
        "stream_id": stream_id,
        "kind": MediaKind.VIDEO,
        "started": T0,
        "local_location": f"/spool/{track_id}.webm",
        "writer": "i1",
        **fields,
    }
    return Track(**values)  # type: ignore[arg-type]


async def live_with_stream(store: Store, conversation: str = "c1") -> Recording:
    """A live recording with one stream `s1`."""
    r, _ = await store.recordings.create_or_get_live(recording(conversation))
    await store.recordings.save_stream(stream(r.recorder_id))
    return r


def upload(recorder_id: str, key: str, owner: str | None = "i1", **fields: object) -> UploadJob:
    values: dict[str, object] = {
        "application_id": "app1",
        "recorder_id": recorder_id,
        "kind": UploadKind.TRACK,
        "subject": "t1",
        "source": f"/spool/{key}",
        "key": key,
        "size": 5_000_000_000,  # more than 32 bits
        "md5": "0" * 32,
        "created": T0,
        "next_attempt": T0,
        "origin": owner,
        "owner": owner,
        **fields,
    }
    return UploadJob(**values)  # type: ignore[arg-type]


def composition(priority: int = 1, created: datetime = T0, **fields: object) -> Composition:
    values: dict[str, object] = {
        "id": str(uuid.uuid4()),
        "organization_id": "org1",
        "application_id": "app1",
        "conversation_id": "c1",
        "name": "n",
        "type": CompositionType.VIDEO,
        "width": 640,
        "height": 480,
        "layout": Layout.GRID,
        "priority": priority,
        "state": CompositionState.QUEUED,
        "created": created,
        **fields,
    }
    return Composition(**values)  # type: ignore[arg-type]
