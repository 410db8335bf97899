"""LocalStorage: a directory on this machine."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import uuid
from collections.abc import Callable
from pathlib import Path, PurePosixPath

from storage_providers.base import CheckResult, StorageError, StorageProvider, StoredObject, Verification


class LocalStorage(StorageProvider):
    provider = "LOCAL_STORAGE"

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()
        self.url = self.root.as_uri()

    def _path(self, key: str) -> Path:
        pure = PurePosixPath(key)
        if pure.is_absolute() or ".." in pure.parts or not pure.parts:
            raise StorageError(f"invalid key {key!r}")
        return self.root.joinpath(*pure.parts)

    async def store(self, source: Path, key: str) -> StoredObject:
        target = self._path(key)
        try:
            size = await asyncio.to_thread(_copy_durably, source, target)
        except OSError as exc:
            raise StorageError(f"cannot store {key}: {exc.strerror or exc}") from exc
        return StoredObject(key, size)

    def local_path(self, key: str) -> Path | None:
        path = self._path(key)
        return path if path.is_file() else None

    async def verify(self) -> Verification:
        return await asyncio.to_thread(_verify, self.root)


def _verify(root: Path) -> Verification:
    """bucket: the directory exists or can be made; then write, read, modify and delete a probe file."""
    probe = root / f".recorder-verify-{uuid.uuid4()}"
    results: list[CheckResult] = []

    def check(action: str, step: Callable[[], str]) -> None:
        if results and not results[-1].passed:
            results.append(CheckResult(False, f"not run: the {action} test needs the tests before it"))
            return
        try:
            message = step()
        except OSError as exc:
            results.append(CheckResult(False, f"cannot {action} {exc.filename or root}: {exc.strerror or exc}"))
        else:
            results.append(CheckResult(True, message))

    def bucket() -> str:
        root.mkdir(parents=True, exist_ok=True)
        return f"{root} is a directory"

    def write() -> str:
        probe.write_bytes(b"recorder verification")
        return f"wrote {probe.name}"

    def read() -> str:
        if probe.read_bytes() != b"recorder verification":
            raise OSError(0, "read back different bytes", str(probe))
        return f"read {probe.name} back"

    def modify() -> str:
        probe.write_bytes(b"recorder verification, modified")
        if probe.read_bytes() != b"recorder verification, modified":
            raise OSError(0, "the change did not stick", str(probe))
        return f"modified {probe.name}"

    def delete() -> str:
        probe.unlink()
        return f"deleted {probe.name}"

    try:
        for action, step in (("create", bucket), ("write", write), ("read", read), ("modify", modify)):
            check(action, step)
        check("delete", delete)
    finally:
        with contextlib.suppress(OSError):  # the delete test reports why it could not
            probe.unlink(missing_ok=True)
    return Verification(*results)


def _copy_durably(source: Path, target: Path) -> int:
    """Copy to a temporary name, fsync, then rename: a reader never sees half a file."""
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    with source.open("rb") as src, partial.open("wb") as dst:
        shutil.copyfileobj(src, dst, 1 << 20)
        dst.flush()
        os.fsync(dst.fileno())
    os.replace(partial, target)
    return target.stat().st_size
