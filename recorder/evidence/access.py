"""The access log: every link issued, file served, composition requested, verification, hold, release and
deletion, with who asked (client or key, user, roles), the organization and application, the object and the
time. Rows are appended in batches by one writer task (a request never waits for the log), each chained to the
previous row of its organization by SHA-256, so a row removed or edited shows: `check` says where."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from contextvars import ContextVar
from dataclasses import dataclass
from enum import StrEnum

from recorder.clock import now
from recorder.persistence.ports import AccessEntry, AccessQuery, EvidenceStore
from recorder.tasks import TaskSet

logger = logging.getLogger(__name__)
FLUSH_SECONDS = 10.0  # a read of the log waits this long at most for the rows recorded before it


class Action(StrEnum):
    LINK_ISSUED = "LINK_ISSUED"  # a URL of a stored file handed to a caller
    FILE_SERVED = "FILE_SERVED"  # a signed link followed (object: the file; caller: whom the link was issued to)
    COMPOSITION_REQUESTED = "COMPOSITION_REQUESTED"
    VERIFIED = "VERIFIED"  # a recording's objects re-read and re-hashed
    HOLD_PLACED = "HOLD_PLACED"
    HOLD_RELEASED = "HOLD_RELEASED"
    DELETED = "DELETED"  # detail: the receipt's id


@dataclass(frozen=True)
class Actor:
    """Who acts: a client or API key (by name), its roles, and the user it acts for when it says."""

    name: str
    type: str  # CLIENT | API_KEY | LINK (a signed link's holder) | FACADE | SERVICE (the recorder itself)
    roles: tuple[str, ...] = ()
    user_id: str | None = None


SERVICE = Actor("recorder", "SERVICE")
ACTOR: ContextVar[Actor] = ContextVar("evidence_actor", default=SERVICE)  # set by the edge for each request


@dataclass(frozen=True)
class ChainCheck:
    intact: bool
    rows: int
    broken_at: int | None = None  # the first row whose chain does not hold
    problem: str | None = None


class AccessLog:
    def __init__(self, store: EvidenceStore, batch: int = 500) -> None:
        self._store = store
        self._batch = batch
        self._pending: list[AccessEntry] = []
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._tasks = TaskSet("access-log")

    def start(self) -> None:
        self._tasks.spawn(self._writer(), name="access-log")

    def record(
        self,
        action: Action,
        organization_id: str,
        *,
        application_id: str | None = None,
        conversation_id: str | None = None,
        recorder_id: str | None = None,
        object: str | None = None,
        detail: str | None = None,
        actor: Actor | None = None,
    ) -> None:
        """Log one access (written within moments, in order; never blocks the caller)."""
        who = actor or ACTOR.get()
        entry = AccessEntry(
            organization_id,
            application_id,
            now(),
            action.value,
            who.name,
            who.type,
            who.roles,
            who.user_id,
            conversation_id,
            recorder_id,
            object,
            detail,
        )
        self._pending.append(entry)
        self._idle.clear()
        self._wake.set()

    async def _writer(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._pending:
                batch, self._pending = self._pending[: self._batch], self._pending[self._batch :]
                try:
                    await self._store.append(batch)
                except Exception:  # the database is away: keep the rows, in order, and try again
                    logger.exception("access log: %d rows not written yet; trying again", len(batch))
                    self._pending[:0] = batch
                    await asyncio.sleep(1.0)
            if not self._pending:
                self._idle.set()

    async def flush(self) -> None:
        """Wait (up to `FLUSH_SECONDS`) until every row recorded so far is written."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(FLUSH_SECONDS):
                await self._idle.wait()

    async def aclose(self) -> None:
        await self.flush()
        await self._tasks.aclose()

    async def query(self, query: AccessQuery) -> list[AccessEntry]:
        await self.flush()
        return await self._store.access(query)

    async def check(self, organization_id: str, page: int = 5000) -> ChainCheck:
        """Walk the organization's chain: each row's `prev` is its predecessor's hash and its hash is its own."""
        await self.flush()
        prev, after, rows = "", 0, 0
        while batch := await self._store.access_chain(organization_id, after, page):
            for row in batch:
                rows += 1
                if row.prev != prev:
                    why = "the row before it was removed or changed" if rows > 1 else "rows before it were removed"
                    return ChainCheck(False, rows, row.seq, why)
                if row.chained(prev).hash != row.hash:
                    return ChainCheck(False, rows, row.seq, "the row was changed after it was written")
                prev, after = row.hash, row.seq
        return ChainCheck(True, rows)
