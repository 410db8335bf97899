"""RecordingService: starts, stops and reports recordings; owns every RecordingSession this instance runs.

With several instances on one database, any instance answers any request: a stop for a recording another
instance runs is sent to that instance (and followed until it is stopped), and recordings of an instance that
died are taken over (recorder.cluster). Reads of a recording this instance runs are answered from memory (the
session's own record, always current); other reads take one query.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import json
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from recorder.clock import now
from recorder.cluster.leftovers import Leftovers
from recorder.cluster.membership import EVERYONE, Cluster
from recorder.conference.base import Publication
from recorder.conference.factory import Conferences
from recorder.conference.whip import WhipSource
from recorder.durability import Durability
from recorder.errors import ConflictError, InvalidRequestError, LimitError, NotFoundError, UnavailableError
from recorder.logcontext import scope
from recorder.models import (
    LIVE_STATES,
    Caller,
    ErrorInfo,
    MediaKind,
    Reason,
    Recording,
    RecordingState,
    Rules,
    StopReason,
    StreamState,
    UploadJob,
    UploadKind,
    UploadState,
)
from recorder.operations.metrics import Metrics
from recorder.persistence.ports import AdmissionRefused, Admit, Capacity, ClusterStore, RecordingStore
from recorder.recordings.admission import Admission
from recorder.recordings.commands import Ids, StartCommand, caller_fields, caller_of, limits_of
from recorder.recordings.reads import RecordingReads
from recorder.recordings.session import RecordingSession, SessionOptions
from recorder.settings import ApplicationSettings, Settings
from recorder.tasks import TaskSet
from recorder.uploads.uploader import Uploader
from storage_providers.base import StoredObject

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Command:
    """A command that runs where its recording runs (`RecordingService._follow`)."""

    op: str  # its name between instances
    here: Callable[[RecordingSession], Awaitable[Recording]]  # this instance runs the recording
    settled: Callable[[Recording], Awaitable[Recording | None]]  # the answer the database shows, if any
    late: Callable[[Recording], Recording]  # the owner did not answer in time
    fields: dict[str, str]  # sent with it


class RecordingService(RecordingReads):
    def __init__(
        self,
        settings: Settings,
        recordings: RecordingStore,
        cluster_store: ClusterStore,
        cluster: Cluster,
        uploader: Uploader,
        conferences: Conferences,
        admission: Admission,
        leftovers: Leftovers,
        key_template: Callable[[str], str],
        on_finished: Callable[[Recording], Awaitable[None]],
        metrics: Metrics | None = None,
        subscribe: Callable[[Recording, str, str], Awaitable[object]] | None = None,
        durability: Durability | None = None,
    ) -> None:
        self._settings = settings
        self._subscribe = subscribe  # (recording, url, format): a webhook subscription to that recording alone
        self._metrics = metrics or Metrics()
        self._metrics.live = self.live_metrics
        self.instance_id = settings.instance_id
        super().__init__(recordings)
        self._cluster_store = cluster_store
        self._cluster = cluster
        self._uploader = uploader
        self._conferences = conferences
        self._admission = admission
        self._leftovers = leftovers
        self._key_template = key_template
        self._on_finished = on_finished
        self._durability = durability
        self._options = SessionOptions(
            settings.spool,
            settings.ice_servers,
            settings.flush_interval_ms,
            settings.conference_rejoin_seconds,
            settings.media_receive_buffer_bytes,
            settings.stop_drain_seconds,
        )
        self._tasks = TaskSet("recordings")
        uploader.on(UploadKind.TRACK, self._track_uploaded)
        cluster.serve(self, leftovers)
        cluster.on("stop", self._stop_requested)
        for op in ("pause", "resume", "rules"):
            cluster.on(op, self._control_requested)

    async def _finished(self, recording: Recording) -> None:
        self._conferences.ended(recording.recorder_id)  # its WHIP publishers' offers are refused from now
        await self._on_finished(recording)

    def whip(self, recorder_id: str) -> RecordingSession | None:
        """The live session of a recording that runs on this instance (its WHIP publishers send here)."""
        self._forget_finished()
        session = self._sessions.get(recorder_id)
        return session if session is not None and session.recording.state in LIVE_STATES else None

    def whip_source(self, recorder_id: str) -> WhipSource | None:
        """The WHIP publications of a recording live on this instance."""
        return self._conferences.whip(recorder_id) if self.whip(recorder_id) is not None else None

    async def _track_uploaded(self, job: UploadJob, stored: StoredObject | None) -> None:
        """The uploader's progress with a track's file, written where the API shows it (and on the live
        session's own record, which answers reads while the recording runs here)."""
        at = now()
        session = self._sessions.get(job.recorder_id)
        track = session.track(job.subject) if session is not None else None
        if job.state is UploadState.DONE:
            if self._durability is not None:  # its segments in storage are not needed any more
                await self._durability.discard(job.application_id, job.recorder_id, job.subject)
            if track is not None:
                track.local_deleted = at
            await self._repo.set_track_local_deleted(job.subject, at)
            return
        if job.state is UploadState.UPLOADED and stored is not None:
            location, size, uploaded, error = stored.location, stored.size, at, None
        elif job.state is UploadState.FAILED:
            location, size, uploaded, error = None, None, None, job.error
        elif job.state is UploadState.PENDING:  # tried again: its last error no longer holds
            location, size, uploaded, error = None, None, None, None
        else:
            return
        if track is not None:
            track.object_location, track.object_size, track.object_uploaded = location, size, uploaded
            track.object_error = error
        await self._repo.set_track_object(job.subject, location, size, uploaded, error)

    def _session(self, recording: Recording, app: ApplicationSettings) -> RecordingSession:
        session = RecordingSession(
            recording,
            functools.partial(self._conferences.connect, app, recording.conference_id, recording.recorder_id),
            self._repo,
            self._uploader,
            self._key_template(app.id),
            self._options,
            on_finished=self._finished,
            on_disk_full=self._admission.release_reserve,
            metrics=self._metrics,
            durability=self._durability,
        )
        self._sessions[recording.recorder_id] = session
        session.start()
        return session

    # ------------------------------------------------------------ commands

    async def start(self, command: StartCommand) -> Recording:
        """Start recording a conversation; a retry while it is live returns the live recording."""
        self._forget_finished()
        asked = time.monotonic()
        if self._cluster.draining:
            self._metrics.admission_refusals.labels("SHUTTING_DOWN").inc()
            raise UnavailableError(
                "this instance is shutting down; send the request to another one",
                retry_after=1,
                code="SHUTTING_DOWN",
            )
        app = self._settings.application_of(command.organization_id, command.application_id)
        try:
            self._conferences.check(app, command.conference_id)  # an id that can never be a room: nothing starts
        except ValueError as exc:
            raise InvalidRequestError(str(exc), code="INVALID_CONFERENCE_ID") from None
        limits = limits_of(self._settings, command)
        live = await self._repo.get_live(app.organization_id, command.conversation_id)
        if live is not None and live.application_id != app.id:
            raise ConflictError(f"conversation {command.conversation_id} is being recorded by another application")
        if live is None:
            await self._admission.check()
        recording, created = await self._admitted(
            Recording(
                recorder_id=command.recorder_id or str(uuid.uuid4()),
                conversation_id=command.conversation_id,
                instance_id=self.instance_id,
                organization_id=app.organization_id,
                application_id=app.id,
                conference_id=command.conference_id,
                audio=command.audio,
                video=command.video,
                screen=command.screen,
                state=RecordingState.INITIALISED,
                created=now(),
                lease_until=self._cluster.lease(),
                start_reason=Reason(StopReason.API_CALL, command.caller),
                rules=command.rules,
                limits=limits,
                key_template=command.key_template,
                facade=command.facade,
            )
        )
        session = self._sessions.get(recording.recorder_id)
        if created:
            with scope(recorderId=recording.recorder_id, conversationId=recording.conversation_id):
                logger.info("recording %s of conversation %s starts", recording.recorder_id, command.conversation_id)
                try:
                    if command.webhook is not None and self._subscribe is not None:  # before its first event
                        await self._subscribe(recording, *command.webhook)
                    session = self._session(recording, app)
                except Exception as exc:  # the recording was stored: it must not stay live
                    recording.state, recording.stopped = RecordingState.FAILED, now()
                    recording.error = ErrorInfo(
                        "INTERNAL_ERROR", f"it could not start: {type(exc).__name__}", recording.stopped
                    )
                    await self._repo.save(recording)
                    raise
        if session is not None:
            with contextlib.suppress(TimeoutError):  # still joining: the answer says INITIALISED
                await asyncio.wait_for(asyncio.shield(session.joined), self._settings.start_timeout_seconds)
            if created and session.recording.state is RecordingState.ACTIVE:
                self._metrics.start_latency.observe(time.monotonic() - asked)
            return session.recording
        return recording

    async def subscribe(self, recording: Recording, url: str, format_: str) -> None:
        """`url` gets the recording's events from now on (in `format_`), as a start's `webhook` does."""
        if self._subscribe is not None:
            await self._subscribe(recording, url, format_)

    async def capacity(self) -> Capacity:
        """Room for recordings on this instance and on every running instance (for an autoscaler)."""
        room = await self._cluster_store.capacity(time.time(), self.instance_id)
        return dataclasses.replace(room, own=self._settings.capacity)

    async def _admitted(self, recording: Recording) -> tuple[Recording, bool]:
        """Store a new recording (or find the conversation's live one), admitted in the same transaction against
        this instance's capacity (503 with Retry-After: another instance may have room) and its application's
        `live_recordings_per_application` (429), counted on every instance: a burst never overshoots."""
        limits = Admit(self._settings.capacity, self._settings.live_recordings_per_application)
        try:
            return await self._repo.create_or_get_live(recording, limits)
        except AdmissionRefused as refused:
            if refused.full == "application":
                self._metrics.admission_refusals.labels("APPLICATION_LIMIT").inc()
                raise LimitError(
                    f"application {recording.application_id} has {refused.most} live recordings, the most it may have",
                    retry_after=30,
                ) from None
            self._metrics.admission_refusals.labels("CAPACITY").inc()
            raise UnavailableError(
                f"instance {self.instance_id} runs {refused.live} recordings, its capacity; send the request to"
                " another instance, or again later",
                retry_after=self._settings.capacity_retry_after_seconds,
                code="CAPACITY",
            ) from None

    async def stop(
        self,
        organization_id: str,
        conversation_id: str,
        recorder_id: str,
        instance_id: str,
        caller: Caller | None = None,
    ) -> Recording:
        """Stop a recording wherever it runs: here, on its owner (sent as a command, followed until it is
        stopped, at most `command_timeout_seconds`), or nowhere (left by a dead instance: stopped here). Its
        stop reason is API_CALL with the caller."""
        reason = Reason(StopReason.API_CALL, caller)

        async def here(session: RecordingSession) -> Recording:
            self._sessions.pop(session.recording.recorder_id, None)
            await session.stop(reason)
            return session.recording

        async def settled(recording: Recording) -> Recording | None:
            if recording.state not in LIVE_STATES:
                return recording
            if recording.state is RecordingState.PENDING_RECOVERY and (recording.lease_until or 0) < time.time():
                return await self._stop_unowned(recording.recorder_id, reason)
            return None

        def late(recording: Recording) -> Recording:
            logger.warning("recording %s: its instance did not stop it in time", recording.recorder_id)
            return recording

        command = _Command("stop", here, settled, late, caller_fields(caller))
        return await self._follow(organization_id, (conversation_id, recorder_id, instance_id), command)

    async def stop_by_ids(
        self,
        organization_id: str,
        application_id: str,
        recorder_id: str,
        instance_id: str,
        conversation_id: str | None,
        caller: Caller | None = None,
    ) -> Recording:
        """Stop a recording named by its application, recorder and instance (its conversation optional)."""
        recording = await self._repo.by_id(recorder_id)
        if (
            recording is None
            or recording.organization_id != organization_id
            or recording.application_id != application_id
            or conversation_id not in (None, recording.conversation_id)
        ):
            raise NotFoundError(f"application {application_id} has no recording {recorder_id}/{instance_id}")
        return await self.stop(organization_id, recording.conversation_id, recorder_id, instance_id, caller)

    async def _stop_unowned(self, recorder_id: str, reason: Reason) -> Recording | None:
        """Stop a recording nobody records (PENDING_RECOVERY, unclaimed): its files are finished and stored."""
        now_s = time.time()
        recording = await self._cluster_store.claim_recovery(
            self.instance_id, now_s, self._cluster.lease(), recorder_id
        )
        if recording is None:
            return None
        stopped = now()
        for stream in recording.streams:
            if stream.state is StreamState.RECORDING:
                stream.state, stream.stopped = StreamState.STOPPED, stopped
                await self._repo.save_stream(stream)
        recording.state, recording.stopped, recording.stop_reason = RecordingState.STOPPED, stopped, reason
        if recording.paused:
            recording.pauses[-1].resumed = stopped
        await self._repo.save(recording)
        logger.info("recording %s was left by its instance: STOPPED here", recorder_id)
        await self._leftovers.finalize(alive_but=None)
        await self._on_finished(recording)
        return await self._repo.by_id(recorder_id)

    async def _stop_requested(self, message: dict[str, Any]) -> None:
        """Another instance asks this one to stop a recording it runs."""
        session = self._sessions.pop(str(message.get("recorderId")), None)
        if session is not None:
            with scope(recorderId=session.recording.recorder_id, conversationId=session.recording.conversation_id):
                logger.info("recording %s: stopped at another instance's request", session.recording.recorder_id)
                await session.stop(Reason(StopReason.API_CALL, caller_of(message)))

    # ------------------------------------------------------------ controls

    async def pause(self, organization_id: str, ids: Ids, reason: str | None = None) -> Recording:
        """Pause a live recording wherever it runs (idempotent: a paused one is answered as it is); `reason`
        (e.g. PAYMENT) is kept with the pause and said in the manifest."""
        return await self._control(organization_id, ids, "pause", lambda r: r.paused, reason=reason)

    async def resume(self, organization_id: str, ids: Ids) -> Recording:
        """Resume a paused recording wherever it runs (idempotent: one not paused is answered as it is)."""
        return await self._control(organization_id, ids, "resume", lambda r: not r.paused)

    async def set_rules(self, organization_id: str, ids: Ids, rules: Rules) -> Recording:
        """Replace a live recording's rules, wherever it runs; they apply at once."""
        return await self._control(organization_id, ids, "rules", lambda r: r.rules == rules, rules=rules)

    async def _control(
        self,
        organization_id: str,
        ids: Ids,
        op: str,
        done: Callable[[Recording], bool],
        rules: Rules | None = None,
        reason: str | None = None,
    ) -> Recording:
        """Apply a control wherever the recording runs. ConflictError when the recording is not live, or nobody
        records it now (it is being taken over); UnavailableError when its owner does not answer in time."""

        async def here(session: RecordingSession) -> Recording:
            await self._apply(session, op, rules, reason)
            return session.recording

        async def settled(recording: Recording) -> Recording | None:
            if recording.state not in LIVE_STATES:
                raise ConflictError(f"recording {recording.recorder_id} is {recording.state.value}: not live")
            if done(recording):
                return recording
            if recording.state is RecordingState.PENDING_RECOVERY:
                raise ConflictError(f"recording {recording.recorder_id} is being taken over; try again")
            return None

        def late(recording: Recording) -> Recording:
            raise UnavailableError(f"the instance of recording {recording.recorder_id} did not answer", retry_after=1)

        fields = {"rules": json.dumps(rules.to_data())} if rules is not None else {}
        if reason is not None:
            fields["reason"] = reason
        return await self._follow(organization_id, ids, _Command(op, here, settled, late, fields))

    async def _follow(self, organization_id: str, ids: Ids, command: _Command) -> Recording:
        """The one loop of a command: applied here when this instance runs the recording; else sent to its
        owner (again if another instance takes it over) and followed in the database until `command.settled`
        answers, at most `command_timeout_seconds` (then `command.late`)."""
        recording = await self.get(organization_id, *ids)
        deadline = time.monotonic() + self._settings.command_timeout_seconds
        sent_to: str | None = None
        with scope(recorderId=recording.recorder_id, conversationId=recording.conversation_id):
            while True:
                session = self._sessions.get(recording.recorder_id)
                if session is not None and session.recording.state in LIVE_STATES:
                    return await command.here(session)
                answer = await command.settled(recording)
                if answer is not None:
                    return answer
                waiting = recording.state is RecordingState.PENDING_RECOVERY  # (nobody to send it to)
                if not waiting and recording.instance_id not in (sent_to, self.instance_id):
                    sent_to = recording.instance_id
                    logger.info("recording %s: %s sent to instance %s", recording.recorder_id, command.op, sent_to)
                    await self._cluster.send(sent_to, command.op, recorderId=recording.recorder_id, **command.fields)
                if time.monotonic() > deadline:
                    return command.late(recording)
                await asyncio.sleep(0.05)
                recording = await self.get(organization_id, *ids)

    async def _apply(self, session: RecordingSession, op: str, rules: Rules | None, reason: str | None = None) -> None:
        if op == "pause":
            await session.pause(reason)
        elif op == "resume":
            await session.resume()
        elif rules is not None:
            await session.set_rules(rules)

    async def _control_requested(self, message: dict[str, Any]) -> None:
        """Another instance asks this one to apply a control to a recording it runs."""
        session = self._sessions.get(str(message.get("recorderId")))
        if session is None:
            return
        rules = Rules.from_data(json.loads(str(message["rules"]))) if "rules" in message else None
        with scope(recorderId=session.recording.recorder_id, conversationId=session.recording.conversation_id):
            reason = message.get("reason")
            await self._apply(session, str(message.get("op")), rules, None if reason is None else str(reason))

    def publications(self, recorder_id: str) -> list[tuple[Publication, frozenset[MediaKind]]]:
        """The publications in the room of a recording this instance runs, with what is recorded of each."""
        session = self._sessions.get(recorder_id)
        return session.recorded_now() if session is not None else []

    # ------------------------------------------------------------ the cluster's calls (recorder.cluster.Member)

    async def holding(self, recorder_ids: set[str], since: float) -> None:
        for recorder_id, session in list(self._sessions.items()):
            if recorder_id in recorder_ids or session.created > since:
                continue
            if session.recording.state in LIVE_STATES:
                with scope(recorderId=recorder_id, conversationId=session.recording.conversation_id):
                    logger.warning("recording %s: this instance lost its lease; another one takes over", recorder_id)
                self._sessions.pop(recorder_id, None)
                self._tasks.spawn(session.let_go(), name=f"let-go-{recorder_id}")

    async def recover(self, recording: Recording) -> None:
        app = self._settings.application(recording.application_id)
        if app is None:  # not configured on this instance: it cannot join
            logger.error(
                "recording %s: application %s is not configured here", recording.recorder_id, recording.application_id
            )
            recording.state, recording.stopped = RecordingState.ABORTED, now()
            recording.error = ErrorInfo(
                "APPLICATION_UNKNOWN", "the recovering instance does not know the application", recording.stopped
            )
            recording.stop_reason = Reason(StopReason.JOIN_FAILED)
            await self._repo.save(recording)
            return
        self._metrics.takeovers.inc()
        if recording.limits is None:  # recorded before limits existed: the service's defaults
            recording.limits = limits_of(self._settings, StartCommand(recording.organization_id, app.id, "", ""))
        self._session(recording, app)

    async def aclose(self) -> None:
        """Shut down: take no new work; hand every recording this instance runs over to the others (or stop
        it: `shutdown_recordings`), its files closed and queued for upload."""
        self._cluster.draining = True
        sessions, self._sessions = list(self._sessions.values()), {}
        handover = self._settings.shutdown_recordings == "handover"
        shutdown = Reason(StopReason.SHUTDOWN)
        if handover:  # the others are told first: they join while this instance still records (a gap of a join)
            handed = [s.recording.recorder_id for s in sessions if s.recording.state in LIVE_STATES]
            for recorder_id in handed:
                await self._cluster_store.release_recordings(self.instance_id, recorder_id)
            if handed:
                logger.info("recordings %s are handed over", ", ".join(handed))
                await self._cluster.send(EVERYONE, "recover")
        await asyncio.gather(*(s.let_go() if handover else s.stop(shutdown) for s in sessions), return_exceptions=True)
        # recordings let go meanwhile (a lost lease): their files are finished by their next owner anyway
        _, late = await asyncio.wait({asyncio.ensure_future(self._tasks.wait())}, timeout=10)
        if late:
            logger.error("shutdown: recordings let go did not finish in 10 s")
