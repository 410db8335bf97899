"""One log context: the ids of the thing being worked on, on every log line written while working on it.

`bind(recorderId=..., conversationId=...)` sets ids in the current context (a task's own: asyncio copies the
context into every task it creates, so what a recording's task starts carries its ids too). `install()` makes
every `LogRecord` carry the ids as attributes (`record.recorderId`, ...), whoever logs it, with `instanceId`
defaulting to this process's instance. The JSON formatter writes them out.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from contextvars import ContextVar
from typing import Any

FIELDS = ("recorderId", "conversationId", "compositionId", "instanceId")
# storage clients that write request headers (credentials, signed URLs) at DEBUG: never below INFO here
CREDENTIAL_LOGGERS = ("botocore", "aiobotocore", "boto3", "s3transfer", "urllib3", "azure", "google", "asyncssh")

_ids: ContextVar[dict[str, str]] = ContextVar("log_ids", default={})  # noqa: B039 (never mutated: replaced)
_process: dict[str, str] = {}
_installed = False


def bind(**ids: str | None) -> None:
    """Add these ids (None: leave out) to the current context."""
    _ids.set({**_ids.get(), **{k: v for k, v in ids.items() if v is not None}})


def install(instance_id: str) -> None:
    """Every log record from now on carries the context's ids (once per process; the instance id is updated).
    The storage clients' loggers stay at INFO or above: at DEBUG they write credentials."""
    global _installed
    _process["instanceId"] = instance_id
    for name in CREDENTIAL_LOGGERS:
        library = logging.getLogger(name)
        if library.level < logging.INFO:  # (NOTSET too: whatever the root's level becomes)
            library.setLevel(logging.INFO)
    if _installed:
        return
    _installed = True
    factory = logging.getLogRecordFactory()

    def record(*args: Any, **kwargs: Any) -> logging.LogRecord:
        entry = factory(*args, **kwargs)
        for name, value in (_process | _ids.get()).items():
            if name not in entry.__dict__:
                entry.__dict__[name] = value
        return entry

    logging.setLogRecordFactory(record)


@contextlib.contextmanager
def scope(**ids: str | None) -> Iterator[None]:
    """These ids on the log lines written inside the block (then the context is as before)."""
    token = _ids.set({**_ids.get(), **{k: v for k, v in ids.items() if v is not None}})
    try:
        yield
    finally:
        _ids.reset(token)
