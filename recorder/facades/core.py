"""The facade port: what a facade asks of the core, always for one application (its caller's key acts within
that application only): start a recording, stop, pause, resume or change its rules, and read recordings.

`ServiceCore` is the port over `RecordingService`. A start translates the core's "no such conference" (an id
that can never be a room, or a room the conference server does not have) into `RoomNotFound` once, for every
facade."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Protocol

from recorder.errors import ConflictError, InvalidRequestError, NotFoundError
from recorder.models import Caller, Recording, RecordingState, Rules
from recorder.persistence.ports import RecordingQuery
from recorder.recordings.commands import StartCommand
from recorder.recordings.service import RecordingService
from recorder.settings import ApplicationSettings


class RoomNotFound(NotFoundError):
    """The conference (a meeting, a room) does not exist."""

    def __init__(self, message: str) -> None:
        super().__init__(message, code="ROOM_NOT_FOUND")


@dataclass(frozen=True)
class FacadeStart:
    """A start as a facade asks it; the application fills the organization and the application."""

    conversation_id: str
    conference_id: str
    caller: Caller
    audio: bool = True
    video: bool = True
    screen: bool = True
    rules: Rules = field(default_factory=Rules)
    max_seconds: float | None = None
    key_template: str | None = None
    webhook: tuple[str, str] | None = None  # (url, format)
    recorder_id: str | None = None
    facade: str | None = None  # the facade starting it: only it acts on it afterwards (`own`)


class FacadeCore(Protocol):
    async def start(self, app: ApplicationSettings, start: FacadeStart) -> Recording:
        """A started recording (FAILED when the bot could not join for another reason); RoomNotFound."""

    async def stop(self, app: ApplicationSettings, recording: Recording, caller: Caller) -> Recording: ...

    async def pause(self, app: ApplicationSettings, recording: Recording) -> Recording: ...

    async def resume(self, app: ApplicationSettings, recording: Recording) -> Recording: ...

    async def set_rules(self, app: ApplicationSettings, recording: Recording, rules: Rules) -> Recording: ...

    async def subscribe(self, recording: Recording, url: str, format_: str) -> None:
        """`url` gets the recording's events from now on (each URL once)."""

    async def live(self, app: ApplicationSettings, conversation_id: str) -> Recording | None:
        """The conversation's live recording in the application, if any."""

    async def get(self, app: ApplicationSettings, recorder_id: str) -> Recording:
        """One of the application's recordings by its id (NotFoundError: none, or another application's)."""

    async def recordings(self, app: ApplicationSettings, conversation_id: str) -> list[Recording]:
        """The conversation's recordings in the application, oldest first (NotFoundError: none)."""

    async def page(self, app: ApplicationSettings, query: RecordingQuery) -> tuple[list[Recording], int]:
        """One page of the application's recordings (the query's application is the caller's), and the total."""


def own(recording: Recording, facade: str) -> Recording:
    """`recording` when `facade` started it; else 409: a facade does not act on another API's recordings."""
    if recording.facade != facade:
        raise ConflictError(
            f"{recording.conversation_id} is being recorded through another API (recording {recording.recorder_id})"
        )
    return recording


def _ids(recording: Recording) -> tuple[str, str, str]:
    return recording.conversation_id, recording.recorder_id, recording.instance_id


class ServiceCore:
    """`FacadeCore` over the recording service."""

    def __init__(self, service: RecordingService) -> None:
        self._service = service

    async def start(self, app: ApplicationSettings, start: FacadeStart) -> Recording:
        command = StartCommand(
            organization_id=app.organization_id,
            application_id=app.id,
            conference_id=start.conference_id,
            conversation_id=start.conversation_id,
            audio=start.audio,
            video=start.video,
            screen=start.screen,
            caller=start.caller,
            rules=start.rules,
            max_duration_seconds=start.max_seconds,
            key_template=start.key_template,
            webhook=start.webhook,
            recorder_id=start.recorder_id,
            facade=start.facade,
        )
        try:
            recording = await self._service.start(command)
        except InvalidRequestError as exc:  # an id that can never be a room of the application
            if exc.code != "INVALID_CONFERENCE_ID":
                raise
            raise RoomNotFound(str(exc)) from None
        error = recording.error if recording.state is RecordingState.FAILED else None
        if error is not None and error.code == "ROOM_NOT_FOUND":
            raise RoomNotFound(error.message)
        return recording

    async def stop(self, app: ApplicationSettings, recording: Recording, caller: Caller) -> Recording:
        return await self._service.stop(app.organization_id, *_ids(recording), caller=caller)

    async def pause(self, app: ApplicationSettings, recording: Recording) -> Recording:
        return await self._service.pause(app.organization_id, _ids(recording))

    async def resume(self, app: ApplicationSettings, recording: Recording) -> Recording:
        return await self._service.resume(app.organization_id, _ids(recording))

    async def set_rules(self, app: ApplicationSettings, recording: Recording, rules: Rules) -> Recording:
        return await self._service.set_rules(app.organization_id, _ids(recording), rules)

    async def subscribe(self, recording: Recording, url: str, format_: str) -> None:
        await self._service.subscribe(recording, url, format_)

    async def live(self, app: ApplicationSettings, conversation_id: str) -> Recording | None:
        return await self._service.live(app.organization_id, conversation_id, app.id)

    async def get(self, app: ApplicationSettings, recorder_id: str) -> Recording:
        recording = await self._service.by_id(recorder_id)
        if recording is None or recording.application_id != app.id:
            raise NotFoundError("Recording not found")
        return recording

    async def recordings(self, app: ApplicationSettings, conversation_id: str) -> list[Recording]:
        return await self._service.recordings(app.organization_id, conversation_id, app.id)

    async def page(self, app: ApplicationSettings, query: RecordingQuery) -> tuple[list[Recording], int]:
        return await self._service.page(replace(query, application_id=app.id))
