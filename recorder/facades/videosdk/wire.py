"""VideoSDK's participant track recording webhooks (the `videosdk` webhook format): `starting` when a start is
accepted (the recording started, or its rules took in the participant's kind), `started` when a track's first
frame is written, `stopping` when its file ends, `stopped` with `fileDetails` once it is stored, `failed` when
it cannot be stored or the recording failed (a start whose bot could not join)."""

from __future__ import annotations

from typing import Any

from recorder.events import Event, videosdk_targets
from recorder.naming import videosdk_kind


def render(message: str, event: Event, urls: dict[str, str]) -> dict[str, Any]:
    """`message`: a webhook type, or `type#index` for the index-th of the event's `videosdk_targets`."""
    message, _, index = message.partition("#")
    recording = event.data["recording"]
    data: dict[str, Any] = {"meetingId": recording["conferenceId"], "sessionId": recording["recorderId"]}
    if index:
        target = videosdk_targets(event)[int(index)]
        data.update(participantId=target["userId"], kind=target["kind"])
    else:
        track = event.data["track"]
        data.update(participantId=track["userId"], kind=videosdk_kind(track["streamType"], track["type"]))
    if message.endswith("-stopped"):
        location = event.data["file"]["location"]
        data["fileDetails"] = [{"filePath": location, "fileUrl": urls.get(location)}]
    return {"webhookType": message, "data": data}
