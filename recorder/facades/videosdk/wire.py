"""VideoSDK's participant track recording webhooks (the `videosdk` webhook format): one per track segment,
`starting` and `started` when its file begins (the recorder has no separate start stage per track), `stopping`
when it ends, `stopped` with `fileDetails` once it is stored, `failed` when it cannot be stored."""

from __future__ import annotations

from typing import Any

from recorder.events import Event
from recorder.naming import videosdk_kind


def render(message: str, event: Event, urls: dict[str, str]) -> dict[str, Any]:
    recording, track = event.data["recording"], event.data["track"]
    data: dict[str, Any] = {
        "meetingId": recording["conferenceId"],
        "sessionId": recording["recorderId"],
        "participantId": track["userId"],
        "kind": videosdk_kind(track["streamType"], track["type"]),
    }
    if message.endswith("-stopped"):
        location = event.data["file"]["location"]
        data["fileDetails"] = [{"filePath": location, "fileUrl": urls.get(location)}]
    return {"webhookType": message, "data": data}
