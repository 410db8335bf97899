"""The coaching session API: a coaching app's two customer-facing endpoints over our recordings, under
`/coaching/{applicationId}` (the app changes its API base to `<base>/coaching/<application id>`), and the
session registration its backend calls in the recorder API (`backend`, SERVICE). Errors are the app's
`{success: false, message, data, statusCode}`. The domain: `recorder.facades.coaching`."""

from __future__ import annotations

from aiohttp import web

from api.errors import Envelope
from api.facades import Route, facade_app
from api.facades.coaching import handlers

ROUTES: list[Route] = [  # each handler checks the app's end-user token itself
    ("POST", "/{applicationId}/v1/customer/sessions/{id}/start-recording", handlers.start_recording),
    ("GET", "/{applicationId}/v1/customer/sessions/{id}/stream-record", handlers.stream_record),
]
ENVELOPE = Envelope(
    lambda status, _code, message, _details: {"success": False, "message": message, "data": None, "statusCode": status}
)


def make_app() -> web.Application:
    return facade_app(ROUTES, ENVELOPE)
