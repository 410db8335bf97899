"""File and key names made from ids that come from other systems."""

from __future__ import annotations

import re

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def safe_name(name: str) -> str:
    """`name` with anything but letters, digits, `.`, `_` and `-` replaced; never empty, `.` or `..`."""
    safe = _UNSAFE.sub("_", name)[:100]
    return "_" if safe in ("", ".", "..") else safe
