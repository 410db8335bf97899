"""Leftovers: track files whose writer died (a crash, a lost lease) are finished here: the file is repaired to
its last whole frame, the track's end written, and the file queued for upload. A file on another machine's
disk is left to its own instance."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from pathlib import Path

from recorder.logcontext import scope
from recorder.media.repair import repair
from recorder.models import ErrorInfo, UploadKind, media_end
from recorder.naming import track_key
from recorder.persistence.ports import ClusterStore, RecordingStore
from recorder.uploads.uploader import Uploader

logger = logging.getLogger(__name__)


class Leftovers:
    def __init__(
        self,
        cluster: ClusterStore,
        recordings: RecordingStore,
        uploader: Uploader,
        key_template: Callable[[str], str],
    ) -> None:
        self._cluster = cluster
        self._recordings = recordings
        self._uploader = uploader
        self._key_template = key_template
        self._elsewhere: set[str] = set()  # leftover tracks whose file is on another machine

    async def finalize(self, alive_but: str | None) -> None:
        """Finish every leftover track whose file is here (`alive_but`: an instance counted as dead, this one
        at its start)."""
        for recorder_id, track in await self._cluster.leftover_tracks(time.time(), alive_but):
            if track.id in self._elsewhere:
                continue
            with scope(recorderId=recorder_id):
                path = Path(track.local_location)
                if not await asyncio.to_thread(path.is_file):
                    logger.info("track %s: %s is not on this machine; left to its own instance", track.id, path)
                    self._elsewhere.add(track.id)
                    continue
                result = await asyncio.to_thread(repair, path)
                track.frames, track.duration = result.frames, result.duration
                track.stopped = media_end(track, track.started)
                if not result.frames:
                    track.local_error = ErrorInfo(
                        "UNREADABLE", "the file left by a dead instance does not read", track.stopped
                    )
                if not await self._cluster.finish_leftover(recorder_id, track):
                    continue  # another instance finished it
                recording = await self._recordings.by_id(recorder_id)
                stream = next((s for s in recording.streams if s.id == track.stream_id), None) if recording else None
                if recording is None or stream is None:
                    continue
                logger.info(
                    "track %s left by instance %s: %d frames, %.1f s, stored",
                    track.id,
                    track.writer,
                    track.frames,
                    track.duration,
                )
                template = recording.key_template or self._key_template(recording.application_id)
                key = track_key(template, recording, stream, track)
                await self._uploader.enqueue(
                    recording.application_id, recorder_id, UploadKind.TRACK, track.id, path, key
                )
