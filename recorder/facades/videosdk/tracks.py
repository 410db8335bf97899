"""A room is a conference of the key's application; its recording is the conversation `roomId`'s live one.
Each start adds the rule `include {userId: participantId, kind}` to it (the first start starts it); each stop
takes that rule away, and the last stop stops the recording. A participant's track that restarts (unmute,
camera again) gets a new file, as VideoSDK does.

Files go to `${bucketDirPath}/${sessionId}/${participantId}/${kind}/${filename}` in the application's storage
(`sessionId`: our recorder id); `webhookUrl` gets VideoSDK's `participant-track-recording-*` webhooks of that
recording through the durable webhook machinery."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from recorder.errors import InvalidRequestError, NotFoundError, UnavailableError
from recorder.facades.core import FacadeCore, FacadeStart, own
from recorder.logcontext import scope
from recorder.models import Caller, RecordingState, Rule, RuleKind, Rules
from recorder.naming import safe_name
from recorder.settings import ApplicationSettings

logger = logging.getLogger(__name__)
FACADE = "videosdk"


@dataclass(frozen=True)
class TrackStart:
    room_id: str
    participant_id: str
    kind: RuleKind
    webhook_url: str | None = None
    bucket_dir_path: str | None = None


def key_template(bucket_dir_path: str | None) -> str:
    """`${bucketDirPath}/${sessionId}/${participantId}/${kind}/${filename}` (each segment made safe)."""
    parts = [safe_name(p) for p in (bucket_dir_path or "").split("/") if p.strip()]
    return "/".join([*parts, "{recorderId}", "{userId}", "{kind}", "{trackId}.{ext}"])


class VideoSdkTracks:
    def __init__(self, core: FacadeCore, check_url: Callable[[str], Awaitable[None]]) -> None:
        self._core = core
        self._check_url = check_url  # a webhook URL the outbound policy refuses: 400, nothing started

    async def start(self, app: ApplicationSettings, caller: Caller, start: TrackStart) -> None:
        """The room's recording records this participant's kind from now on (RoomNotFound; UnavailableError
        when the bot could not join; ConflictError when the room is recorded through another API). Each start's
        `webhookUrl` gets the recording's webhooks; `bucketDirPath` is the room's (one layout per recording)."""
        if start.webhook_url:
            await self._check_url(start.webhook_url)
        rule = Rule(user_id=start.participant_id, kind=start.kind)
        template = key_template(start.bucket_dir_path)
        live = await self._core.live(app, start.room_id)
        if live is not None:
            own(live, FACADE)
            if start.bucket_dir_path is not None and template != live.key_template:
                raise InvalidRequestError(
                    "bucketDirPath differs from the one this room's recording was started with: the track"
                    " recordings of a room share one directory (omit it, or send the same)"
                )
            if start.webhook_url:
                await self._core.subscribe(live, start.webhook_url, "videosdk")
            if rule not in live.rules.include:
                rules = Rules(include=(*live.rules.include, rule), exclude=live.rules.exclude)
                await self._core.set_rules(app, live, rules)
            with scope(recorderId=live.recorder_id, conversationId=live.conversation_id):
                logger.info("videosdk: room %s records %s of %s", start.room_id, start.kind.value, start.participant_id)
            return
        recording = await self._core.start(
            app,
            FacadeStart(
                conversation_id=start.room_id,
                conference_id=start.room_id,
                caller=caller,
                rules=Rules(include=(rule,)),
                key_template=template,
                webhook=(start.webhook_url, "videosdk") if start.webhook_url else None,
                facade=FACADE,
            ),
        )
        if recording.state is RecordingState.FAILED:
            message = recording.error.message if recording.error else "the room could not be joined"
            raise UnavailableError(f"The room could not be joined: {message}", retry_after=5)

    async def stop(
        self, app: ApplicationSettings, caller: Caller, room_id: str, participant_id: str, kind: RuleKind
    ) -> None:
        """The participant's kind is recorded no more; the last one stops the room's recording."""
        live = await self._core.live(app, room_id)
        rule = Rule(user_id=participant_id, kind=kind)
        if live is None or live.facade != FACADE or rule not in live.rules.include:
            raise NotFoundError("No track recording found for this participant and kind.")
        include = tuple(r for r in live.rules.include if r != rule)
        if include:
            await self._core.set_rules(app, live, Rules(include=include, exclude=live.rules.exclude))
        else:
            await self._core.stop(app, live, caller)
