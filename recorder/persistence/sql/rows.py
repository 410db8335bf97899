"""Rows to models and back, shared by the SQL adapters; and the one-query loader of recordings with their
streams, tracks and transcript."""

from __future__ import annotations

import dataclasses
import json
from datetime import datetime, timedelta
from typing import Any

from recorder.models import (
    LIVE_STATES,
    Caller,
    ChatTranscript,
    Composition,
    CompositionState,
    CompositionType,
    ErrorInfo,
    Layout,
    Limits,
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
    UploadJob,
    UploadKind,
    UploadState,
)
from recorder.persistence.database import Connection, Row

LIVE = ", ".join(f"'{s.value}'" for s in sorted(LIVE_STATES))
RUNNING_COMPOSITION = "('PREPROCESSING', 'PROCESSING')"
UNFINISHED_UPLOAD = "('PENDING', 'UPLOADED')"


def time_text(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def parse_time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def error_text(value: ErrorInfo | None) -> str | None:
    if value is None:
        return None
    return json.dumps({"code": value.code, "message": value.message, "occurred": value.occurred.isoformat()})


def parse_error(value: str | None) -> ErrorInfo | None:
    if not value:
        return None
    data = json.loads(value)
    return ErrorInfo(data["code"], data["message"], datetime.fromisoformat(data["occurred"]))


def reason_text(value: Reason | None) -> str | None:
    if value is None:
        return None
    caller = value.caller
    return json.dumps(
        {"reason": value.reason.value, "caller": [caller.name, caller.type, caller.user_id] if caller else None}
    )


def parse_reason(value: str | None) -> Reason | None:
    if not value:
        return None
    data = json.loads(value)
    return Reason(StopReason(data["reason"]), Caller(*data["caller"]) if data["caller"] else None)


def pauses_text(pauses: list[Pause]) -> str:
    return json.dumps([[p.paused.isoformat(), time_text(p.resumed), p.reason] for p in pauses])


def parse_pauses(value: str | None) -> list[Pause]:
    """[paused, resumed, reason] (pauses written before reasons: [paused, resumed])."""
    return [
        Pause(datetime.fromisoformat(p[0]), parse_time(p[1]), p[2] if len(p) > 2 else None)
        for p in json.loads(value or "[]")
    ]


def rules_text(rules: Rules) -> str:
    return json.dumps(rules.to_data())


def parse_rules(value: str | None) -> Rules:
    return Rules.from_data(json.loads(value)) if value else Rules()


def limits_text(limits: Limits | None) -> str | None:
    return json.dumps(dataclasses.asdict(limits)) if limits else None


def recording_(row: Row) -> Recording:
    return Recording(
        recorder_id=row["recorder_id"],
        conversation_id=row["conversation_id"],
        instance_id=row["instance_id"],
        organization_id=row["organization_id"],
        application_id=row["application_id"],
        conference_id=row["conference_id"],
        audio=bool(row["audio"]),
        video=bool(row["video"]),
        state=RecordingState(row["state"]),
        created=datetime.fromisoformat(row["created"]),
        started=parse_time(row["started"]),
        stopped=parse_time(row["stopped"]),
        recovered=parse_time(row["recovered"]),
        error=parse_error(row["error"]),
        lease_until=row["lease_until"],
        screen=bool(row["video"] if row["screen"] is None else row["screen"]),
        start_reason=parse_reason(row["start_reason"]),
        stop_reason=parse_reason(row["stop_reason"]),
        pauses=parse_pauses(row["pauses"]),
        rules=parse_rules(row["rules"]),
        limits=Limits(**json.loads(row["limits"])) if row["limits"] else None,
        manifest_location=row["manifest_location"],
        manifest_error=parse_error(row["manifest_error"]),
        key_template=row["key_template"],
        facade=row["facade"],
        epoch=row["epoch"],
    )


def stream_(row: Row) -> Stream:
    return Stream(
        id=row["id"],
        recorder_id=row["recorder_id"],
        publication_id=row["publication_id"],
        type=row["type"],
        user_id=row["user_id"],
        state=StreamState(row["state"]),
        started=datetime.fromisoformat(row["started"]),
        stopped=parse_time(row["stopped"]),
    )


def track(row: Row) -> Track:
    return Track(
        id=row["id"],
        stream_id=row["stream_id"],
        kind=MediaKind(row["type"].lower()),
        started=datetime.fromisoformat(row["started"]),
        local_location=row["local_location"],
        stopped=parse_time(row["stopped"]),
        local_deleted=parse_time(row["local_deleted"]),
        local_error=parse_error(row["local_error"]),
        object_location=row["object_location"],
        object_size=row["object_size"],
        object_uploaded=parse_time(row["object_uploaded"]),
        object_error=parse_error(row["object_error"]),
        frames=row["frames"],
        duration=row["duration"],
        media_start=parse_time(row["media_start"]),
        writer=row["writer"],
        gaps=[(float(a), float(b)) for a, b in json.loads(row["gaps"] or "[]")],
        codec=row["codec"],
        durable_until=_durable_until(row),
    )


def _durable_until(row: Row) -> datetime | None:
    """A live track's media safe in storage (the journal's last segment), when the row was read with it."""
    try:
        durable = row["durable"]
    except (KeyError, IndexError):
        return None
    if durable is None or row["stopped"] is not None:
        return None
    return datetime.fromisoformat(row["started"]) + timedelta(seconds=float(durable))


def upload(row: Row) -> UploadJob:
    return UploadJob(
        application_id=row["application_id"],
        recorder_id=row["recorder_id"],
        kind=UploadKind(row["kind"]),
        subject=row["subject"],
        source=row["source"],
        key=row["key"],
        size=row["size"],
        md5=row["md5"],
        sha256=row["sha256"],
        created=datetime.fromisoformat(row["created"]),
        next_attempt=datetime.fromisoformat(row["next_attempt"]),
        state=UploadState(row["state"]),
        attempts=row["attempts"],
        error=parse_error(row["error"]),
        id=row["id"],
        origin=row["origin"],
        owner=row["owner"],
    )


def composition(row: Row) -> Composition:
    return Composition(
        id=row["id"],
        organization_id=row["organization_id"],
        application_id=row["application_id"],
        conversation_id=row["conversation_id"],
        name=row["name"],
        type=CompositionType(row["type"]),
        width=row["width"],
        height=row["height"],
        layout=Layout(row["layout"]),
        priority=row["priority"],
        state=CompositionState(row["state"]),
        created=datetime.fromisoformat(row["created"]),
        progress=row["progress"],
        completed=parse_time(row["completed"]),
        duration=row["duration"],
        size=row["size"],
        error=parse_error(row["error"]),
        local_location=row["local_location"],
        object_location=row["object_location"],
        object_uploaded=parse_time(row["object_uploaded"]),
        deleted=parse_time(row["deleted"]),
        owner=row["owner"],
        keep_pauses=bool(row["keep_pauses"]),
        timeline_start=parse_time(row["timeline_start"]),
        pauses_left_out=parse_pauses(row["pauses_left_out"]),
    )


def marks(values: list[Any] | set[Any]) -> str:
    return ",".join("?" * len(values))


_STREAM_COLUMNS = ("id", "recorder_id", "publication_id", "type", "user_id", "state", "started", "stopped")
_TRACK_COLUMNS = (
    "id",
    "stream_id",
    "recorder_id",
    "type",
    "started",
    "stopped",
    "local_location",
    "local_deleted",
    "local_error",
    "object_location",
    "object_size",
    "object_uploaded",
    "object_error",
    "frames",
    "duration",
    "media_start",
    "writer",
    "gaps",
    "codec",
)
_LOAD = (
    "SELECT r.*, "
    + ", ".join(f"s.{c} AS s_{c}" for c in _STREAM_COLUMNS)
    + ", "
    + ", ".join(f"t.{c} AS t_{c}" for c in _TRACK_COLUMNS)
    + ", (SELECT MAX(g.media_end) FROM track_segments g WHERE g.track_id = t.id) AS t_durable"
    + ", c.id AS c_id, c.created AS c_created, c.location AS c_location"
    " FROM recordings r LEFT JOIN streams s ON s.recorder_id = r.recorder_id"
    " LEFT JOIN tracks t ON t.recorder_id = r.recorder_id AND t.stream_id = s.id"
    " LEFT JOIN chat_transcripts c ON c.recorder_id = r.recorder_id"
    " WHERE {where} ORDER BY r.created, r.recorder_id, s.started, s.id, t.started, t.id"
)


class _Prefixed:
    """The columns of one joined table in a row, read by their own names."""

    def __init__(self, row: Row, prefix: str) -> None:
        self._row, self._prefix = row, prefix

    def __getitem__(self, key: str | int, /) -> Any:
        return self._row[f"{self._prefix}{key}"]


async def load_recordings(db: Connection, where: str, *args: Any) -> list[Recording]:
    """The recordings matching `where` (on `r`, the recordings table), oldest first, with their streams, tracks
    and chat transcript: one query."""
    recordings: dict[str, Recording] = {}
    streams: dict[str, Stream] = {}
    for row in await db.fetch(_LOAD.format(where=where), *args):
        recording = recordings.get(row["recorder_id"])
        if recording is None:
            recording = recordings[row["recorder_id"]] = recording_(row)
            if row["c_id"] is not None:
                recording.chat_transcript = ChatTranscript(
                    row["c_id"], datetime.fromisoformat(row["c_created"]), row["c_location"]
                )
        if row["s_id"] is None:
            continue
        stream = streams.get(row["s_id"])
        if stream is None:
            stream = streams[row["s_id"]] = stream_(_Prefixed(row, "s_"))
            recording.streams.append(stream)
        if row["t_id"] is not None:
            stream.tracks.append(track(_Prefixed(row, "t_")))
    return list(recordings.values())


async def load_recording(db: Connection, recorder_id: str) -> Recording | None:
    """One recording as it is now (inside the caller's transaction: the snapshot its events carry)."""
    return next(iter(await load_recordings(db, "r.recorder_id = ?", recorder_id)), None)
