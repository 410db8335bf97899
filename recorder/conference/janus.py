"""JanusConference: the VideoRoom plugin of a Janus server, over its HTTP API.

Flow: `create` a session -> `attach` janus.plugin.videoroom -> long-poll `GET /janus/<session>` for
events. The bot joins the room as a publisher that never publishes (so it hears `publishers`,
`unpublished`, `leaving` and `destroyed`), and opens one subscriber handle per publication.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
from typing import Any, cast

import aiohttp

from recorder.conference.base import (
    Conference,
    ConferenceEnded,
    ConferenceError,
    ConferenceEvent,
    Publication,
    PublicationAdded,
    PublicationRemoved,
)
from recorder.models import MediaKind
from recorder.tasks import TaskSet

logger = logging.getLogger(__name__)

JsonObject = dict[str, Any]
STREAM_TYPES = frozenset({"CAM", "MIC", "SCREEN", "VIDEO", "HOLD", "UNKNOWN"})
NO_SUCH_ROOM = 426
MAX_ROOM = (1 << 63) - 1  # Janus parses JSON integers as signed 64-bit; room 0 is none
NEVER_ROOMS = frozenset({"null", "undefined", "none", "nan"})  # what a client sends when it has no id


def room_id(conference_id: str, string_ids: bool) -> int | str:
    """The VideoRoom room a conference id names, or ValueError saying why it can name none: rooms are
    numbers, or strings when the plugin has `string_ids` set."""
    text = conference_id.strip()
    if not text or text.lower() in NEVER_ROOMS:
        raise ValueError(f"conferenceId {conference_id!r} names no conference")
    if string_ids:
        return text
    if not text.isdecimal() or not text.isascii() or str(int(text)) != text or not 0 < int(text) <= MAX_ROOM:
        raise ValueError(
            f"conferenceId {conference_id!r} is not a room of this application's Janus: its rooms are numbers "
            f"from 1 to {MAX_ROOM} (set the application's janus.string_ids when its VideoRoom uses string ids)"
        )
    return int(text)


def parse_display(feed_id: str, display: str | None) -> tuple[str, str]:
    """(userId, stream type) from a publisher's display: JSON {"userId", "type"} or a plain user id."""
    if display:
        with contextlib.suppress(ValueError):
            meta = json.loads(display)
            if isinstance(meta, dict):
                user = str(meta.get("userId") or feed_id)
                kind = str(meta.get("type") or "CAM").upper()
                return user, kind if kind in STREAM_TYPES else "UNKNOWN"
        return display, "CAM"
    return feed_id, "CAM"


def _publication(entry: JsonObject) -> Publication:
    feed = str(entry["id"])
    user, stream_type = parse_display(feed, entry.get("display"))
    mids = tuple(
        (str(s["mid"]), MediaKind(s["type"]))
        for s in entry.get("streams", [])
        if not s.get("disabled") and s.get("type") in set(MediaKind) and "mid" in s
    )
    kinds = frozenset(kind for _, kind in mids)
    return Publication(feed, user, stream_type, kinds, mids)


