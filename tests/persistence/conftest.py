"""The persistence ports' contract suites run against both databases: SQLite (a file) and a real PostgreSQL
server. Two stores opened on the same database stand for two instances."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

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
from recorder.persistence.database import Database, PostgresDatabase, SqliteDatabase
from recorder.persistence.migrations import migrate
from recorder.persistence.store import Store

Opener = Callable[[], Awaitable[Store]]
T0 = datetime(2026, 11, 21, 10, 0, 0, tzinfo=UTC)


@pytest.fixture(params=["sqlite", "postgresql"])
async def opener(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Opener]:
    """Opens stores on one new database (each call: another instance's connection)."""
    opened: list[Database] = []
    if request.param == "sqlite":  # one process per SQLite file: instances there share its one connection
        shared = await SqliteDatabase.open(tmp_path / "recorder.sqlite3")
        opened.append(shared)

        async def database() -> Database:
            return shared
    else:
        url = await request.getfixturevalue("postgres").new_database()

        async def database() -> Database:
            opened.append(await PostgresDatabase.open(url))
            return opened[-1]

    async def open_one() -> Store:
        db = await database()
        await migrate(db)
        return Store.on(db)

    yield open_one
    for db in opened:
        await db.aclose()


@pytest.fixture
async def store(opener: Opener) -> Store:
    return await opener()


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
