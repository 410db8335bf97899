"""Migrations: each applied once, whoever starts first."""

from __future__ import annotations

import asyncio

from recorder.persistence.migrations import MIGRATIONS, migrate
from tests.builders import Opener


async def test_concurrent_opens_apply_every_migration_once(opener: Opener) -> None:
    first, second = await asyncio.gather(opener(), opener())  # two instances starting together
    assert await migrate(first.database) == []
    rows = await first.database.fetch("SELECT version FROM schema_migrations ORDER BY version")
    assert [row[0] for row in rows] == list(range(1, len(MIGRATIONS) + 1))
    assert second is not first
