"""A private key kept in a file of the data directory: made on first use, readable by this user only."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path


def kept_key(path: Path, make: Callable[[], bytes]) -> bytes:
    """The bytes in `path`; when there is no such file, `make()` written there first (mode 0600)."""
    if not path.exists():
        data = make()
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as file:
            file.write(data)
    return path.read_bytes()
