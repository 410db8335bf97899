"""A real PostgreSQL server for the tests: Debian's binaries, a cluster of its own in a temporary directory,
on 127.0.0.1 at a free port, run as the `postgres` user (the server refuses root)."""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path

import asyncpg

from tests.storage_servers import free_port


def _binary(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}")) or [shutil.which(name) or ""]
    if not found[-1]:
        raise RuntimeError(
            f"PostgreSQL's {name} is not installed (Debian package 'postgresql'); the test command installs it"
        )
    return found[-1]


@dataclass
class PostgresServer:
    directory: Path
    port: int
    run_as: list[str]

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    async def new_database(self) -> str:
        """A new empty database; its URL."""
        name = f"test_{uuid.uuid4().hex[:12]}"
        connection = await asyncpg.connect(self.url())
        try:
            await connection.execute(f"CREATE DATABASE {name}")
        finally:
            await connection.close()
        return self.url(name)

    def halt(self) -> None:
        """Stop the server at once (its data kept: `start` brings it back)."""
        subprocess.run(
            [*self.run_as, _binary("pg_ctl"), "-D", str(self.directory / "data"), "-m", "immediate", "stop"],
            capture_output=True,
        )

    def start(self) -> None:
        _pg_ctl_start(self.directory, self.port, self.run_as)

    def stop(self) -> None:
        self.halt()
        shutil.rmtree(self.directory, ignore_errors=True)


def start_postgres() -> PostgresServer:
    """Start a server; raise with the reason when it cannot start."""
    directory = Path(tempfile.mkdtemp(prefix="recorder-pg-"))
    run_as: list[str] = []
    if os.geteuid() == 0:
        try:
            user = pwd.getpwnam("postgres")
        except KeyError as exc:
            raise RuntimeError(
                "there is no 'postgres' user to run PostgreSQL as (install the 'postgresql' package)"
            ) from exc
        os.chown(directory, user.pw_uid, user.pw_gid)
        run_as = ["runuser", "-u", "postgres", "--"]
    data, port = directory / "data", free_port()
    result = subprocess.run(
        [*run_as, _binary("initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"],
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        raise RuntimeError(f"initdb failed: {result.stderr[-2000:]}")
    _pg_ctl_start(directory, port, run_as)
    return PostgresServer(directory, port, run_as)


def _pg_ctl_start(directory: Path, port: int, run_as: list[str]) -> None:
    options = f"-p {port} -k {directory} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200"
    data = directory / "data"
    result = subprocess.run(
        [*run_as, _binary("pg_ctl"), "-D", str(data), "-o", options, "-l", str(directory / "log"), "-w", "start"],
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        log = (directory / "log").read_text(errors="replace") if (directory / "log").exists() else ""
        raise RuntimeError(f"PostgreSQL did not start: {result.stderr[-1000:]} {log[-2000:]}")