class JanusConference(Conference):
    def __init__(
        self,
        http: aiohttp.ClientSession,
        url: str,
        room: int | str,
        *,
        api_secret: str | None = None,
        request_timeout: float = 10.0,
        keepalive_interval: float = 25.0,
        display: str = "recorder",
        string_ids: bool = False,
    ) -> None:
        self._http = http
        self._url = url.rstrip("/")
        self._room = room  # see room_id
        self._string_ids = string_ids  # rooms and publishers have string ids
        self._api_secret = api_secret
        self._timeout = request_timeout
        self._keepalive_interval = keepalive_interval
        self._display = display
        self._session: int | None = None
        self._listener: int | None = None
        self._waiters: dict[str, asyncio.Future[JsonObject]] = {}
        self._events: asyncio.Queue[ConferenceEvent] = asyncio.Queue()
        self._subscribers: dict[str, int] = {}  # subscription id -> handle
        self._tasks = TaskSet("janus")
        self._ended = False

    # -- the Conference port -------------------------------------------------------------------

    async def join(self) -> list[Publication]:
        created = await self._request(self._url, {"janus": "create"})
        self._session = int(created["data"]["id"])
        self._tasks.spawn(self._poll(), name=f"janus-poll-{self._session}")
        self._tasks.spawn(self._keepalive(), name=f"janus-keepalive-{self._session}")
        self._listener = await self._attach()
        data, _ = await self._message(
            self._listener, {"request": "join", "ptype": "publisher", "room": self._room, "display": self._display}
        )
        publications = [_publication(p) for p in data.get("publishers", [])]
        logger.info("joined Janus room %s (session %s): %d publications", self._room, self._session, len(publications))
        return publications

    async def next_event(self) -> ConferenceEvent:
        return await self._events.get()

    async def subscribe(self, publication: Publication, kinds: frozenset[MediaKind]) -> tuple[str, str]:
        handle = await self._attach()
        feed = publication.id if self._string_ids else int(publication.id)
        streams = [{"feed": feed, "mid": mid} for mid, kind in publication.mids if kind in kinds]
        body: JsonObject = {"request": "join", "ptype": "subscriber", "room": self._room, "streams": streams}
        try:
            _, jsep = await self._message(handle, body)
        except ConferenceError:
            await self._detach(handle)
            raise
        if not jsep or jsep.get("type") != "offer":
            await self._detach(handle)
            raise ConferenceError("CONFERENCE_ERROR", f"Janus sent no offer for feed {publication.id}")
        subscription = str(handle)
        self._subscribers[subscription] = handle
        return subscription, str(jsep["sdp"])

    async def answer(self, subscription_id: str, sdp: str) -> None:
        handle = self._subscribers[subscription_id]
        await self._message(handle, {"request": "start"}, jsep={"type": "answer", "sdp": sdp})

    async def unsubscribe(self, subscription_id: str) -> None:
        handle = self._subscribers.pop(subscription_id, None)
        if handle is not None:
            await self._detach(handle)

    async def aclose(self) -> None:
        if self._session is not None and not self._ended:
            with contextlib.suppress(ConferenceError, aiohttp.ClientError, asyncio.TimeoutError):
                await self._request(f"{self._url}/{self._session}", {"janus": "destroy"})
        self._ended = True
        await self._tasks.aclose()
        for waiter in self._waiters.values():
            if not waiter.done():
                waiter.set_exception(ConferenceError("CONFERENCE_ERROR", "left the conference"))
        self._waiters.clear()

    # -- Janus HTTP API ------------------------------------------------------------------------

    async def _attach(self) -> int:
        answer = await self._request(
            f"{self._url}/{self._session}", {"janus": "attach", "plugin": "janus.plugin.videoroom"}
        )
        return int(answer["data"]["id"])

    async def _detach(self, handle: int) -> None:
        with contextlib.suppress(ConferenceError, aiohttp.ClientError, asyncio.TimeoutError):
            await self._request(f"{self._url}/{self._session}/{handle}", {"janus": "detach"})

    async def _message(
        self, handle: int, body: JsonObject, jsep: JsonObject | None = None
    ) -> tuple[JsonObject, JsonObject | None]:
        """Send a plugin request; wait for its result whether Janus answers at once or by event."""
        payload: JsonObject = {"janus": "message", "body": body}
        if jsep is not None:
            payload["jsep"] = jsep
        transaction = secrets.token_hex(8)
        waiter: asyncio.Future[JsonObject] = asyncio.get_running_loop().create_future()
        self._waiters[transaction] = waiter
        try:
            answer = await self._request(f"{self._url}/{self._session}/{handle}", payload, transaction)
            if answer.get("janus") == "ack":
                answer = await asyncio.wait_for(waiter, self._timeout)
        except TimeoutError as exc:
            raise ConferenceError("CONFERENCE_UNREACHABLE", f"Janus did not answer {body.get('request')}") from exc
        finally:
            self._waiters.pop(transaction, None)
        data = cast(JsonObject, answer.get("plugindata", {}).get("data", {}))
        if "error_code" in data or (data.get("videoroom") == "event" and "error" in data):
            code = "ROOM_NOT_FOUND" if data.get("error_code") == NO_SUCH_ROOM else "CONFERENCE_ERROR"
            raise ConferenceError(code, f"Janus refused {body.get('request')}: {data.get('error')}")
        return data, answer.get("jsep")

    async def _request(self, url: str, payload: JsonObject, transaction: str | None = None) -> JsonObject:
        payload = {**payload, "transaction": transaction or secrets.token_hex(8)}
        if self._api_secret:
            payload["apisecret"] = self._api_secret
        try:
            async with self._http.post(url, json=payload, timeout=aiohttp.ClientTimeout(total=self._timeout)) as resp:
                answer = cast(JsonObject, await resp.json(content_type=None))
        except (TimeoutError, aiohttp.ClientError, ValueError) as exc:
            detail = str(exc) or type(exc).__name__
            raise ConferenceError("CONFERENCE_UNREACHABLE", f"Janus at {self._url} is unreachable: {detail}") from exc
        if answer.get("janus") == "error":
            error = answer.get("error", {})
            raise ConferenceError("CONFERENCE_ERROR", f"Janus error {error.get('code')}: {error.get('reason')}")
        return answer

    async def _poll(self) -> None:
        """Janus's events. An error answer (the session is gone: Janus restarted or timed it out) or a server
        that does not answer three times in a row ends the conference as lost, at once and logged; retries
        wait a second, so a dead server is never flooded."""
        failures = 0
        while True:
            try:
                async with self._http.get(
                    f"{self._url}/{self._session}",
                    params={"maxev": "10"},
                    timeout=aiohttp.ClientTimeout(total=self._timeout + 40),
                ) as resp:
                    status = resp.status
                    body = await resp.json(content_type=None) if status == 200 else None
                failures = 0
            except (TimeoutError, aiohttp.ClientError, ValueError) as exc:
                failures += 1
                if failures >= 3:
                    logger.warning("Janus session %s lost: %r", self._session, exc)
                    self._end("conference server unreachable", lost=True)
                    return
                await asyncio.sleep(1)
                continue
            if status != 200 or not isinstance(body, list | dict) or (isinstance(body, dict) and "error" in body):
                # a restarted Janus answers 404 for a session it never had; others answer an error object
                logger.warning("Janus session %s lost: HTTP %d %s", self._session, status, body)
                self._end("conference session lost", lost=True)
                return
            for event in body if isinstance(body, list) else [body]:
                if isinstance(event, dict):
                    self._dispatch(event)

    async def _keepalive(self) -> None:
        while True:
            await asyncio.sleep(self._keepalive_interval)
            with contextlib.suppress(ConferenceError):
                await self._request(f"{self._url}/{self._session}", {"janus": "keepalive"})

    def _end(self, reason: str, lost: bool = False) -> None:
        if not self._ended:
            self._ended = True
            self._events.put_nowait(ConferenceEnded(reason, lost))

    def _dispatch(self, event: JsonObject) -> None:
        kind = event.get("janus")
        waiter = self._waiters.get(str(event.get("transaction")))
        if waiter is not None and not waiter.done() and kind in ("event", "success", "error"):
            waiter.set_result(event)
            return
        if kind == "timeout":
            self._end("conference session timed out", lost=True)
            return
        sender = event.get("sender")
        if kind == "hangup" or kind == "detached":
            subscription = str(sender)
            if subscription in self._subscribers:
                self._subscribers.pop(subscription, None)
            return
        if kind != "event" or sender != self._listener:
            return
        data = event.get("plugindata", {}).get("data", {})
        if data.get("videoroom") == "destroyed":
            self._end("conference room destroyed")
            return
        for entry in data.get("publishers", []):
            publication = _publication(entry)
            logger.info("Janus room %s: %s publishes (user %s)", self._room, publication.id, publication.user_id)
            self._events.put_nowait(PublicationAdded(publication))
        for field in ("unpublished", "leaving", "kicked"):
            feed = data.get(field)
            if feed is not None and feed != "ok":
                logger.info("Janus room %s: %s %s", self._room, feed, field)
                self._events.put_nowait(PublicationRemoved(str(feed)))
