"""RealtimeKit's recordings of an organization's key: a meeting is a conference of the key's application
(`meeting_id`: a Janus VideoRoom room) and the conversation id of its recordings; a recording is ours (`id`:
our recorder id).

- `file_name_prefix` puts the recording's files below that prefix (in the storage profile's layout).
- `storage_config` is the recording's own destination: its files go there and not to the application's
  storage (`storage.StorageConfig`).
- A track recording (`video` False) records every participant's audio, or those of `user_ids`.
- It acts only on the recordings it started (`FACADE`): a meeting being recorded through another API is 409."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from typing import Any, Literal

from pydantic import ValidationError

from recorder.downloads import Downloads
from recorder.errors import InvalidRequestError
from recorder.events import recording_data, rtk_file
from recorder.facades.core import FacadeCore, FacadeStart, own
from recorder.facades.realtimekit.storage import StorageConfig, problem
from recorder.facades.realtimekit.wire import ONE, STATUSES, realtimekit_recording, realtimekit_status, shaped
from recorder.models import Caller, Recording, Rule, RuleKind, Rules
from recorder.naming import object_key, safe_name
from recorder.persistence.ports import RecordingQuery
from recorder.settings import ApplicationSettings
from recorder.sidecars.manifest import MANIFEST
from recorder.uploads.admin import StorageAdmin
from storage_providers.settings import DEFAULT_KEY_TEMPLATE

Action = Literal["stop", "pause", "resume"]
FACADE = "realtimekit"


@dataclass(frozen=True)
class Start:
    meeting_id: str
    max_seconds: int | None = None
    video: bool = True  # False: participant audio tracks (`/v2/recordings/track`)
    file_name_prefix: str | None = None
    storage_config: StorageConfig | None = None
    user_ids: tuple[str, ...] = ()  # a track recording of these participants only


class RealtimeKitRecordings:
    def __init__(self, core: FacadeCore, storage: StorageAdmin, downloads: Downloads) -> None:
        self._core = core
        self._storage = storage
        self._downloads = downloads

    async def present(self, recording: Recording, origin: str, fields: tuple[str, ...] = ONE) -> dict[str, Any]:
        """RealtimeKit's recording object of one of ours (an answer's `fields`), with download URLs valid from now."""
        valid_until = self._downloads.valid_until()
        urls = await self._downloads.stored_urls(recording, origin)
        files = [rtk_file(t) for s in recording.streams for t in s.tracks if t.object_location]
        storage = await self._storage.own_public(recording.recorder_id)
        template = recording.key_template or self._storage.profile(recording.application_id)[0].key_template
        data = realtimekit_recording(
            recording_data(recording),
            realtimekit_status(recording),
            files,
            urls,
            storage,
            output_file_name=object_key(template, recording, MANIFEST),
            urls_valid_until=valid_until,
        )
        return shaped(data, fields)

    async def start(self, app: ApplicationSettings, caller: Caller, start: Start) -> Recording:
        """A meeting's recording (its own destination kept before its first file; a bad one: 400, nothing kept)."""
        destination = start.storage_config
        profile = destination.profile() if destination is not None else None
        live = await self._core.live(app, start.meeting_id)
        if live is not None:
            own(live, FACADE)
            raise InvalidRequestError("The meeting already has an active recording")
        template = None
        if start.video:  # its files go below storage_config.path (SFTP: the folder) and file_name_prefix
            layout = DEFAULT_KEY_TEMPLATE if destination is not None else self._storage.profile(app.id)[0].key_template
            path = destination.path if destination and destination.type != "sftp" else None
            folders = [f for f in (path, start.file_name_prefix) if f]
            prefix = "/".join(safe_name(p) for folder in folders for p in folder.split("/") if p.strip())
            template = f"{prefix}/{layout}" if prefix else None
        recorder_id = str(uuid.uuid4())
        if destination is not None and profile is not None:
            try:
                await self._storage.set_own(recorder_id, profile, destination.public())
            except ValidationError as exc:
                raise InvalidRequestError(f"storage_config is not valid: {problem(exc)}") from None
        return await self._core.start(
            app,
            FacadeStart(
                conversation_id=start.meeting_id,
                conference_id=start.meeting_id,
                caller=caller,
                video=start.video,
                screen=start.video,
                rules=Rules(include=tuple(Rule(user_id=u, kind=RuleKind.AUDIO) for u in start.user_ids)),
                max_seconds=start.max_seconds,
                key_template=template,
                recorder_id=recorder_id,
                facade=FACADE,
            ),
        )

    async def act(self, app: ApplicationSettings, caller: Caller, recorder_id: str, action: Action) -> Recording:
        recording = own(await self._core.get(app, recorder_id), FACADE)
        if action == "stop":
            return await self._core.stop(app, recording, caller)
        if action == "pause":
            return await self._core.pause(app, recording)
        return await self._core.resume(app, recording)

    async def get(self, app: ApplicationSettings, recorder_id: str) -> Recording:
        return await self._core.get(app, recorder_id)

    async def active(self, app: ApplicationSettings, meeting_id: str) -> Recording | None:
        """The meeting's live recording started through this API (another API's is not RealtimeKit's)."""
        live = await self._core.live(app, meeting_id)
        return live if live is not None and live.facade == FACADE else None

    async def page(
        self, app: ApplicationSettings, query: RecordingQuery, statuses: list[str], origin: str, fields: tuple[str, ...]
    ) -> tuple[list[dict[str, Any]], int, int]:
        """One page of recording objects (of `statuses`, of STATUSES; none: any), the page's size before the
        statuses are told apart, and the total."""
        if statuses:
            query = replace(query, states=tuple(sorted({state for s in statuses for state in STATUSES[s]})))
        recordings, total = await self._core.page(app, query)
        data = [await self.present(r, origin, fields) for r in recordings]  # (`fields` have its status)
        if statuses:  # states shared by two statuses (RECORDING/PAUSED, UPLOADING/UPLOADED) are told apart here
            data = [d for d in data if d["status"] in statuses]
        return data, len(recordings), total
