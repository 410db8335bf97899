"""Conferences: the factory of conference connections, from an application's settings (its connector: today
Janus VideoRoom), with the recording's WHIP publishers beside it. Apart from the port (`base`), which the
adapters import."""

from __future__ import annotations

from collections.abc import Callable

import aiohttp

from recorder.conference.base import Conference
from recorder.conference.janus import JanusConference, room_id
from recorder.conference.whip import Ingests, WhipSource, WithWhip
from recorder.settings import ApplicationSettings

Rooms = Callable[[ApplicationSettings, str], Conference]  # (application, conference id) -> a connection


class Conferences:
    """The factory: a new connection to a conference of an application, made from the application's settings
    (its connector: today Janus VideoRoom), with the recording's WHIP publishers beside it (`ingests`)."""

    def __init__(
        self,
        http: aiohttp.ClientSession,
        request_timeout: float,
        ingests: Ingests | None = None,
        rooms: Rooms | None = None,
    ) -> None:
        self._http = http
        self._request_timeout = request_timeout
        self._ingests = ingests
        self._rooms = rooms  # another kind of room (the fast tests' fake conference); None: Janus VideoRoom

    def check(self, app: ApplicationSettings, conference_id: str) -> None:
        """Raise ValueError (saying why) when `conference_id` can never name a conference of `app` ("": no
        conference, WHIP publishers only)."""
        if conference_id:
            room_id(conference_id, app.janus.string_ids)

    def connect(self, app: ApplicationSettings, conference_id: str, recorder_id: str | None = None) -> Conference:
        """The recording's conference: its Janus room ("" none) and, with `recorder_id`, its WHIP publishers."""
        room = self._room(app, conference_id) if conference_id else None
        if self._ingests is not None and recorder_id is not None:
            return WithWhip(room, self._ingests.source(recorder_id))
        if room is None:
            raise ValueError("a recording without a conference takes WHIP publishers only")
        return room

    def ended(self, recorder_id: str) -> None:
        """A recording ended: its WHIP source is dropped (offers still waiting are refused)."""
        if self._ingests is not None:
            self._ingests.drop(recorder_id)

    def whip(self, recorder_id: str) -> WhipSource | None:
        """A live recording's WHIP source on this instance."""
        return self._ingests.get(recorder_id) if self._ingests is not None else None

    def _room(self, app: ApplicationSettings, conference_id: str) -> Conference:
        if self._rooms is not None:
            return self._rooms(app, conference_id)
        secret = app.janus.api_secret.get_secret_value() if app.janus.api_secret else None
        return JanusConference(
            self._http,
            app.janus.url,
            room_id(conference_id, app.janus.string_ids),
            api_secret=secret,
            request_timeout=self._request_timeout,
            string_ids=app.janus.string_ids,
        )
