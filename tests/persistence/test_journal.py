"""The segment journal's contract (fenced by the owner's epoch and the track's end), and a dead writer's file
put together from its segments: in order, each checked against its hash, damage said and kept, a silent
storage tried again later."""

from __future__ import annotations

import hashlib
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from recorder.durability import Durability, segment_key
from recorder.media.passthrough import PassthroughWriter
from recorder.media.repair import repair
from recorder.persistence.ports import SegmentRecord
from recorder.persistence.store import Store
from storage_providers.base import StorageProvider, TransientStorageError
from storage_providers.local import LocalStorage
from tests.builders import live_with_stream, track
from tests.encoded import encode_video, problems


def _segment(
    recorder_id: str, seq: int, data: bytes, offset: int, epoch: int = 0, track_id: str = "t1"
) -> SegmentRecord:
    key = segment_key(f"org1/c1/{track_id}.webm", epoch, seq)
    return SegmentRecord(
        recorder_id, track_id, epoch, seq, key, offset, len(data), hashlib.sha256(data).hexdigest(), seq + 1.0
    )


async def test_only_the_owner_of_the_current_epoch_journals_a_live_track(store: Store) -> None:
    r = await live_with_stream(store)
    await store.recordings.save_track(r.recorder_id, track())
    assert await store.journal.record(_segment(r.recorder_id, 0, b"a", 0))
    assert not await store.journal.record(_segment(r.recorder_id, 1, b"b", 1, epoch=1)), (
        "a later epoch than the owner's"
    )
    assert await store.journal.durable(r.recorder_id) == {"t1": 1.0}
    # a takeover raises the epoch: the old owner's next segment is refused
    await store.cluster.release_recordings("i1")
    claimed = await store.cluster.claim_recovery("i2", time.time(), time.time() + 10)
    assert claimed is not None and claimed.epoch == 1
    assert not await store.journal.record(_segment(r.recorder_id, 1, b"b", 1))
    assert await store.journal.record(_segment(r.recorder_id, 1, b"b", 1, epoch=1))
    # an ended track takes no more
    ended = track(stopped=claimed.created)
    await store.recordings.save_track(r.recorder_id, ended)
    assert not await store.journal.record(_segment(r.recorder_id, 2, b"c", 2, epoch=1))
    assert [s.seq for s in await store.journal.segments("t1")] == [0, 1]
    await store.journal.forget("t1")
    assert await store.journal.segments("t1") == []


class _Silent(LocalStorage):
    async def read(self, key: str) -> bytes:
        raise TransientStorageError("the storage did not answer")


@pytest.fixture
async def file_in_segments(store: Store, tmp_path: Path) -> AsyncIterator[tuple[str, list[SegmentRecord], bytes]]:
    """A live VP8 track's file as its writer shipped it: three segments in local storage, journaled."""
    r = await live_with_stream(store)
    await store.recordings.save_track(r.recorder_id, track())
    writer = PassthroughWriter(tmp_path / "live", "vp8", 90000, flush_interval_ms=1000)
    marks: list[int] = []
    for i, frame in enumerate(encode_video("libvpx", 120, width=320, height=240)):
        writer.write(frame, 3000 * i)
        if not marks or marks[-1] != writer.whole_bytes:
            marks.append(writer.whole_bytes)
    data = writer.path.read_bytes()
    storage = LocalStorage(tmp_path / "storage")
    segments = []
    for seq, (start, end) in enumerate(zip([0, *marks[1:3]], marks[1:4], strict=True)):
        segment = _segment(r.recorder_id, seq, data[start:end], start)
        await storage.upload_bytes(data[start:end], segment.key)
        assert await store.journal.record(segment)
        segments.append(segment)
    writer.close()
    yield r.recorder_id, segments, data[: segments[-1].offset + segments[-1].size]


def _durability(store: Store, storage: StorageProvider) -> Durability:
    async def of(application_id: str, recorder_id: str | None) -> StorageProvider:
        return storage

    return Durability(store.journal, of, 1.0)


async def test_a_file_put_together_from_its_segments_decodes_and_is_what_was_shipped(
    store: Store, tmp_path: Path, file_in_segments: tuple[str, list[SegmentRecord], bytes]
) -> None:
    recorder_id, _, shipped = file_in_segments
    out = tmp_path / "adopted.webm"
    assembled = await _durability(store, LocalStorage(tmp_path / "storage")).assemble("app1", recorder_id, track(), out)
    assert (assembled.size, assembled.damage) == (len(shipped), None) and out.read_bytes() == shipped
    result = repair(out)
    assert result.frames >= 60 and problems(out) == (result.frames, [])


async def test_a_changed_segment_ends_the_file_before_it_and_says_so(
    store: Store, tmp_path: Path, file_in_segments: tuple[str, list[SegmentRecord], bytes]
) -> None:
    recorder_id, segments, _ = file_in_segments
    (tmp_path / "storage" / segments[1].key).write_bytes(b"not what was stored")
    out = tmp_path / "adopted.webm"
    assembled = await _durability(store, LocalStorage(tmp_path / "storage")).assemble("app1", recorder_id, track(), out)
    assert assembled.size == segments[0].size and "segment 1 is not what was stored" in (assembled.damage or "")
    assert assembled.prefix == "org1/c1/t1.webm.segments/"


async def test_a_silent_storage_is_tried_again_later(
    store: Store, tmp_path: Path, file_in_segments: tuple[str, list[SegmentRecord], bytes]
) -> None:
    recorder_id, _, _ = file_in_segments
    with pytest.raises(TransientStorageError):
        await _durability(store, _Silent(tmp_path / "storage")).assemble(
            "app1", recorder_id, track(), tmp_path / "adopted.webm"
        )
    assert len(await store.journal.segments("t1")) == 3, "nothing forgotten"


async def test_a_stored_file_takes_its_segments_with_it_and_the_one_a_dead_writer_left(
    store: Store, tmp_path: Path, file_in_segments: tuple[str, list[SegmentRecord], bytes]
) -> None:
    recorder_id, segments, _ = file_in_segments
    storage = LocalStorage(tmp_path / "storage")
    stray = segment_key("org1/c1/t1.webm", 0, 3)  # stored, then its writer died before its row
    await storage.upload_bytes(b"stray", stray)
    await _durability(store, storage).discard("app1", recorder_id, "t1")
    assert [await storage.stat(s.key) for s in segments] == [None] * 3 and await storage.stat(stray) is None
    assert await store.journal.segments("t1") == [] and not (tmp_path / "storage" / "org1").exists()
