"""A UDP port range for the media (`media_port_min`..`media_port_max`): firewalls open that range only.

aioice (under aiortc) binds each ICE host candidate to port 0 and gives no option for a range, so while it
gathers candidates (`Connection.get_component_candidates`), a datagram endpoint asked on port 0 is bound to
the next free port of the range instead. Outside gathering nothing changes. Private API of aioice (pinned
with aiortc), like `recorder.media.hook`.
"""

from __future__ import annotations

import asyncio
import errno
import itertools
from collections.abc import Iterator
from contextvars import ContextVar
from typing import Any

import aioice.ice

_gathering: ContextVar[bool] = ContextVar("gathering", default=False)
_ports: Iterator[int] | None = None
_size = 0
_installed = False


def use_port_range(low: int | None, high: int | None) -> None:
    """Bind media sockets within [low, high] from now on (None: any port, the kernel's choice)."""
    global _ports, _size
    if low is None or high is None:
        _ports, _size = None, 0
        return
    _install()
    _ports, _size = itertools.cycle(range(low, high + 1)), high - low + 1


def _install() -> None:
    global _installed
    if _installed:
        return
    _installed = True
    gather = aioice.ice.Connection.get_component_candidates
    bind = asyncio.BaseEventLoop.create_datagram_endpoint

    async def gather_in_range(self: aioice.ice.Connection, *args: Any, **kwargs: Any) -> Any:
        token = _gathering.set(True)
        try:
            return await gather(self, *args, **kwargs)
        finally:
            _gathering.reset(token)

    async def bind_in_range(self: asyncio.BaseEventLoop, factory: Any, local_addr: Any = None, **kwargs: Any) -> Any:
        ports = _ports
        if ports is None or not _gathering.get() or local_addr is None or local_addr[1] != 0:
            return await bind(self, factory, local_addr=local_addr, **kwargs)
        for _ in range(_size):
            try:
                return await bind(self, factory, local_addr=(local_addr[0], next(ports)), **kwargs)
            except OSError as exc:
                if exc.errno != errno.EADDRINUSE:
                    raise
        raise OSError(errno.EADDRINUSE, f"every UDP port of the media range ({_size} ports) is in use")

    aioice.ice.Connection.get_component_candidates = gather_in_range  # type: ignore[method-assign]
    asyncio.BaseEventLoop.create_datagram_endpoint = bind_in_range  # type: ignore[method-assign,assignment]
