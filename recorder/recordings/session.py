"""RecordingSession: the bot of one recording.

It joins the conference, subscribes to every publication there and to each that comes later, writes
every track to its own file, and hands each file to the uploader when its track ends. State rules:

- INITIALISED until the conference is joined, then ACTIVE.
- FAILED (with `error`) when the conference cannot be joined: server unreachable, room unknown.
- ABORTED when the conference ends under the recording: the room is destroyed or the conference server
  stops answering (its session is lost). Everything recorded until then is kept and stored.
- STOPPED when the recording is stopped through the API (or the service shuts down with `stop`).
- A recording taken over from a dead instance (PENDING_RECOVERY) joins again, continues every stream with
  new tracks, and is ACTIVE with `recovered` set; a conference gone meanwhile makes it ABORTED.
- An instance that lost its lease (another one took the recording over) or hands the recording over closes
  its files and stores them, but writes nothing more about the recording.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import functools
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from recorder.clock import now as _now
from recorder.conference.base import (
    Conference,
    ConferenceEnded,
    ConferenceError,
    ConferenceEvent,
    Publication,
    PublicationAdded,
    PublicationRemoved,
)
from recorder.durability import Durability
from recorder.logcontext import bind, scope
from recorder.media.subscription import Subscription, TrackSink
from recorder.models import (
    LIVE_STATES,
    ErrorInfo,
    MediaKind,
    Pause,
    Reason,
    Recording,
    RecordingState,
    Rules,
    StopReason,
    Stream,
    StreamState,
    Track,
)
from recorder.naming import safe_name
from recorder.operations.metrics import MediaCounts, Metrics
from recorder.persistence.ports import RecordingStore
from recorder.recordings.limits import WATCH_INTERVAL, limit_reached
from recorder.recordings.segments import Segments
from recorder.tasks import TaskSet
from recorder.uploads.uploader import Uploader

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SessionOptions:
    spool: Path
    ice_servers: list[str]
    flush_interval_ms: int
    rejoin_seconds: float = 60.0  # how long a lost conference server is waited for before the recording ends
    receive_buffer_bytes: int = 0  # each media socket's receive buffer (0: the kernel's default)
    drain_seconds: float = 0.15  # media still in flight when a recording stops is received this long


@dataclass
class _Active:
    stream: Stream
    subscription: Subscription
    subscription_id: str
    kinds: frozenset[MediaKind]


GONE = frozenset({StopReason.CONFERENCE_ENDED, StopReason.JOIN_FAILED, StopReason.SPOOL_FULL})


class RecordingSession:
    def __init__(
        self,
        recording: Recording,
        conference: Callable[[], Conference],
        recordings: RecordingStore,
        uploader: Uploader,
        key_template: str,
        options: SessionOptions,
        on_finished: Callable[[Recording], Awaitable[None]] | None = None,
        on_disk_full: Callable[[], None] | None = None,
        metrics: Metrics | None = None,
        durability: Durability | None = None,
    ) -> None:
        self.recording = recording
        self._metrics = metrics
        self._on_finished = on_finished
        self._on_disk_full = on_disk_full  # frees the spool's reserve, so that files can still be closed
        self._aborting: asyncio.Task[None] | None = None
        self._join = conference  # a new connection to the recording's conference (also to join it again)
        self._conference = conference()
        self._repo = recordings
        self._options = options
        self._directory = options.spool / safe_name(recording.conversation_id) / safe_name(recording.recorder_id)
        # publication id -> its stream (kept across republish, and across a recovery by another instance)
        self._streams: dict[str, Stream] = {s.publication_id: s for s in recording.streams}
        self._recovering = recording.state is RecordingState.PENDING_RECOVERY
        self._active: dict[str, _Active] = {}
        self._publications: dict[str, Publication] = {}  # every publication in the room, recorded or not
        self._quiet_since = time.monotonic()  # since when no publication is in the room, or none sent media
        self._pending = TaskSet(f"recording-{recording.recorder_id}")
        # the live tracks copied to storage while they are written (machine loss costs seconds, not the call)
        self._shipper = (
            durability.shipper(recording, functools.partial(recordings.save_track, recording.recorder_id))
            if durability is not None
            else None
        )
        self._segments = Segments(recording, recordings, uploader, key_template, metrics, self._spawn, self._shipper)
        self._shipping: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()  # serialises changes to subscriptions and the final state
        self.joined: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._task: asyncio.Task[None] | None = None
        self._finishing: asyncio.Task[None] | None = None
        self._watching: asyncio.Task[None] | None = None
        self.created = time.monotonic()

    def track(self, track_id: str) -> Track | None:
        """One of this recording's tracks that this session wrote."""
        return self._segments.track(track_id)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"recording-{self.recording.recorder_id}")

    async def _run(self) -> None:
        # every line this recording's task (and each task it starts: subscriptions, the conference's polls)
        # writes carries its ids
        bind(
            recorderId=self.recording.recorder_id,
            conversationId=self.recording.conversation_id,
            instanceId=self.recording.instance_id,
        )
        if self._recovering:
            await self._close_left_streams()
        try:
            publications = await self._conference.join()
        except Exception as exc:  # whatever went wrong, the recording does not stay live
            if isinstance(exc, ConferenceError):
                error = ErrorInfo(exc.code, exc.message, _now())
                logger.warning("recording %s failed to join: %s", self.recording.recorder_id, exc.message)
            else:
                error = ErrorInfo("CONFERENCE_ERROR", f"joining failed: {type(exc).__name__}: {exc}", _now())
                logger.exception("recording %s: joining failed unexpectedly", self.recording.recorder_id)
            # a recovered recording keeps what was recorded before: the conference ended meanwhile
            state = RecordingState.ABORTED if self._recovering else RecordingState.FAILED
            await self._finish(state, error, Reason(StopReason.JOIN_FAILED))
            return
        finally:
            if not self.joined.done():
                self.joined.set_result(None)
        async with self._lock:  # a pause asked for as soon as the start answered is written after this
            now = _now()
            self.recording.state = RecordingState.ACTIVE
            if self._recovering:
                self.recording.recovered = now
            else:
                self.recording.started = now
            saved = await self._repo.save(self.recording)
        if not saved:
            logger.warning("recording %s was taken over by another instance", self.recording.recorder_id)
            await self._finish(None)
            return
        logger.info(
            "recording %s is ACTIVE in conference %s%s%s",
            self.recording.recorder_id,
            self.recording.conference_id,
            " (recovered)" if self._recovering else "",
            ", paused" if self.recording.paused else "",
        )
        self._quiet_since = time.monotonic()
        self._watching = asyncio.create_task(self._watch(), name=f"limits-{self.recording.recorder_id}")
        if self._shipper is not None:
            self._shipping = asyncio.create_task(self._shipper.run(), name=f"ship-{self.recording.recorder_id}")
        for publication in publications:
            await self._handle(PublicationAdded(publication))
        while True:
            event = await self._conference.next_event()
            if isinstance(event, ConferenceEnded) and event.lost and await self._rejoin(event.reason):
                continue
            await self._handle(event)
            if isinstance(event, ConferenceEnded):
                return

    async def _rejoin(self, reason: str) -> bool:
        """The conference server was lost (restarted, unreachable): the files of the streams under way are
        finished and stored, and the room is joined again, waiting a little longer between tries, for up to
        `rejoin_seconds`. Back in the room, every publication gets new tracks in its stream. False when the
        server did not come back in time."""
        window = self._options.rejoin_seconds
        logger.warning(
            "recording %s lost its conference (%s); joining it again for up to %.0f s",
            self.recording.recorder_id,
            reason,
            window,
        )
        async with self._lock:
            await self._end_all()
            self._publications.clear()  # who is there is known again once the room is joined again
        await self._conference.aclose()
        deadline, wait = time.monotonic() + window, 0.5
        while (left := deadline - time.monotonic()) > 0:
            await asyncio.sleep(min(wait, left))
            wait = min(wait * 2, 5.0)
            conference = self._join()
            try:
                publications = await conference.join()
            except ConferenceError as exc:
                logger.info("recording %s: not back yet: %s", self.recording.recorder_id, exc.message)
                await conference.aclose()
                continue
            self._conference = conference
            logger.info("recording %s joined its conference again", self.recording.recorder_id)
            for publication in publications:
                await self._handle(PublicationAdded(publication))
            return True
        return False

    async def _close_left_streams(self) -> None:
        """Streams the dead instance was recording end there; a publication still there continues its stream
        with new tracks."""
        for stream in self._streams.values():
            if stream.state is StreamState.RECORDING:
                stream.state, stream.stopped = StreamState.STOPPED, _now()
                await self._repo.save_stream(stream)

    async def _handle(self, event: ConferenceEvent) -> None:
        """Handle one event to its end: stopping the recording does not cut a change in half."""
        if isinstance(event, PublicationAdded):
            work = self._add(event.publication)
        elif isinstance(event, PublicationRemoved):
            work = self._remove(event.publication_id)
        else:
            logger.info("recording %s aborted: %s", self.recording.recorder_id, event.reason)
            error = ErrorInfo("CONFERENCE_ENDED", event.reason, _now())
            await self._finish(RecordingState.ABORTED, error, Reason(StopReason.CONFERENCE_ENDED))
            return
        await asyncio.shield(self._spawn(work))

    def _kinds(self, publication: Publication) -> frozenset[MediaKind]:
        """What of a publication is recorded: what it carries, the request's flags and the rules allow."""
        return publication.kinds & self.recording.records(publication.stream_type, publication.user_id)

    async def _add(self, publication: Publication) -> None:
        async with self._lock:
            if self._finishing is not None:
                return
            if not self._publications:
                self._quiet_since = time.monotonic()  # the room is no longer empty: media is waited for now
            self._publications[publication.id] = publication
            await self._subscribe(publication)

    async def _subscribe(self, publication: Publication) -> None:
        """Record what the rules allow of a publication (hold the lock). Excluded kinds are never asked of the
        SFU: nothing of them reaches this machine."""
        kinds = self._kinds(publication)
        if not kinds:
            self._conference.declined(publication)
            return
        if publication.id in self._active:
            return
        stream = self._streams.get(publication.id) or self._resumed(publication)
        if stream is None:
            stream = Stream(
                id=str(uuid.uuid4()),
                recorder_id=self.recording.recorder_id,
                publication_id=publication.id,
                type=publication.stream_type,
                user_id=publication.user_id,
                state=StreamState.RECORDING,
                started=_now(),
            )
            self._streams[publication.id] = stream
            self.recording.streams.append(stream)  # reads of the live recording come from this record
        stream.state, stream.stopped = StreamState.RECORDING, None
        await self._repo.save_stream(stream)
        subscription = Subscription(
            self._directory / safe_name(stream.id),
            ice_servers=self._options.ice_servers,
            flush_interval_ms=self._options.flush_interval_ms,
            on_track_started=functools.partial(self._segments.started, stream),
            on_failed=functools.partial(self._connection_failed, publication.id),
            on_write_failed=self._write_failed,
            receive_buffer_bytes=self._options.receive_buffer_bytes,
            paused=self.recording.paused,
        )
        try:
            subscription_id, offer = await self._conference.subscribe(publication, kinds)
            answer = await subscription.negotiate(offer, kinds)
            await self._conference.answer(subscription_id, answer)
        except asyncio.CancelledError:
            await subscription.close()
            raise
        except ConferenceError as exc:
            logger.warning("cannot subscribe to %s: %s", publication.id, exc.message)
            await subscription.close()
            stream.state, stream.stopped = StreamState.FAILED, _now()
            await self._repo.save_stream(stream)
            return
        self._active[publication.id] = _Active(stream, subscription, subscription_id, kinds)
        logger.info("subscribed to %s (%s, user %s)", publication.id, ",".join(sorted(kinds)), publication.user_id)

    def _resumed(self, publication: Publication) -> Stream | None:
        """A stopped stream of the same user and type, which a publication under a new id continues (the
        participant reconnected, or the server restarted): its new files are new segments of that stream."""
        for stream in self._streams.values():
            if (stream.user_id, stream.type) == (publication.user_id, publication.stream_type) and (
                stream.state is not StreamState.RECORDING
            ):
                self._streams[publication.id] = stream
                return stream
        return None

    def _write_failed(self, sink: TrackSink, exc: Exception) -> None:
        """A file could not be written. A full spool ends the recording (ABORTED, SPOOL_FULL) keeping what was
        written: every file is closed and stored, which frees the disk. Another failure ends that track only."""
        if getattr(exc, "errno", None) != errno.ENOSPC or self._aborting is not None:
            return
        logger.error("recording %s: the spool's disk is full; the recording ends", self.recording.recorder_id)
        if self._on_disk_full is not None:
            self._on_disk_full()
        error = ErrorInfo("SPOOL_FULL", "the recorder's local disk is full: recorded until then, and stored", _now())
        self._end_by_itself(Reason(StopReason.SPOOL_FULL), RecordingState.ABORTED, error)

    def _end_by_itself(
        self, reason: Reason, state: RecordingState = RecordingState.STOPPED, error: ErrorInfo | None = None
    ) -> None:
        """The recording ends for `reason` (a limit, a full disk): in a task of its own, so that whoever noticed
        (the receive path, the limits' watch) is not waited for by the stop it starts."""
        if self._aborting is None and self._finishing is None:
            logger.info("recording %s ends: %s", self.recording.recorder_id, reason.reason.value)
            self._aborting = asyncio.get_running_loop().create_task(self.stop(reason, state, error))

    def _connection_failed(self, publication_id: str) -> None:
        self._spawn(self._remove(publication_id))

    def _spawn(self, work: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        """Run `work` as a task this session owns: `_finish` waits for every one of them."""
        return self._pending.spawn(work)

    async def add_candidates(self, publication_id: str, fragment: str) -> bool:
        """A publisher's trickled ICE candidates (an SDP fragment); False when it is not recorded here."""
        active = self._active.get(publication_id)
        if active is None:
            return False
        await active.subscription.add_candidates(fragment)
        return True

    async def _remove(self, publication_id: str) -> None:
        async with self._lock:
            if self._publications.pop(publication_id, None) is not None and not self._publications:
                self._quiet_since = time.monotonic()  # the room is empty from now
            active = self._active.pop(publication_id, None)
            if active is not None:
                await self._end(active, StreamState.STOPPED)

    async def _end(self, active: _Active, state: StreamState) -> None:
        """Close one subscription: its files are finished, then stored."""
        with contextlib.suppress(ConferenceError):
            await self._conference.unsubscribe(active.subscription_id)
        stopped = _now()
        ended = await active.subscription.close()
        await self._segments.finish(active.stream, ended, stopped)
        if self._metrics is not None:  # what the network did to each track, counted once its receiver ends
            for sink, _ in ended:
                stats = sink.stats
                lost = MediaCounts(frames_lost=stats.frames_dropped, keyframe_requests=stats.keyframe_requests)
                self._metrics.segment_finished(sink.kind.value, lost)
        active.stream.state, active.stream.stopped = state, stopped
        await self._repo.save_stream(active.stream)

    async def _end_all(self) -> None:
        """Close every subscription under way (hold the lock): their files are finished, then stored."""
        for active in list(self._active.values()):
            await self._end(active, StreamState.STOPPED)
        self._active.clear()

    async def _finish(
        self, state: RecordingState | None, error: ErrorInfo | None = None, reason: Reason | None = None
    ) -> None:
        """End the recording once, whoever asks first (stop, or the conference ending); others wait for it.
        None: this instance lets the recording go (handed over, or taken over) and writes nothing about it."""
        if self._finishing is None:
            recording = self.recording
            # the end's lines name the recording, whoever ends it (a stop request, the service's shutdown)
            with scope(
                recorderId=recording.recorder_id,
                conversationId=recording.conversation_id,
                instanceId=recording.instance_id,
            ):
                self._finishing = asyncio.create_task(self._close(state, error, reason))
        await asyncio.shield(self._finishing)

    async def _close(self, state: RecordingState | None, error: ErrorInfo | None, reason: Reason | None) -> None:
        if self._watching is not None:
            self._watching.cancel()
        await self._pending.wait()  # changes under way finish first; no new ones start (see _add)
        async with self._lock:
            if self._active and reason is not None and reason.reason not in GONE:
                # what was sent before the stop is still on its way (the SFU, the network, our socket): it is
                # received for a moment more, so that a file does not lose its last sound and frame
                await asyncio.sleep(self._options.drain_seconds)
            await self._end_all()
            await self._pending.wait()
            if self._shipping is not None:
                self._shipping.cancel()
            await self._conference.aclose()
            if state is None:
                return
            if self.recording.state in LIVE_STATES:
                stopped = _now()
                if self.recording.paused:  # a pause ends with the recording
                    self.recording.pauses[-1].resumed = stopped
                self.recording.state, self.recording.stopped, self.recording.error = state, stopped, error
                self.recording.stop_reason = reason
                if not await self._repo.save(self.recording):
                    return  # another instance owns it now: it finishes the recording
        if self._on_finished is not None:
            try:
                await self._on_finished(self.recording)
            except Exception:
                logger.exception("recording %s: finishing work failed", self.recording.recorder_id)

    async def stop(
        self, reason: Reason, state: RecordingState = RecordingState.STOPPED, error: ErrorInfo | None = None
    ) -> None:
        """Stop recording: close every file, store it, leave the conference; the recording ends in `state`,
        for `reason`."""
        await self._shut(state, error, reason)

    async def let_go(self) -> None:
        """Close every file, store it, leave the conference, and write nothing about the recording itself: it
        is handed over to another instance (or was taken over by one)."""
        await self._shut(None, None, None)

    async def _shut(self, state: RecordingState | None, error: ErrorInfo | None, reason: Reason | None) -> None:
        if self._task is not None and not self._task.done():
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self._finish(state, error, reason)
        if not self.joined.done():
            self.joined.set_result(None)

    # ------------------------------------------------------------ controls

    async def pause(self, reason: str | None = None) -> bool:
        """Nothing heard or seen from now on reaches the disk: every track's file ends here (a segment); the
        peer connections stay up (chat and cobrowse of the span are not stored either: `Recording.paused_at`).
        False when it was paused already (nothing changes)."""
        async with self._lock:
            if self.recording.paused or self._finishing is not None:
                return False
            at = _now()
            self.recording.pauses.append(Pause(at, reason=reason))
            for active in self._active.values():
                await self._segments.finish(active.stream, active.subscription.cut(resume=False), at)
            await self._repo.save(self.recording)
            logger.info("recording %s is paused (%s)", self.recording.recorder_id, reason or "no reason given")
            return True

    async def resume(self) -> bool:
        """Every track writes a new file from now on, beginning at a keyframe asked for at once. False when it
        was not paused."""
        async with self._lock:
            if not self.recording.paused or self._finishing is not None:
                return False
            self.recording.pauses[-1].resumed = _now()
            for active in self._active.values():
                active.subscription.resume_all()
            await self._repo.save(self.recording)
            logger.info("recording %s is resumed", self.recording.recorder_id)
            return True

    async def set_rules(self, rules: Rules) -> None:
        """Replace the rules at once: each publication in the room is recorded as they now say (what they no
        longer allow ends there; what they allow again starts a new segment), and so is every later one."""
        async with self._lock:
            if self._finishing is not None:
                return
            self.recording.rules = rules
            await self._repo.save(self.recording)
            for publication in list(self._publications.values()):
                active = self._active.get(publication.id)
                if active is not None and active.kinds == self._kinds(publication):
                    continue
                if active is not None:  # its tracks end here; what is still allowed goes on in new segments
                    del self._active[publication.id]
                    await self._end(active, StreamState.STOPPED)
                await self._subscribe(publication)
            logger.info("recording %s: rules replaced (%s)", self.recording.recorder_id, rules)

    def media_now(self) -> tuple[int, dict[str, MediaCounts]]:
        """(files being written, what the live tracks counted so far by kind), for the metrics."""
        writing = 0
        counts: dict[str, MediaCounts] = {}
        for active in self._active.values():
            for sink in active.subscription.sinks:
                stats, writer = sink.stats, sink.writer
                frames, size = (writer.frames, writer.bytes) if writer is not None else (0, 0)
                writing += frames > 0
                live = MediaCounts(frames, stats.frames_dropped, stats.keyframe_requests, size)
                counts.setdefault(sink.kind.value, MediaCounts()).add(live)
        return writing, counts

    def durability_lag(self) -> float:
        """Seconds from the end of the least durable live track's media in storage to now (0: none live)."""
        return self._shipper.lag(_now()) if self._shipper is not None else 0.0

    def recorded_now(self) -> list[tuple[Publication, frozenset[MediaKind]]]:
        """Every publication in the room with the kinds recorded of it now (none: not recorded)."""
        return [
            (p, self._active[p.id].kinds if p.id in self._active else frozenset()) for p in self._publications.values()
        ]

    # ------------------------------------------------------------ limits

    async def _watch(self) -> None:
        """End the recording when one of its limits is reached: recorded time, an empty room, no media from
        the publishers in it, a pause too long."""
        limits = self.recording.limits
        if limits is None:
            return
        while True:
            await asyncio.sleep(WATCH_INTERVAL)
            arrivals = [a.subscription.last_packet for a in self._active.values()]
            reason = limit_reached(self.recording, limits, not self._publications, self._quiet_since, arrivals)
            if reason is not None:
                self._end_by_itself(Reason(reason))
                return
