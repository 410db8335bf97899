"""Readiness: whether this instance should be sent new recordings, and if not, why."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from recorder.persistence.database import Database
from recorder.settings import Settings

DATABASE_TIMEOUT = 2.0  # seconds the database gets to answer a readiness probe


class Readiness:
    def __init__(
        self,
        settings: Settings,
        database: Database,
        room: Callable[[], Awaitable[int]],
        draining: Callable[[], bool],
    ) -> None:
        """`room`: the bytes the spool has left; `draining`: whether the instance is shutting down."""
        self._settings = settings
        self._database = database
        self._room = room
        self._draining = draining

    async def reasons(self) -> list[str]:
        """Why the instance is not ready (empty: it is): the database does not answer, it is shutting down,
        or its spool is within its headroom."""
        reasons = []
        try:
            await asyncio.wait_for(self._database.fetch("SELECT 1"), DATABASE_TIMEOUT)
        except Exception as exc:  # whatever the driver raises: not ready, and say what
            reasons.append(f"the database does not answer: {type(exc).__name__}: {exc}".rstrip(": "))
        if self._draining():
            reasons.append("the instance is shutting down")
        room = await self._room()
        if room < self._settings.spool_headroom_bytes:
            reasons.append(
                f"the spool has {max(room, 0)} bytes left, less than its headroom of "
                f"{self._settings.spool_headroom_bytes}"
            )
        return reasons
