"""The RealtimeKit facade: Cloudflare RealtimeKit's recordings API over our recordings, under `/realtimekit`.
A RealtimeKit client changes `https://api.realtime.cloudflare.com` to `<base>/realtimekit` and its
organization id and API key to one of `realtimekit_keys` (`Authorization: Basic base64(orgId:apiKey)`).

Answers are `{success: true, data}` (lists add `paging`); errors `{success: false, error: {code, message}}`.
The recording object is `recorder.facades.realtimekit.wire.realtimekit_recording`, the same the `realtimekit`
webhook format sends. The domain: `recorder.facades.realtimekit`."""

from __future__ import annotations

from aiohttp import web

from api.errors import Envelope
from api.facades import Route, facade_app
from api.facades.realtimekit import handlers

ROUTES: list[Route] = [  # each handler checks RealtimeKit's Basic credentials itself
    ("GET", "/v2/recordings", handlers.list_recordings),
    ("POST", "/v2/recordings", handlers.start_recording),
    ("POST", "/v2/recordings/track", handlers.start_track_recording),
    ("GET", "/v2/recordings/active-recording/{meeting_id}", handlers.active_recording),
    ("GET", "/v2/recordings/{recording_id}", handlers.get_recording),
    ("PUT", "/v2/recordings/{recording_id}", handlers.recording_action),
]
ENVELOPE = Envelope(
    lambda status, _code, message, _details: {"success": False, "error": {"code": status, "message": message}},
    first_problem=True,
)


def make_app() -> web.Application:
    return facade_app(ROUTES, ENVELOPE)
