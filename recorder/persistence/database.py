"""The two databases the repository runs on: SQLite (embedded, one file) and PostgreSQL (shared by instances).

Both take the same SQL text with `?` parameters (turned into `$1, $2, ...` for PostgreSQL) and give rows that
are read by column name. Between instances PostgreSQL also carries notifications (LISTEN/NOTIFY); the SQLite
database has one instance, so its notifications stay in the process.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import re
import sqlite3
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any, Protocol

import aiosqlite
import asyncpg

logger = logging.getLogger(__name__)

Listener = Callable[[str], None]  # gets a notification's payload
CLOSE_TIMEOUT = 10.0  # seconds a shutdown waits for the database's connections to be given back


class Row(Protocol):
    def __getitem__(self, key: str | int, /) -> Any: ...


class Connection(ABC):
    """Statements on one database; inside `Database.transaction()` they commit or roll back together."""

    @abstractmethod
    async def fetch(self, sql: str, *args: Any) -> list[Row]: ...

    @abstractmethod
    async def execute(self, sql: str, *args: Any) -> int:
        """Run one statement; how many rows it changed."""

    @abstractmethod
    async def execute_many(self, sql: str, rows: list[tuple[Any, ...]]) -> None:
        """Run one statement for each row of arguments, in one round trip (a large batch never holds the
        database for one round trip a row)."""


class Database(Connection):
    dialect: str

    @abstractmethod
    def transaction(self) -> contextlib.AbstractAsyncContextManager[Connection]: ...

    @abstractmethod
    async def listen(self, channel: str, listener: Listener) -> None: ...

    @abstractmethod
    async def notify(self, channel: str, payload: str) -> None: ...

    async def ensure_listening(self) -> None:
        """Listen again if the connection that listens was lost (nothing to do where there is none)."""

    async def hold(self, name: str) -> bool:
        """Hold a lock named `name` for as long as this process's session with the database lives (the
        database lets it go the moment the process or its host is gone); False when it is not held (another
        session holds it; SQLite: one process, nobody else to watch it)."""
        return False

    async def holders(self, names: list[str]) -> set[str]:
        """Which of `names` some session holds now (SQLite: all of them: there is no other process)."""
        return set(names)

    @abstractmethod
    async def aclose(self) -> None: ...


async def open_database(url: str | None, sqlite_path: Path) -> Database:
    """`postgresql://...` (or `postgres://`): PostgreSQL; None: the SQLite file at `sqlite_path`."""
    if url is None:
        return await SqliteDatabase.open(sqlite_path)
    if url.startswith(("postgresql://", "postgres://")):
        return await PostgresDatabase.open(url)
    raise ValueError("database_url must start with postgresql:// (leave it unset for the embedded SQLite file)")


class _SqliteConnection(Connection):
    def __init__(self, db: aiosqlite.Connection) -> None:
        self._db = db

    async def fetch(self, sql: str, *args: Any) -> list[Row]:
        return list(await self._db.execute_fetchall(sql, args))

    async def execute(self, sql: str, *args: Any) -> int:
        cursor = await self._db.execute(sql, args)
        return cursor.rowcount

    async def execute_many(self, sql: str, rows: list[tuple[Any, ...]]) -> None:
        await self._db.executemany(sql, rows)


class SqliteDatabase(Database):
    """One connection (aiosqlite runs it on a thread of its own); a lock keeps each statement or transaction
    whole, so that one coroutine's commit never takes another's half-done writes with it."""

    dialect = "sqlite"

    def __init__(self, db: aiosqlite.Connection) -> None:
        self._db = db
        self._inner = _SqliteConnection(db)
        self._lock = asyncio.Lock()
        self._listeners: dict[str, list[Listener]] = {}

    @classmethod
    async def open(cls, path: Path) -> SqliteDatabase:
        path.parent.mkdir(parents=True, exist_ok=True)
        db = await aiosqlite.connect(path)
        db.row_factory = sqlite3.Row
        await db.execute("PRAGMA journal_mode=WAL")
        await db.execute("PRAGMA foreign_keys=ON")
        await db.commit()
        return cls(db)

    async def fetch(self, sql: str, *args: Any) -> list[Row]:
        async with self.transaction() as connection:  # UPDATE ... RETURNING comes this way too
            return await connection.fetch(sql, *args)

    async def execute(self, sql: str, *args: Any) -> int:
        async with self.transaction() as connection:
            return await connection.execute(sql, *args)

    async def execute_many(self, sql: str, rows: list[tuple[Any, ...]]) -> None:
        async with self.transaction() as connection:
            await connection.execute_many(sql, rows)

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[Connection]:
        async with self._lock:
            try:
                yield self._inner
            except BaseException:
                await self._db.rollback()
                raise
            await self._db.commit()

    async def listen(self, channel: str, listener: Listener) -> None:
        self._listeners.setdefault(channel, []).append(listener)

    async def notify(self, channel: str, payload: str) -> None:
        for listener in self._listeners.get(channel, []):
            asyncio.get_running_loop().call_soon(listener, payload)

    async def aclose(self) -> None:
        await self._db.close()


_PARAMETER = re.compile(r"\?")
_LIVENESS_LOCKS = 7203  # the advisory locks' first key: instances' liveness locks, by hashtext(instance id)
_LIVENESS_SETTINGS = {
    "tcp_keepalives_idle": "1",
    "tcp_keepalives_interval": "1",
    "tcp_keepalives_count": "2",
    "tcp_user_timeout": "3000",
}


def _numbered(sql: str) -> str:
    """`?` parameters as PostgreSQL's `$1, $2, ...` (our SQL has no `?` inside literals)."""
    counter = itertools.count(1)
    return _PARAMETER.sub(lambda _: f"${next(counter)}", sql)


