"""Coaching sessions: an application's backend registers its sessions; the session's coach starts its
recording once; a completed session's recording is composed into one MP4 and streamed by the users its viewing
policy allows, through a temporary URL.

- A session's recording is a recording of the conversation named by the session id, in the session's
  conference (a Janus VideoRoom room of the application).
- It stops by itself when the backend says the session is COMPLETED or CANCELLED (stop reason API_CALL, the
  backend as caller), or when its conference ends (CONFERENCE_ENDED).
- When the session is COMPLETED, a VIDEO composition (H.264 + AAC MP4, index in front) of its conversation is
  requested; a stream request asks for it again if none is there (an instance that died in between).
- Refusals are `SessionProblem`s: the facade turns each into the coaching API's own answer.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from recorder.clock import now
from recorder.compositions.queue import CompositionCommand, Compositions
from recorder.downloads import Downloads
from recorder.errors import ConflictError, InvalidRequestError, NotFoundError
from recorder.facades.core import FacadeCore, FacadeStart
from recorder.logcontext import scope
from recorder.models import LIVE_STATES, Caller, Composition, Recording, RecordingState
from recorder.persistence.ports import SessionStore
from recorder.settings import ApplicationSettings
from schemas.composition import CompositionState, CompositionType, Layout
from schemas.sessions import ENDED, CoachingSession, SessionCommand, SessionPatch, SessionStatus, UserType

logger = logging.getLogger(__name__)
COMPOSED_SIZE = (1280, 720)


class Problem(StrEnum):
    SESSION_NOT_FOUND = "SESSION_NOT_FOUND"
    ALREADY_RECORDING = "ALREADY_RECORDING"
    UNAUTHORIZED = "UNAUTHORIZED"
    SESSION_ENDED = "SESSION_ENDED"
    NOT_STARTED = "NOT_STARTED"
    NO_PERMISSION = "NO_PERMISSION"
    NO_VIDEOS = "NO_VIDEOS"
    FILE_NOT_FOUND = "FILE_NOT_FOUND"


class SessionProblem(Exception):
    def __init__(self, problem: Problem, detail: str = "") -> None:
        super().__init__(f"{problem.value}: {detail}" if detail else problem.value)
        self.problem = problem


@dataclass(frozen=True)
class User:
    """An end user, as the application's token names them."""

    id: str
    type: UserType


