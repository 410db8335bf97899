"""The API as a client calls it: one typed client for every test.

`ApiClient` speaks to an app in this process (aiohttp's test client) or to a service process (a session and
its base URL). It knows the API's prefixes, the default authentication (a key sent on every call unless a call
says otherwise) and JSON: `json()` checks the status and gives the body. The recording helpers are the calls a
conferencing backend makes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import aiohttp
from aiohttp import web
from aiohttp.client import _RequestContextManager
from aiohttp.test_utils import TestClient
from yarl import URL

from api.paths import API, COMPOSITION_API, LEGACY_PREFIX
from tests.eventually import eventually

__all__ = ["API", "COMPOSITION_API", "LEGACY_PREFIX", "ApiClient", "ids", "uploaded"]


def ids(event: dict[str, Any]) -> str:
    """A recording's ids as they appear in its paths."""
    return f"{event['conversationId']}/{event['recorderId']}/{event['instanceId']}"


def uploaded(info: Any) -> bool:
    """Every track's upload has ended: stored and its local file deleted, or failed."""
    storages = [t["storage"] for s in info["streams"] for t in s["tracks"]]
    return all(s["localStorage"].get("deleted") or s.get("objectStorage", {}).get("error") for s in storages)


class ApiClient:
    def __init__(
        self,
        http: TestClient[web.Request, web.Application] | aiohttp.ClientSession,
        base: str = "",
        key: str | None = None,
    ) -> None:
        """`http` with `base` before every path (an in-process test client: ""); `key` is sent as the bearer
        of every call that names no Authorization of its own (the test client may carry its own default)."""
        self._http = http
        self._base = base
        self._headers = {"Authorization": f"Bearer {key}"} if key else {}

    # ------------------------------------------------------------ HTTP, as aiohttp's client

    @property
    def app(self) -> web.Application:
        assert isinstance(self._http, TestClient) and self._http.app is not None, "an in-process app only"
        return self._http.app

    def make_url(self, path: str) -> URL:
        if isinstance(self._http, TestClient):
            return self._http.make_url(path)
        return URL(self._base + path)

    def request(self, method: str, path: str, **kw: Any) -> _RequestContextManager:
        headers = {**self._headers, **kw.pop("headers", {})}
        return self._http.request(method, self._base + path, headers=headers, **kw)

    def get(self, path: str, **kw: Any) -> _RequestContextManager:
        return self.request("GET", path, **kw)

    def post(self, path: str, **kw: Any) -> _RequestContextManager:
        return self.request("POST", path, **kw)

    def put(self, path: str, **kw: Any) -> _RequestContextManager:
        return self.request("PUT", path, **kw)

    def delete(self, path: str, **kw: Any) -> _RequestContextManager:
        return self.request("DELETE", path, **kw)

    async def close(self) -> None:
        """Close an in-process app's test client (its app shuts down); a session stays with its owner."""
        if isinstance(self._http, TestClient):
            await self._http.close()

    # ------------------------------------------------------------ JSON

    async def json(self, method: str, path: str, status: int = 200, **kw: Any) -> Any:
        """Call `path` (absolute: name the prefix), check the status, give the JSON body (None for a 204)."""
        async with self.request(method, path, **kw) as resp:
            body = await resp.json(content_type=None) if resp.status != 204 else None
            assert resp.status == status, (method, path, resp.status, body)
            return body

    async def wait_for(self, path: str, done: Callable[[Any], object], seconds: float = 30.0, **kw: Any) -> Any:
        """GET `path` until `done` says yes (uploads, compositions run in the background)."""
        return await eventually(lambda: self.json("GET", path, **kw), done, within=seconds, what=f"GET {path}")

    # ------------------------------------------------------------ recordings

    async def start(self, room: int | str, conversation: str, **flags: bool) -> dict[str, Any]:
        body = {"applicationId": "app1", "conferenceId": str(room), "conversationId": conversation, **flags}
        answer: dict[str, Any] = await self.json("POST", f"{API}/recordings/start", json=body)
        return answer

    async def stop(self, event: dict[str, Any], status: int = 200) -> dict[str, Any]:
        answer: dict[str, Any] = await self.json("POST", f"{API}/recordings/{ids(event)}/stop", status)
        return answer

    async def recording(self, event: dict[str, Any]) -> dict[str, Any]:
        answer: dict[str, Any] = await self.json("GET", f"{API}/recordings/{ids(event)}")
        return answer

    async def wait_tracks(
        self, event: dict[str, Any], user: str, count: int, within: float = 10
    ) -> list[dict[str, Any]]:
        """Until `user` has `count` tracks (a track appears when its first frame is written); its tracks."""

        def tracks(info: dict[str, Any]) -> list[dict[str, Any]]:
            return [t for s in info["streams"] if s["userId"] == user for t in s["tracks"]]

        info = await eventually(
            lambda: self.recording(event),
            lambda info: len(tracks(info)) >= count,
            within=within,
            what=f"{user} having {count} tracks",
        )
        return tracks(info)