def _changed(status: str) -> int:
    """Rows changed, from a command status such as `UPDATE 3` or `INSERT 0 1`."""
    last = status.rsplit(" ", 1)[-1]
    return int(last) if last.isdigit() else 0


class _PostgresConnection(Connection):
    def __init__(self, connection: Any) -> None:  # a connection, a pool, or a pool's connection
        self._connection = connection

    async def fetch(self, sql: str, *args: Any) -> list[Row]:
        return list(await self._connection.fetch(_numbered(sql), *args))

    async def execute(self, sql: str, *args: Any) -> int:
        return _changed(await self._connection.execute(_numbered(sql), *args))

    async def execute_many(self, sql: str, rows: list[tuple[Any, ...]]) -> None:
        await self._connection.executemany(_numbered(sql), rows)


class PostgresDatabase(Database):
    """A pool of asyncpg connections, and one more connection that LISTENs (opened again if it is lost)."""

    dialect = "postgresql"

    def __init__(self, url: str, pool: asyncpg.Pool) -> None:
        self._url = url
        self._pool = pool
        self._shared = _PostgresConnection(pool)
        self._listeners: dict[str, list[Listener]] = {}
        self._listening: asyncpg.Connection | None = None
        self._listen_lock = asyncio.Lock()
        self._held: str | None = None  # the lock this process holds on its listening connection

    @classmethod
    async def open(cls, url: str) -> PostgresDatabase:
        pool = await asyncpg.create_pool(url, min_size=1, max_size=10, command_timeout=30)
        return cls(url, pool)

    async def fetch(self, sql: str, *args: Any) -> list[Row]:
        return await self._shared.fetch(sql, *args)

    async def execute(self, sql: str, *args: Any) -> int:
        return await self._shared.execute(sql, *args)

    async def execute_many(self, sql: str, rows: list[tuple[Any, ...]]) -> None:
        await self._shared.execute_many(sql, rows)

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[Connection]:
        async with self._pool.acquire() as connection, connection.transaction():
            yield _PostgresConnection(connection)

    async def listen(self, channel: str, listener: Listener) -> None:
        new = channel not in self._listeners
        self._listeners.setdefault(channel, []).append(listener)
        async with self._listen_lock:
            if new and self._listening is not None and not self._listening.is_closed():
                await self._listening.add_listener(channel, self._dispatch)
        await self.ensure_listening()

    async def ensure_listening(self) -> None:
        """(Re)open the listening connection when it was lost: a notification sent meanwhile is missed, which
        callers cover by also reading the database (heartbeat scans)."""
        async with self._listen_lock:
            if self._listening is not None and not self._listening.is_closed():
                return
            # the server notices a vanished host within about 3 s (keepalives, and unacknowledged data), which
            # ends this session and lets its lock go
            connection = await asyncpg.connect(self._url, server_settings=_LIVENESS_SETTINGS)
            for channel in self._listeners:
                await connection.add_listener(channel, self._dispatch)
            self._listening = connection
        if self._held is not None:
            await self._take(self._held)

    async def hold(self, name: str) -> bool:
        self._held = name
        await self.ensure_listening()
        return await self._take(name)

    async def _take(self, name: str) -> bool:
        async with self._listen_lock:
            if self._listening is None or self._listening.is_closed():
                return False
            held = await self._listening.fetchval(
                "SELECT pg_try_advisory_lock($1, hashtext($2))", _LIVENESS_LOCKS, name
            )  # (taken again by the session that holds it: a no-op that stacks, harmless)
            if not held:
                logger.warning("the liveness lock %s is held by another session", name)
            return bool(held)

    async def holders(self, names: list[str]) -> set[str]:
        rows = await self._pool.fetch(
            "SELECT n FROM unnest($1::text[]) AS n WHERE EXISTS (SELECT 1 FROM pg_locks l WHERE"
            " l.locktype = 'advisory' AND l.granted AND l.classid = $2 AND l.objsubid = 2"
            " AND l.objid::bigint = (hashtext(n)::bigint & 4294967295))",
            names,
            _LIVENESS_LOCKS,
        )
        return {row["n"] for row in rows}

    def _dispatch(self, _connection: object, _pid: int, channel: str, payload: object) -> None:
        for listener in self._listeners.get(channel, []):
            listener(str(payload))

    async def notify(self, channel: str, payload: str) -> None:
        await self._pool.execute("SELECT pg_notify($1, $2)", channel, payload)

    async def aclose(self) -> None:
        """Close the connections; one still held after `CLOSE_TIMEOUT` s (a task that never gave it back) is
        cut, so that a shutdown never hangs on the database (every write has been made by then)."""
        if self._listening is not None:
            with contextlib.suppress(Exception):
                await self._listening.close()
        try:
            await asyncio.wait_for(self._pool.close(), CLOSE_TIMEOUT)
        except TimeoutError:
            logger.warning("a database connection was still in use after %.0f s: closed anyway", CLOSE_TIMEOUT)
            self._pool.terminate()