class CoachingSessions:
    def __init__(
        self,
        store: SessionStore,
        core: FacadeCore,
        compositions: Compositions,
        downloads: Downloads,
    ) -> None:
        self._store = store
        self._core = core
        self._compositions = compositions
        self._downloads = downloads
        self._urls: dict[tuple[str, str, str], tuple[str, datetime]] = {}  # (app, session, user) -> URL, until

    # ------------------------------------------------------------ the backend

    async def register(
        self, app: ApplicationSettings, session_id: str, body: SessionCommand | SessionPatch, caller: Caller
    ) -> tuple[CoachingSession, bool]:
        """Register or update a session (PATCH: only the fields given); (session, created). A session that
        ends stops its recording; a completed one is composed."""
        if app.coaching is None:
            raise NotFoundError(f"application {app.id} has no coaching session API")
        previous = await self._store.get(app.id, session_id)
        fields = body.model_dump(exclude_unset=isinstance(body, SessionPatch))
        if previous is None and isinstance(body, SessionPatch):
            raise NotFoundError(f"session {session_id} is not registered: PUT it first")
        base = previous.model_dump() if previous is not None else {"application_id": app.id, "session_id": session_id}
        at = now()
        session = CoachingSession.model_validate({**base, **fields, "created": base.get("created", at), "updated": at})
        if session.status is SessionStatus.COMPLETED and session.completed_at is None:
            session = session.model_copy(update={"completed_at": at})
        await self._store.save(session)
        with scope(conversationId=session_id):
            logger.info("coaching session %s of %s is %s", session_id, app.id, session.status.value)
            if session.status in ENDED:
                await self._end(app, session, caller)
        return session, previous is None

    async def get(self, app: ApplicationSettings, session_id: str) -> CoachingSession:
        session = await self._store.get(app.id, session_id)
        if session is None or app.coaching is None:
            raise NotFoundError(f"session {session_id} is not registered")
        return session

    async def _end(self, app: ApplicationSettings, session: CoachingSession, caller: Caller) -> None:
        live = await self._core.live(app, session.session_id)
        if live is not None:
            logger.info("recording %s: the session ended, it stops", live.recorder_id)
            await self._core.stop(app, live, caller)
        if session.status is SessionStatus.COMPLETED:
            await self._compose(app, session)

    async def _compose(self, app: ApplicationSettings, session: CoachingSession) -> None:
        """Ask for the session's MP4 unless one is there, on its way, or failed (an administrator runs a failed
        one again); nothing recorded: nothing asked."""
        try:
            compositions = await self._of_application(app, session.session_id)
        except NotFoundError:
            return  # never recorded
        if any(c.type is CompositionType.VIDEO and c.state is not CompositionState.CANCELLED for c in compositions):
            return
        try:
            composition = await self._compositions.request(
                CompositionCommand(
                    organization_id=app.organization_id,
                    conversation_id=session.session_id,
                    name=f"session {session.session_id}",
                    type=CompositionType.VIDEO,
                    width=COMPOSED_SIZE[0],
                    height=COMPOSED_SIZE[1],
                    layout=Layout.GRID,
                    priority=1,
                )
            )
        except ConflictError:  # still being recorded (its owner stops it): the next stream request asks again
            logger.info("session %s: still recording, composed later", session.session_id)
            return
        logger.info("session %s: composition %s requested", session.session_id, composition.id)

    async def _of_application(self, app: ApplicationSettings, session_id: str) -> list[Composition]:
        """The session's compositions made for this application (another application of the organization may
        have a conversation of the same id: its files are not this app's users' to see)."""
        return [
            c for c in await self._compositions.query(app.organization_id, session_id) if c.application_id == app.id
        ]

    # ------------------------------------------------------------ the session's users

    async def start_recording(self, app: ApplicationSettings, session_id: str, user: User) -> Recording:
        """The session's coach starts its recording, once."""
        session = await self._store.get(app.id, session_id)
        if session is None:
            raise SessionProblem(Problem.SESSION_NOT_FOUND)
        if user.type is not UserType.COACH or user.id != session.coach_id:
            raise SessionProblem(Problem.UNAUTHORIZED, "only the session's coach starts its recording")
        if session.recorder_id is not None:
            raise SessionProblem(Problem.ALREADY_RECORDING)
        if session.status in ENDED:
            raise SessionProblem(Problem.SESSION_ENDED)
        claim = str(uuid.uuid4())
        if not await self._store.claim_recording(app.id, session_id, claim):
            raise SessionProblem(Problem.ALREADY_RECORDING)
        recording: Recording | None = None
        try:
            recording = await self._core.start(
                app,
                FacadeStart(
                    conversation_id=session_id,
                    conference_id=session.conference_id,
                    caller=Caller(user.id, "USER"),
                    recorder_id=claim,
                ),
            )
        except (InvalidRequestError, NotFoundError) as exc:  # (RoomNotFound too)
            raise SessionProblem(Problem.NOT_STARTED, str(exc)) from None
        finally:  # the claim becomes the recording that started, or is taken back
            kept: str | None = None  # (a conversation already recorded by other means: that recording)
            if recording is not None and recording.state is not RecordingState.FAILED:
                kept = recording.recorder_id
            await self._store.replace_recording(app.id, session_id, claim, kept)
        if recording.state is RecordingState.FAILED:
            detail = recording.error.message if recording.error else "it failed"
            raise SessionProblem(Problem.NOT_STARTED, detail)
        return recording

    async def stream_url(self, app: ApplicationSettings, session_id: str, user: User, origin: str) -> str:
        """A temporary URL of the completed session's MP4 for a user its policy allows (the same URL again for
        the same user until shortly before it expires)."""
        session = await self._store.get(app.id, session_id)
        if session is None:
            raise SessionProblem(Problem.SESSION_NOT_FOUND)
        if not _may_view(session, user, now()):
            raise SessionProblem(Problem.NO_PERMISSION)
        key = (app.id, session_id, user.id)
        cached = self._urls.get(key)
        ttl = app.coaching.url_ttl_seconds if app.coaching else 7200
        if cached is not None and cached[1] - now() > timedelta(seconds=min(300, ttl / 2)):
            return cached[0]
        try:
            recordings = await self._core.recordings(app, session_id)
        except NotFoundError:
            raise SessionProblem(Problem.NO_VIDEOS) from None
        if not any(t.frames > 0 for r in recordings for s in r.streams for t in s.tracks):
            raise SessionProblem(Problem.NO_VIDEOS, "nothing was recorded")
        compositions = await self._of_application(app, session_id)
        mp4 = [c for c in compositions if c.type is CompositionType.VIDEO and c.state is CompositionState.COMPLETED]
        if not mp4:
            if not any(r.state in LIVE_STATES for r in recordings):
                await self._compose(app, session)
            raise SessionProblem(Problem.FILE_NOT_FOUND, "the session's MP4 is not composed yet")
        first = min(mp4, key=lambda c: c.created)
        try:
            await self._downloads.composition_file(first, first.file_name)
        except NotFoundError:
            raise SessionProblem(Problem.FILE_NOT_FOUND, f"composition {first.id} has no file") from None
        url, until = await self._downloads.composition_url(first, origin, ttl_seconds=ttl)
        for old in [k for k, (_, valid) in self._urls.items() if valid <= now()]:
            del self._urls[old]
        self._urls[key] = (url, datetime.fromisoformat(until.replace("Z", "+00:00")))
        return url


def _may_view(session: CoachingSession, user: User, at: datetime) -> bool:
    """The policy: a completed session, its own coach or customer whose type may view, within the times."""
    policy = session.viewing
    own = session.coach_id if user.type is UserType.COACH else session.customer_id
    if user.id != own or user.type not in policy.viewers:
        return False
    if session.status is not SessionStatus.COMPLETED or session.completed_at is None:
        return False
    opens = session.completed_at + timedelta(minutes=policy.available_after_minutes)
    closes = session.completed_at + timedelta(hours=policy.available_for_hours) if policy.available_for_hours else None
    period = policy.period
    if period is not None:
        opens = max(opens, period.start) if period.start else opens
        closes = min(closes, period.until) if closes and period.until else (closes or period.until)
    return opens <= at and (closes is None or at < closes)
