"""A composition's timeline: every track file placed by the sender's wall-clock time of its first frame, on one
timeline that starts with the earliest of them."""

from __future__ import annotations

from pathlib import Path

from recorder.compositions.worker import Plan, Source
from recorder.models import Composition, Stream, Track


def timeline(composition: Composition, files: list[tuple[Stream, Track, Path]], output: Path) -> Plan:
    """Every file on one timeline that starts with the earliest of them."""
    start = min(track.timeline_start for _, track, _ in files)
    end = max(track.timeline_start.timestamp() + track.duration for _, track, _ in files)
    sources = [
        Source(
            tile=f"{stream.user_id}/{stream.type}",
            screen=stream.type == "SCREEN",
            kind=track.kind.value,
            path=str(path),
            offset=(track.timeline_start - start).total_seconds(),
            duration=track.duration,
        )
        for stream, track, path in files
    ]
    return Plan(
        kind=composition.type.value,
        output=str(output),
        duration=max(end - start.timestamp(), 0.001),
        sources=sources,
        width=composition.width,
        height=composition.height,
        layout=composition.layout.value,
    )
