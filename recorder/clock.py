"""Time words shared by every package: the wall clock in UTC and the frame interval assumed at a file's end."""

from __future__ import annotations

from datetime import UTC, datetime

# the last video frame of a file lasts about one frame interval (30 fps) when nothing says otherwise
FRAME_INTERVAL = 1 / 30


def now() -> datetime:
    """The wall clock, timezone-aware (UTC)."""
    return datetime.now(UTC)
