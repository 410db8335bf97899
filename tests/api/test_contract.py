"""openapi.yaml and the route table stay equal; bad input answers 4xx with a JSON body."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
import yaml

from api.facades.coaching import ROUTES as COACHING_ROUTES
from api.facades.realtimekit import CLOUDFLARE_ROUTES
from api.facades.realtimekit import ROUTES as REALTIMEKIT_ROUTES
from api.facades.videosdk import ROUTES as VIDEOSDK_ROUTES
from api.facades.whip import ROUTES as WHIP_ROUTES
from api.paths import COACHING, REALTIMEKIT, TOKEN_PATH, VIDEOSDK, WHIP
from api.routes import COMPOSITION_ROUTES, OPERATIONS_ROUTES, ROUTES
from recorder.settings import Settings
from tests.builders import Client
from tests.client import API

SPEC = Path(__file__).resolve().parents[2] / "api" / "openapi.yaml"


def test_openapi_matches_the_route_table() -> None:
    spec = yaml.safe_load(SPEC.read_text())
    documented = {
        (method.upper(), path, frozenset(operation["x-roles"]))
        for path, item in spec["paths"].items()
        for method, operation in item.items()
        if method not in ("servers", "parameters")
    }
    routes = {
        (method, path, frozenset(r.value for r in roles)) for method, path, roles, _ in [*ROUTES, *COMPOSITION_ROUTES]
    }
    facades = [*VIDEOSDK_ROUTES, *REALTIMEKIT_ROUTES, *CLOUDFLARE_ROUTES, *COACHING_ROUTES, *WHIP_ROUTES]
    operations = {(method, path, frozenset[str]()) for method, path, _ in [*OPERATIONS_ROUTES, *facades]}
    assert documented == routes | operations | {("POST", TOKEN_PATH, frozenset())}
    for prefix, tag, table in (
        (VIDEOSDK, "VideoSDK", VIDEOSDK_ROUTES),
        (REALTIMEKIT, "RealtimeKit", REALTIMEKIT_ROUTES),
        (Settings.model_fields["cloudflare_api_base"].default, "RealtimeKit (Cloudflare)", CLOUDFLARE_ROUTES),
        (COACHING, "Coaching", COACHING_ROUTES),
        (WHIP, "WHIP", WHIP_ROUTES),
    ):
        for method, path, _ in table:  # a facade: its own servers, its own tag (RealtimeKit's key: both mounts)
            if path == "/.well-known/webhooks.json":
                assert {"url": prefix} in spec["paths"][path]["servers"], path
                continue
            assert spec["paths"][path]["servers"] == [{"url": prefix}], path
            assert spec["paths"][path][method.lower()]["tags"] == [tag], path
    assert [s["url"] for s in spec["servers"]] == [API, "/auvious.video" + API]
    for path in [TOKEN_PATH, *(path for _, path, _ in OPERATIONS_ROUTES)]:
        assert spec["paths"][path]["servers"] == [{"url": "/"}], path
    for _, path, _, _ in COMPOSITION_ROUTES:
        assert spec["paths"][path]["servers"] == [{"url": "/composition/api"}], path
    for _, path, _, _ in ROUTES:
        assert "servers" not in spec["paths"][path], path


async def test_the_service_serves_its_openapi(client: Client) -> None:
    for prefix in ("", "/auvious.video"):
        async with client.get(f"{prefix}{API}/openapi.yaml") as resp:
            assert resp.status == 200
            assert yaml.safe_load(await resp.read()) == yaml.safe_load(SPEC.read_text())


async def _start(client: Client, **kw: Any) -> tuple[int, Any]:
    async with client.post(f"{API}/recordings/start", **kw) as resp:
        return resp.status, await resp.json()


async def test_bad_start_requests_are_400_and_store_nothing(client: Client) -> None:
    good = {"applicationId": "app1", "conferenceId": "1001", "conversationId": "c-bad"}
    cases: list[dict[str, Any]] = [
        {"data": b"{not json", "headers": {"Content-Type": "application/json"}},
        {"json": {**good, "audio": "yes"}},
        {"json": {k: v for k, v in good.items() if k != "conferenceId"}},
        {"json": {**good, "conversationId": "a/b"}},
        {"json": {**good, "conversationId": "bad\nid"}},
        {"json": {**good, "conversationId": ""}},
        {"json": [good]},
    ]
    for case in cases:
        status, body = await _start(client, **case)
        assert status == 400, (case, body)
        assert body["error"] in {"INVALID_REQUEST", "MALFORMED_JSON"} and body["message"]
    status, body = await _start(client, data=io.BytesIO(b"x" * (2 << 20)), headers={"Content-Type": "application/json"})
    assert status == 413 and body["error"]
    status, body = await _start(client, json={**good, "applicationId": "nope"})
    assert status == 404 and body["error"] == "NOT_FOUND"
    async with client.get(f"{API}/recordings/c-bad") as resp:
        assert resp.status == 404


@pytest.fixture
def client(app_client: Client) -> Client:
    """No media here: the app with the fake conference (no Janus started)."""
    return app_client
