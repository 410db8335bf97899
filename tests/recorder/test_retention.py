"""Retention as the service runs it: each application's own retention decides what goes; storage providers
nobody used for a while are closed, and the next use makes a new one."""

from __future__ import annotations

import time
from pathlib import Path

from recorder.persistence.store import open_store
from recorder.retention import DAY, Retention
from recorder.storage.profiles import StorageProfiles
from recorder.storage.providers import Providers
from tests.builders import make_settings


async def test_each_application_keeps_its_events_as_long_as_its_retention_says(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, "http://127.0.0.1:9/janus")
    app2 = settings.applications[0].model_copy(update={"id": "app2"}, deep=True)
    app2.retention.events_days = 200
    settings.applications.append(app2)
    now = time.time()
    async with await open_store(None, tmp_path / "db.sqlite3") as store:
        for app in ("app1", "app2"):
            await store.database.execute(
                "INSERT INTO events (id, subject, sequence, type, application_id, organization_id, occurred, data)"
                " VALUES (?, ?, 1, 'recording.started', ?, 'org1', ?, '{}')",
                f"old-{app}",
                f"r-{app}",
                app,
                now - 100 * DAY,
            )
        rounds: list[int] = []

        async def after() -> None:
            rounds.append(1)

        pruned = await Retention(settings, store.retention, after).prune(now)
        left = [r["id"] for r in await store.database.fetch("SELECT id FROM events")]
    assert pruned["events"] == 1 and left == ["old-app2"] and rounds == [1]  # app1 keeps 90 days, app2 200


async def test_idle_providers_are_closed_and_made_again_when_used(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, "http://127.0.0.1:9/janus")
    async with await open_store(None, tmp_path / "db.sqlite3") as store:
        providers = Providers(StorageProfiles(settings, store.profiles, b"k" * 32))
        first = providers.get("app1")
        assert providers.get("app1") is first and len(providers) == 1
        assert await providers.evict_idle(idle_seconds=60) == 0  # used just now: kept
        assert await providers.evict_idle(idle_seconds=0) == 0 and len(providers) == 0  # retired, not closed yet
        assert await providers.evict_idle(idle_seconds=0) == 1  # closed a round later
        assert providers.get("app1") is not first
        await providers.aclose()
