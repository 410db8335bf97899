"""A composition's timeline: every track file placed by the sender's wall-clock time of its first frame, on one
timeline that starts with the earliest of them. The recordings' pauses are left out unless the request keeps
them: the composed file is the recorded time, and a moment after a pause sits earlier by every pause before it
(`recorded_time`; chat and cobrowse times map onto the file the same way)."""

from __future__ import annotations

import itertools
from datetime import datetime
from pathlib import Path

from recorder.compositions.worker import Plan, Source
from recorder.models import Composition, Pause, Stream, Track


def recorded_time(at: datetime, start: datetime, pauses: list[Pause]) -> float:
    """Seconds from `start` to `at`, the pauses in between left out (a moment inside a pause: where it began)."""
    paused = 0.0
    for pause in pauses:
        if pause.resumed is None or pause.paused >= at:
            continue
        paused += (min(pause.resumed, at) - max(pause.paused, start)).total_seconds() if pause.resumed > start else 0
    return max(0.0, (at - start).total_seconds() - paused)


def timeline(
    composition: Composition, files: list[tuple[Stream, Track, Path]], output: Path, pauses: list[Pause] | None = None
) -> Plan:
    """Every file on one timeline that starts with the earliest of them; `pauses` left out."""
    pauses = pauses or []
    start = min(track.timeline_start for _, track, _ in files)
    end = max(recorded_time(track.timeline_start, start, pauses) + track.duration for _, track, _ in files)
    sources = [
        Source(
            tile=f"{stream.user_id}/{stream.type}",
            screen=stream.type == "SCREEN",
            kind=track.kind.value,
            path=str(path),
            offset=recorded_time(track.timeline_start, start, pauses),
            duration=track.duration,
        )
        for stream, track, path in files
    ]
    _cut_overlaps(sources)
    return Plan(
        kind=composition.type.value,
        output=str(output),
        duration=max(end, 0.001),
        sources=sources,
        width=composition.width,
        height=composition.height,
        layout=composition.layout.value,
    )


def _cut_overlaps(sources: list[Source]) -> None:
    """A participant's track that runs on past the start of its next one (an instance handing the recording
    over records a moment more while the next one has begun) ends where the next begins: never two at once."""
    lanes: dict[tuple[str, str], list[Source]] = {}
    for source in sources:
        lanes.setdefault((source.tile, source.kind), []).append(source)
    for lane in lanes.values():
        lane.sort(key=lambda s: s.offset)
        for current, following in itertools.pairwise(lane):
            if current.offset + current.duration > following.offset:
                current.until = max(following.offset - current.offset, 0.0)
