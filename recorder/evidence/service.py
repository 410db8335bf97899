"""The evidence capability as the API sees it: the ledger, the access log, holds and deletions, and the loop of
chores (seals, digests, then the retention of recordings) that one instance at a time runs."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from recorder.evidence.access import AccessLog
from recorder.evidence.holds import Deletions, Holds
from recorder.evidence.ledger import Ledger

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Evidence:
    ledger: Ledger
    access: AccessLog
    holds: Holds
    deletions: Deletions
    interval_seconds: float

    async def start(self) -> None:
        await self.ledger.start()
        self.access.start()

    async def chores(self, force_digest: bool = False) -> None:
        """One round (this instance's, if it holds the chore): seals, digests, retention."""
        if await self.ledger.chores(force_digest):
            await self.deletions.sweep()

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self.interval_seconds)
            try:
                await self.chores()
            except Exception:
                logger.exception("evidence: a round failed; the next one tries again")

    async def aclose(self) -> None:
        await self.access.aclose()
