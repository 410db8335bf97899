"""One way to wait for something in a test: ask again until it holds, or fail saying what was last seen."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")


async def eventually(
    probe: Callable[[], Awaitable[T]],
    done: Callable[[T], object] = bool,
    *,
    within: float = 30.0,
    every: float = 0.05,
    what: str = "the condition",
) -> T:
    """Call `probe` until `done(value)` is true (every `every` s); the value. An AssertionError names `what` and
    the last value when `within` s have passed."""
    deadline = time.monotonic() + within
    while True:
        value = await probe()
        if done(value):
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not hold within {within} s; last seen: {value!r}")
        await asyncio.sleep(every)


def eventually_sync(
    probe: Callable[[], T], done: Callable[[T], object] = bool, *, within: float = 30.0, every: float = 0.1, what: str
) -> T:
    """`eventually` for code outside an event loop (a process started by a fixture)."""
    deadline = time.monotonic() + within
    while True:
        value = probe()
        if done(value):
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not hold within {within} s; last seen: {value!r}")
        time.sleep(every)


def wait_listening(
    port: int, process: subprocess.Popen[Any], what: str, within: float = 30.0, log: Path | None = None
) -> None:
    """Until `process` listens on 127.0.0.1:`port`; an AssertionError (with the end of `log`) when it exits
    first or takes too long."""

    def tail() -> str:
        return f":\n{log.read_text(errors='replace')[-3000:]}" if log is not None and log.exists() else ""

    def listening() -> bool:
        assert process.poll() is None, f"{what} exited at start{tail()}"
        with socket.socket() as probe:
            return probe.connect_ex(("127.0.0.1", port)) == 0

    try:
        eventually_sync(listening, within=within, what=f"{what} listening on {port}")
    except AssertionError as exc:
        raise AssertionError(f"{exc}{tail()}") from None
