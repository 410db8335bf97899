"""A recording's limits (`Limits`): when one is reached, the recording ends by itself for that reason."""

from __future__ import annotations

import time

from recorder.clock import now
from recorder.models import Limits, Recording, StopReason

WATCH_INTERVAL = 0.25  # seconds between two looks at the limits


def limit_reached(
    recording: Recording, limits: Limits, room_empty: bool, quiet_since: float, arrivals: list[float | None]
) -> StopReason | None:
    """The limit a recording has reached now, if any: a pause too long, its recorded time, an empty room since
    `quiet_since`, or no media from its publishers (`arrivals`: each one's last packet, monotonic) either."""
    at, mono = now(), time.monotonic()
    if recording.paused:
        return StopReason.PAUSE_TIMEOUT if (at - recording.pauses[-1].paused).total_seconds() >= limits.pause else None
    if recording.recorded_seconds(at) >= limits.max_duration:
        return StopReason.MAX_DURATION
    if room_empty:
        return StopReason.EMPTY_ROOM if mono - quiet_since >= limits.empty_room else None
    last = max([quiet_since, *(t for t in arrivals if t is not None)])
    return StopReason.NO_MEDIA if mono - last >= limits.no_media else None
