"""LocalStorage: a directory on this machine; the service serves its files through its own signed links."""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path, PurePosixPath

from storage_providers.base import (
    CHUNK,
    DestinationError,
    ObjectNotFoundError,
    StorageError,
    StorageProvider,
    StoredObject,
)


@contextmanager
def _errors(action: str) -> Iterator[None]:
    try:
        yield
    except FileNotFoundError as exc:
        raise ObjectNotFoundError(f"cannot {action} {exc.filename}: no such file") from exc
    except OSError as exc:  # a full or read-only disk, a permission: only its owner can fix it
        raise DestinationError(f"cannot {action} {exc.filename or ''}: {exc.strerror or exc}") from exc


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

    async def upload(self, source: Path, key: str) -> None:
        target = self._path(key)
        with _errors("write"):
            await asyncio.to_thread(_copy_durably, source, target)

    async def stat(self, key: str) -> StoredObject | None:
        path = self._path(key)
        try:
            return StoredObject(key, path.stat().st_size) if path.is_file() else None
        except FileNotFoundError:
            return None

    async def read_range(self, key: str, start: int = 0, end: int | None = None) -> AsyncIterator[bytes]:
        path = self._path(key)
        with _errors("read"):
            file = await asyncio.to_thread(path.open, "rb")
        try:
            file.seek(start)
            left = None if end is None else end - start
            while left is None or left > 0:
                piece = await asyncio.to_thread(file.read, CHUNK if left is None else min(CHUNK, left))
                if not piece:
                    return
                if left is not None:
                    left -= len(piece)
                yield piece
        finally:
            file.close()

    async def signed_url(self, key: str, ttl: timedelta) -> str | None:
        return None

    async def delete(self, key: str) -> None:
        with _errors("delete"):
            await asyncio.to_thread(self._remove, self._path(key))

    def _remove(self, path: Path) -> None:
        """Delete a file, and the folders it leaves empty up to the root (a key's folders exist only for it, as
        in an object store)."""
        path.unlink(missing_ok=True)
        for folder in path.parents:
            if folder == self.root or not folder.is_relative_to(self.root):
                break
            try:
                folder.rmdir()
            except OSError:  # not empty (or gone): its other keys keep it
                break

    async def check_destination(self) -> str:
        with _errors("create"):
            await asyncio.to_thread(self.root.mkdir, parents=True, exist_ok=True)
        return f"{self.root} is a directory"

    def local_path(self, key: str) -> Path | None:
        path = self._path(key)
        return path if path.is_file() else None


def _copy_durably(source: Path, target: Path) -> None:
    """Copy to a temporary name, fsync, then rename: a reader never sees half a file."""
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    with source.open("rb") as src, partial.open("wb") as dst:
        shutil.copyfileobj(src, dst, CHUNK)
        dst.flush()
        os.fsync(dst.fileno())
    os.replace(partial, target)
