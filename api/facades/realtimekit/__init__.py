"""The RealtimeKit facade: Cloudflare RealtimeKit's recordings API over our recordings, mounted twice.

- As Cloudflare serves it (`make_cloudflare_app`, under `cloudflare_api_base`, `/client/v4` by default):
  `/accounts/{account_id}/realtime/kit/{app_id}/recordings...` with `Authorization: Bearer <API token>`, one of
  `cloudflare_tokens`; the calls of Cloudflare's SDKs (`cloudflare` on PyPI and npm) with `base_url` set to
  `<base>/client/v4`. Errors in Cloudflare's envelope `{success: false, errors: [{code, message}], messages: [],
  result: null}` (code 10000 for authentication, else the HTTP status), `x-should-retry: false` on the 4xx
  that a retry cannot change (the SDKs retry 408, 409 and 429 otherwise).
- The older API (`make_app`, under `/realtimekit`): `/v2/recordings...` with `Authorization: Basic
  base64(orgId:apiKey)`, one of `realtimekit_keys`; errors `{success: false, error: {code, message}}`.

Answers are `{success: true, data}` (lists add `paging`) with the SDKs' types exactly (the recording object:
`recorder.facades.realtimekit.wire`, whose camelCase form the `realtimekit` webhook format sends, signed with
`rtk-signature`; its public key at `/.well-known/webhooks.json` under either prefix)."""

from __future__ import annotations

from collections.abc import Mapping

from aiohttp import web

from api.errors import Envelope
from api.facades import Route, facade_app
from api.facades.realtimekit import handlers
from api.facades.realtimekit.credentials import CREDENTIALS, basic_caller, bearer_caller

RECORDINGS = "/accounts/{account_id}/realtime/kit/{app_id}/recordings"


def _routes(base: str) -> list[Route]:  # each handler checks the credentials of its mount itself
    return [
        ("GET", base, handlers.list_recordings),
        ("POST", base, handlers.start_recording),
        ("POST", base + "/track", handlers.start_track_recording),
        ("GET", base + "/active-recording/{meeting_id}", handlers.active_recording),
        ("GET", base + "/{recording_id}", handlers.get_recording),
        ("PUT", base + "/{recording_id}", handlers.recording_action),
        ("GET", "/.well-known/webhooks.json", handlers.webhook_key),
    ]


ROUTES = _routes("/v2/recordings")
ENVELOPE = Envelope(
    lambda status, _code, message, _details: {"success": False, "error": {"code": status, "message": message}},
    first_problem=True,
)
CLOUDFLARE_ROUTES = _routes(RECORDINGS)


def _no_retry(status: int) -> Mapping[str, str]:
    """A 4xx a retry cannot change: Cloudflare's SDKs are told not to retry it (they would retry a 409)."""
    return {"x-should-retry": "false"} if 400 <= status < 500 and status not in (408, 429) else {}


CLOUDFLARE_ENVELOPE = Envelope(
    lambda status, _code, message, _details: {
        "success": False,
        "errors": [{"code": 10000 if status in (401, 403) else status, "message": message}],
        "messages": [],
        "result": None,
    },
    first_problem=True,
    error_headers=_no_retry,
)


def make_app() -> web.Application:
    app = facade_app(ROUTES, ENVELOPE)
    app[CREDENTIALS] = basic_caller
    return app


def make_cloudflare_app() -> web.Application:
    app = facade_app(CLOUDFLARE_ROUTES, CLOUDFLARE_ENVELOPE)
    app[CREDENTIALS] = bearer_caller
    return app
