"""Retention: what the service keeps about its work (events, webhook deliveries, upload jobs, per-recording
destinations and their sealed secrets) is pruned once it outlived its application's `retention`, and storage
providers nobody used for a while are closed. Every instance runs it; pruning is safe side by side."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

from recorder.persistence.ports import Cutoffs, RetentionStore
from recorder.settings import Settings

logger = logging.getLogger(__name__)
DAY = 86400.0


class Retention:
    def __init__(
        self, settings: Settings, store: RetentionStore, after: Callable[[], Awaitable[None]] | None = None
    ) -> None:
        self._settings = settings
        self._store = store
        self._after = after  # what else each round does: close idle providers, forget unsealed secrets

    async def prune(self, now: float | None = None) -> dict[str, int]:
        """One round over every application; how many rows of each kind were deleted."""
        now = time.time() if now is None else now
        total: dict[str, int] = {}
        for app in self._settings.applications:
            keep = app.retention
            cutoffs = Cutoffs(
                events=now - keep.events_days * DAY,
                deliveries=now - keep.deliveries_days * DAY,
                upload_jobs=now - keep.upload_jobs_days * DAY,
            )
            pruned = await self._store.prune(app.id, cutoffs)
            if any(pruned.values()):
                logger.info("retention of application %s: deleted %s", app.id, pruned)
            for kind, count in pruned.items():
                total[kind] = total.get(kind, 0) + count
        if self._after is not None:
            await self._after()
        return total

    async def run(self) -> None:
        """Prune every `retention_interval_seconds` (a failed round is logged and tried at the next)."""
        while True:
            await asyncio.sleep(self._settings.retention_interval_seconds)
            try:
                await self.prune()
            except Exception:
                logger.exception("retention: a round failed; the next one tries again")
