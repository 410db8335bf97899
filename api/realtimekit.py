"""The RealtimeKit facade: Cloudflare RealtimeKit's recordings API over our recordings, under `/realtimekit`.
A RealtimeKit client changes `https://api.realtime.cloudflare.com` to `<base>/realtimekit` and its
organization id and API key to one of `realtimekit_keys` (`Authorization: Basic base64(orgId:apiKey)`).

- A meeting is a conference of the key's application (`meeting_id`: a Janus VideoRoom room), and the
  conversation id of its recordings; a recording is ours (`id`: our recorder id).
- Answers are `{success: true, data}` (lists add `paging`); errors `{success: false, error: {code, message}}`
  (`api.errors`). The recording object is `recorder.webhooks.formats.realtimekit_recording`, the same the
  `realtimekit` webhook format sends.
- `file_name_prefix` puts the recording's files below that prefix (in the storage profile's layout).
- `storage_config` is the recording's own destination (AWS S3, DigitalOcean Spaces, Azure Blob, GCS, SFTP with
  a password or a key): its files go there and not to the application's storage. Its write-only fields
  (access_key, secret, password, private_key) are kept sealed like our profiles', never answered or logged.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, SecretStr, StringConstraints, ValidationError

from api.auth import Handler, origin
from api.keys import DOWNLOADS, RECORDINGS, SETTINGS, STORAGE
from recorder.errors import InvalidRequestError, NotFoundError, UnauthorizedError
from recorder.events import recording_data, rtk_file
from recorder.models import Caller, Recording, RecordingState, Rules
from recorder.naming import safe_name
from recorder.persistence.ports import RecordingQuery
from recorder.recordings.service import StartCommand
from recorder.settings import ApplicationSettings
from recorder.webhooks.formats import realtimekit_recording, realtimekit_status
from storage_providers.settings import DEFAULT_KEY_TEMPLATE

MeetingId = Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=r"^[^/\\\x00-\x1f\x7f]+$")]
LIST_PARAMETERS = {"meeting_id", "page_no", "per_page", "status", "sort_by", "sort_order", "start_time", "end_time"}
STATUSES = {  # RealtimeKit's status -> our states
    "INVOKED": ("INITIALISED", "PENDING_RECOVERY"),
    "RECORDING": ("ACTIVE",),
    "PAUSED": ("ACTIVE",),
    "UPLOADING": ("STOPPED",),
    "UPLOADED": ("STOPPED",),
    "ERRORED": ("FAILED", "ABORTED"),
}


class AudioConfig(BaseModel):
    channel: Literal["mono", "stereo"] | None = None
    codec: Literal["MP3", "AAC"] | None = None
    export_file: bool | None = None


Text = Annotated[str, StringConstraints(min_length=1, max_length=2048)]
Secret = Annotated[SecretStr, Field(min_length=1, max_length=16384)]


class StorageConfig(BaseModel):
    """RealtimeKit's storage_config; `endpoint_url` (an S3-compatible, Azure or GCS endpoint) and `host_key`
    (the SFTP server's public host key, which this recorder pins) are ours."""

    model_config = ConfigDict(extra="ignore")

    type: Literal["aws", "azure", "digitalocean", "gcs", "sftp"]
    access_key: Secret | None = None
    secret: Secret | None = None
    bucket: Annotated[str, StringConstraints(min_length=3, max_length=222)] | None = None
    region: Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[a-z0-9-]+$")] | None = None
    path: Annotated[str, Field(max_length=512)] | None = None
    host: Annotated[str, StringConstraints(min_length=1, max_length=255, pattern=r"^[A-Za-z0-9.:_\[\]-]+$")] | None = (
        None
    )
    port: Annotated[int, Field(ge=1, le=65535)] | None = None
    username: Text | None = None
    auth_method: Literal["KEY", "PASSWORD"] | None = None
    password: Secret | None = None
    private_key: Secret | None = None
    endpoint_url: Annotated[str, Field(pattern=r"^https?://[!-~]+$", max_length=2048)] | None = None
    host_key: Text | None = None

    def public(self) -> dict[str, Any]:
        """As answered: every field but the write-only ones."""
        fields = (
            "type",
            "bucket",
            "region",
            "path",
            "host",
            "port",
            "username",
            "auth_method",
            "endpoint_url",
            "host_key",
        )
        return {name: getattr(self, name) for name in fields if getattr(self, name) is not None}

    def profile(self) -> dict[str, Any]:
        """Our storage profile of it (InvalidRequestError naming what is missing)."""
        kind = self.type

        def needed(*names: str) -> None:
            for name in names:
                if getattr(self, name) is None:
                    raise InvalidRequestError(f"storage_config.{name} is required for {kind} storage")

        def reveal(value: SecretStr | None) -> str | None:
            return value.get_secret_value() if value is not None else None

        if kind in ("aws", "digitalocean"):
            needed("bucket", "access_key", "secret", *(("region",) if kind == "digitalocean" else ()))
            endpoint = self.endpoint_url
            if endpoint is None and kind == "digitalocean":
                endpoint = f"https://{self.region}.digitaloceanspaces.com"
            credentials = {"accessKeyId": reveal(self.access_key), "secretAccessKey": reveal(self.secret)}
            return {
                "provider": "AMAZON_S3",
                "bucket": self.bucket,
                "region": self.region or "us-east-1",
                "endpointUrl": endpoint,
                "credentials": credentials,
            }
        if kind == "azure":  # access_key: the storage account's name; secret: its key
            needed("bucket", "access_key", "secret")
            return {
                "provider": "AZURE_BLOB",
                "accountName": reveal(self.access_key),
                "container": self.bucket,
                "endpointUrl": self.endpoint_url,
                "credentials": {"accountKey": reveal(self.secret)},
            }
        if kind == "gcs":  # secret: the service account's JSON key
            needed("bucket", "secret")
            return {
                "provider": "GOOGLE_CLOUD",
                "bucket": self.bucket,
                "endpointUrl": self.endpoint_url,
                "credentials": {"serviceAccountKey": reveal(self.secret)},
            }
        needed("host", "username", "host_key")
        method = self.auth_method or ("KEY" if self.private_key is not None else "PASSWORD")
        if method == "KEY":
            needed("private_key")
            sftp = {"privateKey": reveal(self.private_key), "passphrase": reveal(self.password)}
        else:
            needed("password")
            sftp = {"password": reveal(self.password)}
        return {
            "provider": "SFTP_STORAGE",
            "host": self.host,
            "port": self.port or 22,
            "username": self.username,
            "path": self.path or ".",  # (the folder the files go below, from the login's)
            "hostKey": self.host_key,
            "credentials": {k: v for k, v in sftp.items() if v is not None},
        }


class StartRecording(BaseModel):
    model_config = ConfigDict(extra="ignore")

    meeting_id: MeetingId
    max_seconds: Annotated[int, Field(ge=60, le=86400)] | None = None
    file_name_prefix: Annotated[str, Field(max_length=200)] | None = None
    audio_config: AudioConfig | None = None
    allow_multiple_recordings: bool | None = None
    storage_config: StorageConfig | None = None


class TrackRecording(BaseModel):
    model_config = ConfigDict(extra="ignore")

    meeting_id: MeetingId
    max_seconds: Annotated[int, Field(ge=60, le=86400)] | None = None
    layers: dict[str, Any] | None = None


class Action(BaseModel):
    model_config = ConfigDict(extra="ignore")

    action: Literal["stop", "pause", "resume"]


def _problem(exc: ValidationError) -> str:
    """The first problem of our profile made from a storage_config (never the input: it may hold secrets)."""
    first = exc.errors(include_url=False, include_input=False)[0]
    return f"{'.'.join(str(p) for p in first['loc'])}: {first['msg']}"


def _caller(request: web.Request) -> tuple[ApplicationSettings, Caller]:
    header = request.headers.get("Authorization", "")
    if not header.lower().startswith("basic "):
        raise UnauthorizedError("Unauthorized: send Basic base64(organizationId:apiKey)")
    try:
        organization, _, key = base64.b64decode(header[6:].strip(), validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        raise UnauthorizedError("Unauthorized: send Basic base64(organizationId:apiKey)") from None
    settings = request.app[SETTINGS]
    for known in settings.realtimekit_keys:
        same_key = hmac.compare_digest(known.api_key.get_secret_value().encode(), key.encode())
        if same_key and hmac.compare_digest(known.organization_id.encode(), organization.encode()):
            app = settings.application(known.application_id)
            if app is not None:
                return app, Caller(known.organization_id, "API_KEY")
    raise UnauthorizedError("Unauthorized: unknown organization id or API key")


async def _present(request: web.Request, recording: Recording) -> dict[str, Any]:
    """RealtimeKit's recording object of one of ours, with download URLs valid from now."""
    urls = await request.app[DOWNLOADS].stored_urls(recording, origin(request))
    files = [rtk_file(t) for s in recording.streams for t in s.tracks if t.object_location]
    storage = await request.app[STORAGE].own_public(recording.recorder_id)
    return realtimekit_recording(recording_data(recording), realtimekit_status(recording), files, urls, storage)


def _ok(data: Any, status: int = 200, **extra: Any) -> web.Response:
    return web.json_response({"success": True, "data": data, **extra}, status=status)


async def _mine(request: web.Request, app: ApplicationSettings, recording_id: str) -> Recording:
    recording = await request.app[RECORDINGS].by_id(recording_id)
    if recording is None or recording.application_id != app.id:
        raise NotFoundError("Recording not found")
    return recording


async def start_recording(request: web.Request) -> web.Response:
    app, caller = _caller(request)
    body = StartRecording.model_validate_json(await request.read())
    own = body.storage_config
    layout = DEFAULT_KEY_TEMPLATE if own is not None else request.app[STORAGE].profile(app.id)[0].key_template
    # the recording's files go below storage_config.path (SFTP: the folder) and file_name_prefix, in the layout
    folders = [f for f in (own.path if own and own.type != "sftp" else None, body.file_name_prefix) if f]
    prefix = "/".join(safe_name(p) for folder in folders for p in folder.split("/") if p.strip())
    template = f"{prefix}/{layout}" if prefix else None
    return await _start(request, app, caller, body.meeting_id, body.max_seconds, own, video=True, template=template)


async def start_track_recording(request: web.Request) -> web.Response:
    """RealtimeKit's participant audio tracks: every participant's audio, each in files of its own."""
    app, caller = _caller(request)
    body = TrackRecording.model_validate_json(await request.read())
    return await _start(request, app, caller, body.meeting_id, body.max_seconds, None, video=False)


async def _start(
    request: web.Request,
    app: ApplicationSettings,
    caller: Caller,
    meeting_id: str,
    max_seconds: int | None,
    storage_config: StorageConfig | None,
    video: bool,
    template: str | None = None,
) -> web.Response:
    service = request.app[RECORDINGS]
    profile = storage_config.profile() if storage_config is not None else None  # (a bad one: 400, nothing kept)
    if await service.live(app.organization_id, meeting_id, app.id) is not None:
        raise InvalidRequestError("The meeting already has an active recording")
    recorder_id = str(uuid.uuid4())
    if storage_config is not None and profile is not None:  # kept before the recording's first file
        try:
            await request.app[STORAGE].set_own(recorder_id, profile, storage_config.public())
        except ValidationError as exc:
            raise InvalidRequestError(f"storage_config is not valid: {_problem(exc)}") from None
    try:
        recording = await service.start(
            StartCommand(
                organization_id=app.organization_id,
                application_id=app.id,
                conference_id=meeting_id,
                conversation_id=meeting_id,
                audio=True,
                video=video,
                screen=video,
                caller=caller,
                rules=Rules(),
                max_duration_seconds=max_seconds,
                key_template=template,
                recorder_id=recorder_id,
            )
        )
    except InvalidRequestError as exc:
        if exc.code != "INVALID_CONFERENCE_ID":
            raise
        raise NotFoundError(f"Meeting not found: {exc}") from None
    error = recording.error if recording.state is RecordingState.FAILED else None
    if error is not None and error.code == "ROOM_NOT_FOUND":  # (unreachable Janus: the recording is ERRORED)
        raise NotFoundError(f"Meeting not found: {error.message}")
    return _ok(await _present(request, recording), 201)


async def list_recordings(request: web.Request) -> web.Response:
    app, _ = _caller(request)
    query = request.query
    unknown = sorted(set(query) - LIST_PARAMETERS)
    if unknown:
        raise InvalidRequestError(f"unknown query parameters: {', '.join(unknown)}")
    if query.get("sort_by", "invokedTime") != "invokedTime":
        raise InvalidRequestError("sort_by is invokedTime")
    try:
        page_no = int(query.get("page_no", "1"))
        per_page = int(query.get("per_page", "25"))
        since = datetime.fromisoformat(query["start_time"].replace("Z", "+00:00")) if "start_time" in query else None
        until = datetime.fromisoformat(query["end_time"].replace("Z", "+00:00")) if "end_time" in query else None
    except ValueError:
        raise InvalidRequestError("page_no and per_page are numbers; start_time and end_time ISO times") from None
    if not 1 <= page_no <= 1_000_000 or not 1 <= per_page <= 100:
        raise InvalidRequestError("page_no is from 1 to 1000000; per_page from 1 to 100")
    status = query.get("status")
    if status is not None and status not in STATUSES:
        raise InvalidRequestError(f"status is one of {', '.join(STATUSES)}")
    if query.get("sort_order", "DESC") not in ("ASC", "DESC"):
        raise InvalidRequestError("sort_order is ASC or DESC")
    recordings, total = await request.app[RECORDINGS].page(
        RecordingQuery(
            application_id=app.id,
            conversation_id=query.get("meeting_id"),
            since=since,
            until=until,
            states=STATUSES[status] if status else (),
            offset=(page_no - 1) * per_page,
            limit=per_page,
            oldest_first=query.get("sort_order") == "ASC",
        )
    )
    data = [await _present(request, r) for r in recordings]
    if status:  # states shared by two statuses (RECORDING/PAUSED, UPLOADING/UPLOADED) are told apart here
        data = [d for d in data if d["status"] == status]
    start = (page_no - 1) * per_page
    paging = {"total_count": total, "start_offset": start, "end_offset": start + max(len(recordings) - 1, 0)}
    return _ok(data, paging=paging)


async def active_recording(request: web.Request) -> web.Response:
    app, _ = _caller(request)
    recording = await request.app[RECORDINGS].live(app.organization_id, request.match_info["meeting_id"], app.id)
    if recording is None:
        raise NotFoundError("No active recording found for this meeting")
    return _ok(await _present(request, recording))


async def get_recording(request: web.Request) -> web.Response:
    app, _ = _caller(request)
    return _ok(await _present(request, await _mine(request, app, request.match_info["recording_id"])))


async def recording_action(request: web.Request) -> web.Response:
    app, caller = _caller(request)
    body = Action.model_validate_json(await request.read())
    recording = await _mine(request, app, request.match_info["recording_id"])
    ids = (recording.conversation_id, recording.recorder_id, recording.instance_id)
    service = request.app[RECORDINGS]
    if body.action == "stop":
        recording = await service.stop(app.organization_id, *ids, caller=caller)
    elif body.action == "pause":
        recording = await service.pause(app.organization_id, ids)
    else:
        recording = await service.resume(app.organization_id, ids)
    return _ok(await _present(request, recording))


# (method, path below REALTIMEKIT, handler): each authenticates with RealtimeKit's Basic credentials itself
REALTIMEKIT_ROUTES: list[tuple[str, str, Handler]] = [
    ("GET", "/v2/recordings", list_recordings),
    ("POST", "/v2/recordings", start_recording),
    ("POST", "/v2/recordings/track", start_track_recording),
    ("GET", "/v2/recordings/active-recording/{meeting_id}", active_recording),
    ("GET", "/v2/recordings/{recording_id}", get_recording),
    ("PUT", "/v2/recordings/{recording_id}", recording_action),
]
