"""Background tasks owned in one place: named, kept until they end, cancelled and awaited on close.

Every long-lived loop and every fire-and-forget piece of work of the service runs through a `TaskSet`, so
no task is lost to the garbage collector, none outlives its owner, and an exception is logged (with the log
context of the work that raised it) instead of vanishing.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

logger = logging.getLogger(__name__)


class TaskSet:
    def __init__(self, owner: str) -> None:
        self._owner = owner
        self._tasks: set[asyncio.Task[Any]] = set()

    def spawn(
        self,
        work: Coroutine[Any, Any, None] | Awaitable[None],
        name: str | None = None,
        done: Callable[[asyncio.Task[None]], None] | None = None,
    ) -> asyncio.Task[None]:
        """Run `work` as a task of this set; `done` is called when it ends (however it ends)."""
        task = asyncio.ensure_future(work)
        task.set_name(name or f"{self._owner}-task")
        self._tasks.add(task)
        task.add_done_callback(self._ended)
        if done is not None:
            task.add_done_callback(done)
        return task

    def _ended(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.error("%s: task %s failed", self._owner, task.get_name(), exc_info=task.exception())

    async def wait(self) -> None:
        """Wait until every task (including those started meanwhile) has ended."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def aclose(self) -> None:
        """Cancel every task and wait for each to end."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
