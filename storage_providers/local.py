"""LocalStorage: a directory on this machine."""

from __future__ import annotations

import asyncio
import os
import shutil
from pathlib import Path, PurePosixPath

from storage_providers.base import StorageError, StorageProvider, StoredObject


class LocalStorage(StorageProvider):
    provider = "LOCAL_STORAGE"

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()

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
