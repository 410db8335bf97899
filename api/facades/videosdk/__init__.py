"""The VideoSDK facade: participant track recording (`POST /v2/recordings/participant/track/start` and `stop`)
over our recordings, under `/videosdk`. A VideoSDK client changes `https://api.videosdk.live` to
`<base>/videosdk` and its token's key and secret to one of `videosdk_keys`. Errors are VideoSDK's
`{statusCode, error, message}`. The domain: `recorder.facades.videosdk`."""

from __future__ import annotations

from http import HTTPStatus

from aiohttp import web

from api.errors import Envelope
from api.facades import Route, facade_app
from api.facades.videosdk import handlers

ROUTES: list[Route] = [  # each handler checks the VideoSDK token itself
    ("POST", "/v2/recordings/participant/track/start", handlers.start_track_recording),
    ("POST", "/v2/recordings/participant/track/stop", handlers.stop_track_recording),
]
ENVELOPE = Envelope(
    lambda status, _code, message, _details: {
        "statusCode": status,
        "error": HTTPStatus(status).phrase,
        "message": message,
    },
    first_problem=True,
)


def make_app() -> web.Application:
    return facade_app(ROUTES, ENVELOPE)
