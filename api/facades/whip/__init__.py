"""WHIP ingest (RFC 9725) at `/whip`, and the ingests an AGENT makes in the recorder API.

- `POST /rtc-recorder/api/ingests` (AGENT) `{applicationId, conversationId, userId, streamType, ttlSeconds}`:
  the conversation's live recording (one without a conference, for WHIP publishers only, is started when it
  has none) gets an ingest: `201 {ingestId, url, token, expires, conversationId, recorderId, instanceId}`.
- `POST /whip/{ingestId}` with `Authorization: Bearer <token>` and an SDP offer (`application/sdp`, else 415):
  201 with the answer, `Location` (the WHIP session), `ETag` and the ICE servers in `Link` headers; 406 when a
  section offers no codec that is written without re-encoding (Opus; VP8, H264); 403 when the recording's rules
  record nothing of that publisher; 404 when the recording is not live on this instance.
- `PATCH` of the session: trickled candidates (`application/trickle-ice-sdpfrag`, `If-Match` its ETag or
  `*`): 204. An ICE restart (new ufrag) is 422: aiortc cannot restart ICE; publish again instead.
- `DELETE` of the session ends the publication: its tracks are finished and stored (200).
- `OPTIONS` answers browsers' preflights (CORS for any origin: the token, not a cookie, is the credential).
"""

from __future__ import annotations

from aiohttp import web

from api.errors import NATIVE, Envelope
from api.facades import Route, facade_app
from api.facades.whip import handlers

ROUTES: list[Route] = [  # each handler checks the ingest's token itself (OPTIONS needs none)
    ("POST", "/{ingestId}", handlers.publish),
    ("OPTIONS", "/{ingestId}", handlers.options),
    ("PATCH", "/{ingestId}/{publicationId}", handlers.patch),
    ("DELETE", "/{ingestId}/{publicationId}", handlers.end),
    ("OPTIONS", "/{ingestId}/{publicationId}", handlers.options),
]
ENVELOPE = Envelope(NATIVE.body, headers=handlers.CORS)  # a browser's WHIP client reads its errors too


def make_app() -> web.Application:
    return facade_app(ROUTES, ENVELOPE)
