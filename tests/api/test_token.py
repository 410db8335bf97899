"""POST /security/oauth/token as Auvious clients call it, and the tokens and keys it stands for."""

from __future__ import annotations

import base64
import logging
import stat
import time
from pathlib import Path
from typing import Any

import jwt
import pytest
from pytest_aiohttp import AiohttpClient

from tests.builders import CLIENT_ID, CLIENT_SECRET, KEYS, Client, make_client, make_settings
from tests.client import API

TOKEN = "/security/oauth/token"
CREDENTIALS = {"grant_type": "client_credentials", "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET}


async def _token(client: Client, status: int = 200, **kw: Any) -> Any:
    kw["headers"] = {"Authorization": "", **kw.get("headers", {})}  # not the client's default key
    async with client.post(TOKEN, **kw) as resp:
        body = await resp.json()
        assert resp.status == status, body
        if status == 200:
            assert resp.headers["Cache-Control"] == "no-store"
        return body


async def _status(client: Client, method: str, path: str, authorization: str) -> int:
    async with client.request(method, API + path, headers={"Authorization": authorization}) as resp:
        await resp.read()
        return resp.status


@pytest.fixture
async def query_client(aiohttp_client: AiohttpClient, tmp_path: Path) -> Client:
    """A service whose operator lets old clients send the secret in the token URL's query."""
    settings = make_settings(tmp_path, "http://127.0.0.1:9/janus", token_secret_in_query=True)
    return await make_client(aiohttp_client, settings)


async def test_the_secret_in_the_query_is_refused_unless_the_operator_allows_it(client: Client) -> None:
    answer = await _token(client, 400, params=CREDENTIALS)
    assert answer["error"] == "invalid_request" and "query" in answer["message"]
    assert set(await _token(client, data={**CREDENTIALS})) == {"access_token", "token_type", "expires_in"}


async def test_a_token_from_a_form_body_the_query_or_basic_auth(
    query_client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    client = query_client
    caplog.set_level(logging.DEBUG)
    basic = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
    answers = [
        await _token(client, data=CREDENTIALS),
        await _token(client, params=CREDENTIALS),
        await _token(client, data={"grant_type": "client_credentials"}, headers={"Authorization": f"Basic {basic}"}),
    ]
    for answer in answers:
        assert set(answer) == {"access_token", "token_type", "expires_in"}
        assert answer["token_type"] == "bearer" and answer["expires_in"] == 3600
        bearer = f"Bearer {answer['access_token']}"
        assert await _status(client, "GET", "/recordings/nothing/active", bearer) == 404  # AGENT, org1: allowed
        assert await _status(client, "POST", "/storageproviders/app1/verify", bearer) == 403  # not ADMIN
    # the service's own logs (it runs without aiohttp's access log, which would print the query string)
    ours = "\n".join(r.getMessage() for r in caplog.records if r.name != "aiohttp.access")
    assert CLIENT_SECRET not in ours and answers[0]["access_token"] not in ours


async def test_bad_credentials_are_refused(client: Client) -> None:
    for data in (
        {**CREDENTIALS, "client_secret": "wrong"},
        {**CREDENTIALS, "client_id": "nobody"},
        {"grant_type": "client_credentials"},
    ):
        assert (await _token(client, 401, data=data))["error"] == "invalid_client"
    answer = await _token(client, 400, data={**CREDENTIALS, "grant_type": "password"})
    assert answer["error"] == "unsupported_grant_type"


async def test_forged_and_expired_tokens_are_401(client: Client) -> None:
    good = (await _token(client, data=CREDENTIALS))["access_token"]
    claims = jwt.decode(good, options={"verify_signature": False})
    key = "test-token-signing-key-0123456789abcdef"
    forged = [
        jwt.encode({**claims, "exp": int(time.time()) - 1}, key, algorithm="HS256"),
        jwt.encode({**claims, "roles": ["ADMIN"]}, "another-key-of-32-bytes-or-more-0000", algorithm="HS256"),
        jwt.encode(claims, "", algorithm="none"),
        good[:-2] + ("AA" if not good.endswith("AA") else "BB"),
    ]
    for token in forged:
        assert await _status(client, "GET", "/recordings/nothing/active", f"Bearer {token}") == 401
    assert await _status(client, "GET", "/recordings/nothing/active", f"Bearer {good}") == 404


async def test_a_bare_api_key_is_accepted(client: Client) -> None:
    assert await _status(client, "GET", "/recordings/nothing/active", KEYS["AGENT"]) == 404
    assert await _status(client, "GET", "/recordings/nothing/active", KEYS["AGENT"] + "x") == 401


async def test_without_configured_credentials_a_demo_client_is_made(
    aiohttp_client: AiohttpClient, tmp_path: Path
) -> None:
    settings = make_settings(tmp_path, "http://127.0.0.1:9/janus", clients=[], api_keys=[])
    client = await make_client(aiohttp_client, settings)
    secret_file = settings.data_dir / "demo-client-secret"
    assert stat.S_IMODE(secret_file.stat().st_mode) == 0o600
    credentials = {"grant_type": "client_credentials", "client_id": "demo", "client_secret": secret_file.read_text()}
    token = (await _token(client, data=credentials))["access_token"]
    assert jwt.decode(token, options={"verify_signature": False})["org"] == "demo"
    assert await _status(client, "POST", "/storageproviders/app1/verify", f"Bearer {token}") == 404  # app1 is org1's


@pytest.fixture
def client(app_client: Client) -> Client:
    """Tokens need no conference: the app with the fake one (no Janus started)."""
    return app_client
