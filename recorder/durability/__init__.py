"""Durable while recording: every live track's file is copied to the recording's storage as it is written, as
segment objects of about `segment_seconds` each (`Shipper`), each journaled once the storage has it; a track
whose file is lost with its machine is put together again from them (`Durability.assemble`); the objects go
once the track's own file is stored (`Durability.discard`).

    frames -> writer (whole clusters / fragments) -> segment objects -> storage -> journal row (epoch, seq)

Keys: `<the track's key>.segments/<epoch>-<seq>`: a stale owner (an older epoch) writes other keys than the
one after it, and the journal refuses its rows, so a wrong takeover costs a stray object, never a changed one.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from recorder.media.passthrough import PassthroughWriter
from recorder.models import Recording, Track
from recorder.persistence.ports import SegmentJournal, SegmentRecord
from storage_providers.base import StorageError, StorageProvider

logger = logging.getLogger(__name__)

Storage = Callable[[str, str | None], Awaitable[StorageProvider]]  # (application, recording) -> its storage


SEGMENTS = ".segments/"  # a track's segments are under its own key + this


def segment_key(key: str, epoch: int, seq: int) -> str:
    return f"{key}{SEGMENTS}{epoch:04d}-{seq:06d}"


def _track_key(segment: SegmentRecord) -> str:
    return segment.key.rsplit(SEGMENTS, 1)[0]


def _read(path: Path, start: int, end: int) -> bytes:
    with path.open("rb") as file:
        file.seek(start)
        return file.read(end - start)


@dataclass(frozen=True)
class Assembled:
    size: int  # bytes put together (0: storage has none of the file)
    damage: str | None = None  # why the segments after them could not be used
    prefix: str = ""  # where the track's segments are in storage


@dataclass
class _Live:
    track: Track
    writer: PassthroughWriter
    key: str  # the track's own key: its segments are named after it
    place: Callable[[], datetime | None]  # where its time 0 is on the sender's clock (once a report came)
    shipped: int = 0  # bytes of the file in storage
    seq: int = 0
    busy: asyncio.Task[None] | None = None


class Durability:
    def __init__(self, journal: SegmentJournal, storage: Storage, segment_seconds: float) -> None:
        self.journal = journal
        self._storage = storage
        self.segment_seconds = segment_seconds

    def shipper(self, recording: Recording, save: Callable[[Track], Awaitable[None]]) -> Shipper:
        return Shipper(recording, self, save)

    async def provider(self, recording: Recording) -> StorageProvider:
        return await self._storage(recording.application_id, recording.recorder_id)

    async def assemble(self, application_id: str, recorder_id: str, track: Track, path: Path) -> Assembled:
        """Write to `path` what storage holds of a track's file: its segments from the first, as long as each
        follows the one before and reads back with its hash (`damage` says where it stopped otherwise).
        Raises TransientStorageError when the storage does not answer: try again later, nothing is lost."""
        segments = await self.journal.segments(track.id)
        if not segments:
            return Assembled(0)
        provider = await self._storage(application_id, recorder_id)
        size, damage = 0, None
        await asyncio.to_thread(path.parent.mkdir, parents=True, exist_ok=True)
        with path.open("wb") as file:
            for segment in segments:
                if segment.offset != size:
                    damage = f"segment {segment.seq} does not follow the one before"
                    break
                try:
                    data = await provider.read(segment.key)
                except StorageError as exc:
                    if exc.retryable:
                        raise
                    damage = f"segment {segment.seq} cannot be read: {exc.message}"
                    break
                if hashlib.sha256(data).hexdigest() != segment.sha256:
                    damage = f"segment {segment.seq} is not what was stored (its SHA-256 differs)"
                    break
                await asyncio.to_thread(file.write, data)
                size += len(data)
        if damage is not None:
            logger.warning("track %s: %s", track.id, damage)
        return Assembled(size, damage, _track_key(segments[0]) + SEGMENTS)

    async def discard(self, application_id: str, recorder_id: str, track_id: str) -> None:
        """A track's own file is stored and checked: its segment objects and rows go, and the one after its
        last (a writer that died while storing a segment left that object with no row)."""
        segments = await self.journal.segments(track_id)
        if not segments:
            return
        last = segments[-1]
        keys = [s.key for s in segments] + [segment_key(_track_key(last), last.epoch, last.seq + 1)]
        provider = await self._storage(application_id, recorder_id)
        try:
            for key in keys:
                await provider.delete(key)
        except StorageError as exc:  # they stay (and so do their rows): harmless, the file is stored
            logger.warning("track %s: its segments could not be deleted: %s", track_id, exc.message)
            return
        await self.journal.forget(track_id)


class Shipper:
    """Copies a recording's live tracks to its storage while they are written: every `segment_seconds`, the
    whole clusters/fragments each file gained go up as one object, then into the journal. `durable_until` of
    each track says how far its media is safe; its `media_start` is saved with its first segment (a file put
    together after a machine loss is placed on the timeline as precisely as one that ended here)."""

    def __init__(self, recording: Recording, durability: Durability, save: Callable[[Track], Awaitable[None]]) -> None:
        self.recording = recording
        self._durability = durability
        self._save = save
        self._live: dict[str, _Live] = {}
        self._fenced = False

    def add(self, track: Track, writer: PassthroughWriter, key: str, place: Callable[[], datetime | None]) -> None:
        if not self._fenced:
            self._live[track.id] = _Live(track, writer, key, place)

    async def end(self, track_id: str) -> None:
        """The track's file ends: no more segments (one under way is waited for)."""
        live = self._live.pop(track_id, None)
        if live is not None and live.busy is not None:
            with contextlib.suppress(Exception):
                await live.busy

    def lag(self, now: datetime) -> float:
        """Seconds since the least durable live track's last media in storage (since its start: none yet)."""
        return max(
            ((now - (live.track.durable_until or live.track.started)).total_seconds() for live in self._live.values()),
            default=0.0,
        )

    async def run(self) -> None:
        while not self._fenced:
            await asyncio.sleep(self._durability.segment_seconds)
            for live in list(self._live.values()):
                if (live.busy is None or live.busy.done()) and live.writer.whole_bytes > live.shipped:
                    live.busy = asyncio.create_task(self._ship(live), name=f"ship-{live.track.id}")

    async def _ship(self, live: _Live) -> None:
        end, media = live.writer.whole_bytes, live.writer.whole_media
        recording = self.recording
        try:
            data = await asyncio.to_thread(_read, live.writer.path, live.shipped, end)
            key = segment_key(live.key, recording.epoch, live.seq)
            await (await self._durability.provider(recording)).upload_bytes(data, key)
            record = SegmentRecord(
                recording.recorder_id,
                live.track.id,
                recording.epoch,
                live.seq,
                key,
                live.shipped,
                len(data),
                hashlib.sha256(data).hexdigest(),
                media,
            )
            journaled = await self._durability.journal.record(record)
        except StorageError as exc:  # tried again at the next tick, with what the file gained meanwhile
            logger.warning("track %s: a segment could not be stored: %s", live.track.id, exc.message)
            return
        except OSError as exc:
            logger.warning("track %s: its file could not be read for a segment: %s", live.track.id, exc)
            return
        except Exception:  # the database is away: tried again at the next tick
            logger.exception("track %s: a segment could not be journaled", live.track.id)
            return
        if not journaled:
            if live.track.id in self._live:  # (a track that ended meanwhile is no longer in the journal's eyes)
                logger.warning(
                    "recording %s: segment refused (epoch %d is not the owner's): no more segments",
                    recording.recorder_id,
                    recording.epoch,
                )
                self._fenced = True
                self._live.clear()
            return
        live.shipped, live.seq = end, live.seq + 1
        live.track.durable_until = live.track.started + timedelta(seconds=media)
        if live.track.media_start is None and (start := live.place()) is not None:
            live.track.media_start = start
            with contextlib.suppress(Exception):  # (saved with the track's end anyway)
                await self._save(live.track)
