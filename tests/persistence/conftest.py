"""The persistence ports' contract suites run against both databases: SQLite (a file) and a real PostgreSQL
server. Two stores opened on the same database stand for two instances."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from recorder.persistence.database import Database, PostgresDatabase, SqliteDatabase
from recorder.persistence.migrations import migrate
from recorder.persistence.store import Store
from tests.builders import Opener


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
