"""A recording's segments: each track file begun (a Track saved as soon as its first frame is written) and
ended (its end and counts written, repaired when it was cut short, handed to the uploader: durable before the
call returns). A track that stops and starts again (pause, rules, reconnect) is a new segment."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from recorder.durability import Shipper
from recorder.media.passthrough import WriterResult
from recorder.media.repair import finish as finish_file
from recorder.media.subscription import TrackSink
from recorder.models import ErrorInfo, Recording, Stream, Track, UploadKind, media_end
from recorder.naming import track_key
from recorder.operations.metrics import MediaCounts, Metrics
from recorder.persistence.ports import RecordingStore
from recorder.uploads.uploader import Uploader

logger = logging.getLogger(__name__)


class Segments:
    def __init__(
        self,
        recording: Recording,
        recordings: RecordingStore,
        uploader: Uploader,
        key_template: str,
        metrics: Metrics | None,
        spawn: Callable[[Coroutine[Any, Any, None]], object],
        shipper: Shipper | None = None,
    ) -> None:
        self.recording = recording
        self._repo = recordings
        self._uploader = uploader
        self._key_template = key_template
        self._metrics = metrics
        self._spawn = spawn  # a task the session owns (its end waits for it)
        self._tracks: dict[str, Track] = {}
        self._shipper = shipper  # copies each live track to storage while it is written

    def track(self, track_id: str) -> Track | None:
        """One of this recording's tracks that this session wrote."""
        return self._tracks.get(track_id)

    def started(self, stream: Stream, sink: TrackSink) -> None:
        assert sink.writer is not None and sink.started is not None
        track = Track(
            id=sink.id,
            stream_id=stream.id,
            kind=sink.kind,
            started=sink.started,
            local_location=str(sink.writer.path),
            writer=self.recording.instance_id,
            codec=sink.codec,
        )
        stream.tracks.append(track)
        self._tracks[track.id] = track
        self._spawn(self._repo.save_track(self.recording.recorder_id, track))
        if self._shipper is not None:
            self._shipper.add(track, sink.writer, self._key(stream, track), sink.media_start)

    async def finish(self, stream: Stream, ended: list[tuple[TrackSink, WriterResult]], stopped: datetime) -> None:
        """Tracks whose file ended (a subscription closed, or a pause cut them): their ends written, their
        files stored."""
        for sink, result in ended:
            if self._shipper is not None:
                await self._shipper.end(sink.id)
            if self._metrics is not None and sink.writer is not None:
                written = MediaCounts(frames_written=result.frames, bytes_written=sink.writer.bytes)
                self._metrics.segment_finished(sink.kind.value, written)
            track = self._tracks.get(sink.id)
            if track is None:
                continue  # no frame ever arrived: no file, no track
            track.frames, track.duration = result.frames, result.duration
            if sink.arrival is not None:  # the first frame's own time, not when it could be written
                track.started = datetime.fromtimestamp(sink.arrival, UTC)
            track.stopped = media_end(track, stopped)
            track.media_start = sink.media_start()
            track.gaps = sink.gaps()
            logger.info(
                "track %s: %d of %d frames written; %s",
                track.id,
                result.frames,
                sink.frames_received,
                sink.stats.summary(),
            )
            if result.path is not None:  # a write cut short (a full disk) leaves a torn end: cut it off
                whole = await asyncio.to_thread(finish_file, result.path, result)
                if whole is not result:
                    logger.warning("track %s: its file's torn end was cut off (%d frames kept)", track.id, whole.frames)
                    track.frames, track.duration = whole.frames, whole.duration
                    track.stopped = media_end(track, stopped)
            if sink.error or result.error:
                track.local_error = ErrorInfo("WRITE_FAILED", sink.error or result.error or "", stopped)
            await self._store(stream, track)

    def _key(self, stream: Stream, track: Track) -> str:
        return track_key(self.recording.key_template or self._key_template, self.recording, stream, track)

    async def _store(self, stream: Stream, track: Track) -> None:
        """Hand the finished file to the uploader: the job is durable before this returns."""
        source = Path(track.local_location)
        key = self._key(stream, track)
        await self._repo.save_track(self.recording.recorder_id, track)
        if not await asyncio.to_thread(source.is_file):
            logger.warning("track %s has no file to store: %s", track.id, source)
            return
        await self._uploader.enqueue(
            self.recording.application_id, self.recording.recorder_id, UploadKind.TRACK, track.id, source, key
        )
