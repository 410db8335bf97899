"""Leftovers: track files whose writer died (a crash, a lost lease) are finished here. A file on this machine
is repaired to its last whole frame; a file that is not here (its machine is gone) is put together from the
segments its writer copied to storage while recording, and repaired the same way. Either way the track's end
is written and the file queued for upload. A track with neither is waited for `lost_after_seconds` (its
instance may come back with its disk), then recorded as MEDIA_LOST: nothing of it survived."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from pathlib import Path

from recorder.clock import now
from recorder.durability import Durability
from recorder.events import MEDIA_LOST
from recorder.logcontext import scope
from recorder.media.repair import repair
from recorder.models import ErrorInfo, Track, UploadKind, media_end
from recorder.naming import safe_name, track_key
from recorder.persistence.ports import ClusterStore, RecordingStore
from recorder.uploads.uploader import Uploader
from storage_providers.base import StorageError

logger = logging.getLogger(__name__)


class Leftovers:
    def __init__(
        self,
        cluster: ClusterStore,
        recordings: RecordingStore,
        uploader: Uploader,
        key_template: Callable[[str], str],
        durability: Durability | None = None,
        spool: Path | None = None,
        lost_after_seconds: float = 60.0,
    ) -> None:
        self._cluster = cluster
        self._recordings = recordings
        self._uploader = uploader
        self._key_template = key_template
        self._durability = durability
        self._spool = spool
        self._lost_after = lost_after_seconds
        self._elsewhere: dict[str, float] = {}  # leftover tracks with nothing here: since when (monotonic)

    async def finalize(self, alive_but: str | None) -> None:
        """Finish every leftover track whose file is here or in storage (`alive_but`: an instance counted as
        dead, this one at its start)."""
        for recorder_id, track in await self._cluster.leftover_tracks(time.time(), alive_but):
            with scope(recorderId=recorder_id):
                path, adopted = Path(track.local_location), None
                if not await asyncio.to_thread(path.is_file):
                    try:
                        adopted = await self._adopt(recorder_id, track)
                    except StorageError as exc:  # the storage does not answer: the next look tries again
                        logger.warning("track %s: its segments cannot be read now: %s", track.id, exc.message)
                        continue
                    if adopted is None:
                        await self._not_here(recorder_id, track)
                        continue
                    path = adopted
                result = await asyncio.to_thread(repair, path)
                track.frames, track.duration = result.frames, result.duration
                track.stopped = media_end(track, track.started)
                if not result.frames:
                    track.local_error = ErrorInfo(
                        "UNREADABLE", "the file left by a dead instance does not read", track.stopped
                    )
                if not await self._finish(recorder_id, track, path) and adopted is not None:
                    await asyncio.to_thread(adopted.unlink, missing_ok=True)  # another instance put it together too

    async def _adopt(self, recorder_id: str, track: Track) -> Path | None:
        """The track's file put together here from its segments in storage; None when storage has none.
        Raises StorageError when the storage does not answer now."""
        if self._durability is None or self._spool is None:
            return None
        recording = await self._recordings.by_id(recorder_id)
        if recording is None:
            return None
        path = self._spool / "adopted" / safe_name(recorder_id) / Path(track.local_location).name
        assembled = await self._durability.assemble(recording.application_id, recorder_id, track, path)
        if assembled.damage is not None:  # what follows the damage stays in storage, and the track says so
            track.local_error = ErrorInfo(
                "SEGMENTS_DAMAGED",
                f"the file was put together up to where {assembled.damage}; its segments are kept in storage at"
                f" {assembled.prefix}",
                now(),
            )
            await self._durability.journal.forget(track.id)  # (so that none is deleted with the stored file)
        if not assembled.size:
            return None
        logger.info("track %s: %d bytes of its file put together from its segments", track.id, assembled.size)
        track.local_location = str(path)
        return path

    async def _not_here(self, recorder_id: str, track: Track) -> None:
        """Neither the file nor a segment of it is here: after `lost_after_seconds`, its media is lost."""
        since = self._elsewhere.setdefault(track.id, time.monotonic())
        if time.monotonic() - since < self._lost_after:
            logger.info("track %s: %s is not on this machine nor in storage yet", track.id, track.local_location)
            return
        del self._elsewhere[track.id]
        lost = now()
        track.stopped = track.started
        track.frames, track.duration = 0, 0.0
        track.local_deleted = lost  # (gone with its machine: no link is handed out)
        track.object_error = ErrorInfo(
            MEDIA_LOST,
            f"the media from {track.started.isoformat()} until instance {track.writer} was lost did not reach"
            " storage: nothing of it survived",
            lost,
        )
        logger.warning("track %s: its media was lost with instance %s", track.id, track.writer)
        await self._cluster.finish_leftover(recorder_id, track)

    async def _finish(self, recorder_id: str, track: Track, path: Path) -> bool:
        """Write the track's end and queue its file; False when another instance finished it first."""
        if not await self._cluster.finish_leftover(recorder_id, track):
            return False
        recording = await self._recordings.by_id(recorder_id)
        stream = next((s for s in recording.streams if s.id == track.stream_id), None) if recording else None
        if recording is None or stream is None:
            return True
        logger.info(
            "track %s left by instance %s: %d frames, %.1f s, stored",
            track.id,
            track.writer,
            track.frames,
            track.duration,
        )
        template = recording.key_template or self._key_template(recording.application_id)
        key = track_key(template, recording, stream, track)
        await self._uploader.enqueue(recording.application_id, recorder_id, UploadKind.TRACK, track.id, path, key)
        return True
