"""The HTTP server's own edge: what aiohttp answers before a request reaches the application.

aiohttp answers a request it cannot parse (a header or URL over 8190 bytes, Content-Length with chunked
encoding, a negative Content-Length, a garbage request line) in plain text and logs each one as an ERROR with
its traceback, so anyone could fill the log. Here those answers are the service's JSON error body and one log
line at most; and a connection that has not sent a whole request header within `header_timeout` seconds of
opening is closed, so slow clients cannot hold connections open (an idle kept-alive connection is closed
after aiohttp's keep-alive timeout).

aiohttp's server takes its protocol class from `aiohttp.web_server.RequestHandler`; `install` puts ours
there, in the service's process only (`recorder-service`). aiohttp is pinned below 4 for this.
"""

from __future__ import annotations

import asyncio
import json
import logging

from aiohttp import web_protocol, web_server
from aiohttp.web_request import BaseRequest
from aiohttp.web_response import Response, StreamResponse

logger = logging.getLogger(__name__)
_STATUS_CODES = {400: "BAD_REQUEST", 413: "PAYLOAD_TOO_LARGE", 431: "REQUEST_HEADER_FIELDS_TOO_LARGE"}


class JsonErrorRequestHandler(web_protocol.RequestHandler):
    header_timeout = 10.0  # seconds; set by `install`

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self._waiting_since = asyncio.get_running_loop().time()
        self._header_timer: asyncio.TimerHandle | None = asyncio.get_running_loop().call_later(
            self.header_timeout, self._header_deadline
        )

    def data_received(self, data: bytes) -> None:
        before = self._request_count + len(self._messages)
        super().data_received(data)
        if self._request_count + len(self._messages) > before and self._header_timer is not None:
            self._header_timer.cancel()  # a whole request header came
            self._header_timer = None

    def connection_lost(self, exc: BaseException | None) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None
        super().connection_lost(exc)

    def _header_deadline(self) -> None:
        self._header_timer = None
        if self.transport is not None and not self._messages and self._request_count == 0:
            logger.info("a connection sent no whole request header within %.0f s: closed", self.header_timeout)
            self.transport.close()

    def handle_error(
        self, request: BaseRequest, status: int = 500, exc: BaseException | None = None, message: str | None = None
    ) -> StreamResponse:
        if status >= 500:
            return super().handle_error(request, status, exc, message)
        reason = message or (str(exc) if exc is not None else "the request could not be read")
        logger.info("HTTP %d before the application: %s", status, reason.splitlines()[0][:200])
        body = {"error": _STATUS_CODES.get(status, "BAD_REQUEST"), "message": reason.splitlines()[0][:500]}
        response = Response(status=status, text=json.dumps(body), content_type="application/json")
        response.force_close()
        return response


def install(header_timeout: float) -> None:
    """Use the JSON error handler for every connection this process serves."""
    JsonErrorRequestHandler.header_timeout = header_timeout
    setattr(web_server, "RequestHandler", JsonErrorRequestHandler)  # noqa: B010 - the module aiohttp reads it from
