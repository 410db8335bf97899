"""The service as a process, tried as an attacker holding ordinary credentials would (issue: trust boundaries):
a facade key, an AGENT key, an organization ADMIN key, no credentials. Listeners on 127.0.0.1 stand for the
company's internal services: the ones the operator did not list must never be reached."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import asyncssh
import jwt
import pytest

from api.credentials import hash_secret
from tests.builders import KEYS, api_keys
from tests.client import API, ApiClient
from tests.eventually import eventually, wait_listening
from tests.storage_servers import free_port

ROOT = Path(__file__).resolve().parents[2]
TOKEN_KEY = "trust-token-signing-key-0123456789abcdef"
VSDK_KEY, VSDK_SECRET = "vsdk-trust", "vsdk-trust-secret-0123456789abcdef"
RTK_ORG, RTK_KEY = "rtk-trust-org", "rtk-trust-api-key-0123456789"
COACHING_SECRET = "trust-coaching-secret-0123456789abcdef"
CLIENT_SECRET = "a-client-secret-people-chose"
WEBHOOK_SECRET = "whsec_" + base64.b64encode(b"0123456789abcdef01234567").decode()
HOST_KEY = asyncssh.generate_private_key("ssh-ed25519").export_public_key().decode().strip()


@dataclass
class Listener:
    """A TCP listener standing for an internal service: counts the connections it gets; `silent` ones are
    held open without a byte (a storage that accepts and never answers)."""

    silent: bool = False
    port: int = field(default_factory=free_port)
    connections: int = 0
    _server: asyncio.Server | None = None
    _held: list[asyncio.StreamWriter] = field(default_factory=list)

    async def start(self) -> None:
        async def accept(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            self.connections += 1
            if self.silent:
                self._held.append(writer)
            else:
                writer.close()

        self._server = await asyncio.start_server(accept, "127.0.0.1", self.port)

    async def stop(self) -> None:
        for writer in self._held:
            writer.close()
        if self._server is not None:
            self._server.close()


@dataclass
class Service:
    url: str
    log: Path
    trap: Listener  # listed nowhere: must never be reached
    allowed_a: Listener  # on the operator's allowlist
    allowed_b: Listener
    silent: Listener  # on the allowlist, accepts and never answers


def _application(app_id: str, data: Path, **extra: Any) -> dict[str, Any]:
    storage = {"provider": "LOCAL_STORAGE", "path": str(data / "storage")}
    return {
        "id": app_id,
        "organization_id": "org1",
        "janus": {"url": "http://127.0.0.1:9/janus"},
        "storage": storage,
        **extra,
    }


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    data, port = tmp_path_factory.mktemp("trust"), free_port()
    listeners = Listener(), Listener(), Listener(), Listener(silent=True)
    loop = asyncio.new_event_loop()  # the listeners run on a thread of their own, beside the tests' loop
    thread = threading.Thread(target=loop.run_forever, name="listeners", daemon=True)
    thread.start()
    for listener in listeners:
        asyncio.run_coroutine_threadsafe(listener.start(), loop).result(10)
    trap, allowed_a, allowed_b, silent = listeners
    env = {
        **os.environ,
        "RECORDER_PORT": str(port),
        "RECORDER_DATA_DIR": str(data),
        "RECORDER_TOKEN_SIGNING_KEY": TOKEN_KEY,
        "RECORDER_CONFERENCE_REQUEST_TIMEOUT_SECONDS": "2",
        "RECORDER_SPOOL_HEADROOM_BYTES": "0",
        "RECORDER_API_KEYS": json.dumps(api_keys()),
        "RECORDER_CLIENTS": json.dumps(
            [
                {
                    "id": name,
                    "secret_hash": hash_secret(CLIENT_SECRET, log_n=12),
                    "organization_id": "org1",
                    "roles": ["AGENT"],
                }
                for name in ("backend", "victim")
            ]
        ),
        "RECORDER_TOKEN_FAILURES_PER_CLIENT": "5",
        "RECORDER_TOKEN_FAILURES_PER_ADDRESS": "1000",
        "RECORDER_VIDEOSDK_KEYS": json.dumps([{"api_key": VSDK_KEY, "secret": VSDK_SECRET, "application_id": "app1"}]),
        "RECORDER_REALTIMEKIT_KEYS": json.dumps(
            [{"organization_id": RTK_ORG, "api_key": RTK_KEY, "application_id": "app1"}]
        ),
        "RECORDER_APPLICATIONS": json.dumps(
            [
                _application("app1", data, coaching={"jwt_secret": COACHING_SECRET}),
                _application("app2", data),
                _application("app3", data),
                _application("app4", data),
                _application("app5", data),
            ]
        ),
        "RECORDER_OUTBOUND_ALLOW": json.dumps([f"127.0.0.1:{x.port}" for x in (allowed_a, allowed_b, silent)]),
        "RECORDER_OUTBOUND_PUBLIC": "false",
        "RECORDER_WEBHOOK_SUBSCRIPTIONS_PER_APPLICATION": "3",
        "RECORDER_LIVE_RECORDINGS_PER_APPLICATION": "3",
        "RECORDER_CHAT_ENTRIES_PER_RECORDING": "5",
        "RECORDER_UPLOAD_CONCURRENCY": "4",
        "RECORDER_SHUTDOWN_UPLOAD_DEADLINE_SECONDS": "1",  # (the silent storage holds its uploads)
    }
    log = data / "service.log"
    with log.open("ab") as out:
        process = subprocess.Popen([sys.executable, "-m", "api"], cwd=ROOT, env=env, stdout=out, stderr=out)
    try:
        wait_listening(port, process, "the service", log=log)
        yield Service(f"http://127.0.0.1:{port}", log, trap, allowed_a, allowed_b, silent)
    finally:
        process.terminate()
        process.wait(60)
        for listener in listeners:
            asyncio.run_coroutine_threadsafe(listener.stop(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()  # (its self-pipe sockets too)


@pytest.fixture
async def api(service: Service) -> AsyncIterator[ApiClient]:
    async with aiohttp.ClientSession() as http:
        yield ApiClient(http, service.url, KEYS["all"])


async def _raw(api: ApiClient, method: str, path: str, **kw: Any) -> tuple[int, Any, Any]:
    async with api.request(method, path, **kw) as answer:
        return answer.status, await answer.json(content_type=None), answer.headers


def _vsdk(**claims: Any) -> dict[str, str]:
    body = {"apikey": VSDK_KEY, "permissions": ["allow_join"], "version": 2, "exp": int(time.time()) + 600, **claims}
    return {"Authorization": jwt.encode({k: v for k, v in body.items() if v is not None}, VSDK_SECRET, "HS256")}


RTK = {"Authorization": "Basic " + base64.b64encode(f"{RTK_ORG}:{RTK_KEY}".encode()).decode()}


async def _ingest(api: ApiClient, app: str, conversation: str, status: int = 201, **kw: Any) -> Any:
    body = {"applicationId": app, "conversationId": conversation, "userId": "pub"}
    return await api.json("POST", f"{API}/ingests", status, json=body, **kw)


async def test_destinations_that_point_inward_are_refused_and_never_reached(api: ApiClient, service: Service) -> None:
    trap = service.trap.port
    for url in (
        f"http://127.0.0.1:{trap}/hook",
        f"http://localhost:{trap}/hook",
        f"http://[::1]:{trap}/hook",
        f"http://2130706433:{trap}/hook",
        f"http://0x7f000001:{trap}/hook",
        f"http://[::ffff:127.0.0.1]:{trap}/hook",
        "http://169.254.169.254/latest/meta-data/",
        "http://10.1.2.3:22/",
    ):
        status, body, _ = await _raw(api, "POST", f"{API}/webhooks/app1", json={"url": url, "secret": WEBHOOK_SECRET})
        assert status == 400 and "not a permitted destination" in body["message"], (url, body)
        assert "127.0.0.1" not in body["message"].replace(url, "") or "127.0.0.1" in url  # no address it resolved to
    profiles: list[dict[str, Any]] = [
        {"provider": "AMAZON_S3", "bucket": "b-1", "endpointUrl": f"http://127.0.0.1:{trap}"},
        {"provider": "GOOGLE_CLOUD", "bucket": "b-1", "endpointUrl": f"http://127.0.0.1:{service.allowed_a.port}/x#"},
        {"provider": "SFTP_STORAGE", "host": "127.0.0.1", "port": trap, "username": "u", "hostKey": HOST_KEY},
    ]
    for profile in profiles:
        credentials = {
            "AMAZON_S3": {"accessKeyId": "a", "secretAccessKey": "s"},
            "GOOGLE_CLOUD": {"serviceAccountKey": "{}"},
            "SFTP_STORAGE": {"password": "pw"},
        }[profile["provider"]]
        body = {**profile, "credentials": credentials}
        status, answer, _ = await _raw(api, "PUT", f"{API}/storageproviders/app1", json=body)
        assert status == 400, (profile, answer)
    # a RealtimeKit key alone: a recording's own destination (S3 endpoint, SFTP host and port)
    for storage_config in (
        {"type": "aws", "bucket": "bkt", "access_key": "a", "secret": "s", "endpoint_url": f"http://127.0.0.1:{trap}"},
        {
            "type": "sftp",
            "host": "127.0.0.1",
            "port": trap,
            "username": "u",
            "auth_method": "PASSWORD",
            "password": "pw",
            "host_key": HOST_KEY,
        },
    ):
        body = {"meeting_id": "1234", "storage_config": storage_config}
        status, answer, _ = await _raw(api, "POST", "/realtimekit/v2/recordings", json=body, headers=RTK)
        assert status == 400 and answer["success"] is False, answer
        assert "not a permitted destination" in answer["error"]["message"]
    # a VideoSDK key alone: a per-request webhook URL
    start = {"roomId": "1234", "participantId": "p", "kind": "audio", "webhookUrl": f"http://127.0.0.1:{trap}/h"}
    status, answer, _ = await _raw(
        api, "POST", "/videosdk/v2/recordings/participant/track/start", json=start, headers=_vsdk()
    )
    assert status == 400 and answer["statusCode"] == 400 and "not a permitted destination" in answer["message"]
    await asyncio.sleep(0.5)
    assert service.trap.connections == 0


async def test_kept_credentials_go_only_where_they_were_given(api: ApiClient, service: Service) -> None:
    a, b = service.allowed_a.port, service.allowed_b.port
    sftp = {"provider": "SFTP_STORAGE", "host": "127.0.0.1", "port": a, "username": "u", "hostKey": HOST_KEY}
    await api.json("PUT", f"{API}/storageproviders/app2", json={**sftp, "credentials": {"password": "pw"}})
    await api.json("PUT", f"{API}/storageproviders/app2", json={**sftp, "path": "elsewhere"})  # same server: kept
    for moved in (
        {**sftp, "port": b},
        {**sftp, "username": "root"},
        {**sftp, "provider": "SFTP_STORAGE", "host": "localhost"},
    ):
        status, answer, _ = await _raw(api, "PUT", f"{API}/storageproviders/app2", json=moved)
        assert status == 400 and "credentials are required" in answer["message"], (moved, answer)
    s3 = {"provider": "AMAZON_S3", "bucket": "bkt", "endpointUrl": f"http://127.0.0.1:{a}"}
    await api.json(
        "PUT", f"{API}/storageproviders/app2", json={**s3, "credentials": {"accessKeyId": "k", "secretAccessKey": "s"}}
    )
    moves: list[dict[str, Any]] = [{**s3, "endpointUrl": f"http://127.0.0.1:{b}"}, {**s3, "bucket": "other"}]
    for moved in moves:
        status, answer, _ = await _raw(api, "PUT", f"{API}/storageproviders/app2", json=moved)
        assert status == 400 and "credentials are required" in answer["message"], (moved, answer)
    # no credentials at all: the service's own AWS identity is not lent to a tenant
    status, answer, _ = await _raw(api, "PUT", f"{API}/storageproviders/app3", json={**s3, "bucket": "bkt2"})
    assert status == 400 and "credentials are required" in answer["message"]
    # a key template that would build a 2 GB string
    template = {
        **s3,
        "credentials": {"accessKeyId": "k", "secretAccessKey": "s"},
        "keyTemplate": "{recorderId}/{trackId:>2000000000}",
    }
    status, answer, _ = await _raw(api, "PUT", f"{API}/storageproviders/app3", json=template)
    assert status == 400
    await api.json("DELETE", f"{API}/storageproviders/app2", 204)


async def test_a_facade_key_acts_within_its_application(api: ApiClient) -> None:
    other = await _ingest(api, "app2", "4321")  # app2's live recording, same organization
    before = await api.json("GET", f"{API}/recordings/4321/active")
    start = {"roomId": "4321", "participantId": "p", "kind": "audio"}
    path = "/videosdk/v2/recordings/participant/track"
    status, answer, _ = await _raw(api, "POST", f"{path}/start", json=start, headers=_vsdk())
    assert status == 409 and answer["statusCode"] == 409, answer
    status, answer, _ = await _raw(api, "POST", f"{path}/stop", json=start, headers=_vsdk())
    assert status == 404, answer
    status, answer, _ = await _raw(api, "GET", "/realtimekit/v2/recordings/active-recording/4321", headers=RTK)
    assert status == 404 and answer["success"] is False
    for action in ("pause", "stop"):
        status, _, _ = await _raw(
            api, "PUT", f"/realtimekit/v2/recordings/{other['recorderId']}", json={"action": action}, headers=RTK
        )
        assert status == 404
    after = await api.json("GET", f"{API}/recordings/4321/active")
    assert after["state"] == "ACTIVE" and after.get("rules") == before.get("rules") and not after.get("paused")
    await api.json("POST", f"{API}/recordings/4321/{other['recorderId']}/{other['instanceId']}/stop")


async def test_an_ingest_is_short_lived_bounded_and_revocable(api: ApiClient) -> None:
    made = await _ingest(api, "app1", "whip-revoked")
    assert time.time() + 240 < made["expires"] <= time.time() + 301  # 5 minutes unless asked otherwise
    await api.json("DELETE", f"{API}/ingests/{made['ingestId']}")
    offer = {"Authorization": f"Bearer {made['token']}", "Content-Type": "application/sdp"}
    async with api.request("POST", f"/whip/{made['ingestId']}", data="v=0\r\n", headers=offer) as answer:
        assert answer.status == 401
    other_org = await _raw(
        api, "DELETE", f"{API}/ingests/{made['ingestId']}", headers={"Authorization": f"Bearer {KEYS['other']}"}
    )
    assert other_org[0] == 404
    await api.json("POST", f"{API}/recordings/whip-revoked/{made['recorderId']}/{made['instanceId']}/stop")


async def test_each_application_has_its_bounds(api: ApiClient, service: Service) -> None:
    hook = {
        "url": f"http://127.0.0.1:{service.allowed_a.port}/h",
        "secret": WEBHOOK_SECRET,
        "events": ["recording.started"],
    }
    made = [await api.json("POST", f"{API}/webhooks/app3", 201, json=hook) for _ in range(3)]
    status, answer, _ = await _raw(api, "POST", f"{API}/webhooks/app3", json=hook)
    assert status == 429 and answer["error"] == "LIMIT_REACHED"
    for subscription in made:
        await api.json("DELETE", f"{API}/webhooks/app3/{subscription['id']}", 204)
    live = [await _ingest(api, "app3", f"bound-{n}") for n in range(3)]
    status, answer, headers = await _raw(
        api, "POST", f"{API}/ingests", json={"applicationId": "app3", "conversationId": "bound-3"}
    )
    assert status == 429 and answer["error"] == "LIMIT_REACHED" and int(headers["Retry-After"]) > 0
    first = {k: live[0][k] for k in ("conversationId", "recorderId", "instanceId")}
    entries = [
        {"timeStamp": f"2026-03-01T10:00:{n:02d}Z", "transcript": f"line {n}", "userId": "u", "userDisplayName": "U"}
        for n in range(6)
    ]
    add = f"{API}/recordings/chat/transcript/add"
    assert await api.json("POST", add, json={**first, "chatTranscriptList": entries[:5]}) == {"added": 5, "withheld": 0}
    status, answer, _ = await _raw(api, "POST", add, json={**first, "chatTranscriptList": entries[5:]})
    assert status == 413 and answer["error"] == "TOO_LARGE"
    for recording in live:
        ids = "/".join(recording[k] for k in ("conversationId", "recorderId", "instanceId"))
        await api.json("POST", f"{API}/recordings/{ids}/stop")


async def test_a_silent_storage_holds_only_its_applications_share_of_the_uploads(
    api: ApiClient, service: Service
) -> None:
    s3 = {
        "provider": "AMAZON_S3",
        "bucket": "silent",
        "endpointUrl": f"http://127.0.0.1:{service.silent.port}",
        "credentials": {"accessKeyId": "k", "secretAccessKey": "s"},
    }
    await api.json("PUT", f"{API}/storageproviders/app4", json=s3)
    entry = {"timeStamp": "2026-03-01T10:00:00Z", "transcript": "hello", "userId": "u", "userDisplayName": "U"}

    async def record(app: str, conversation: str) -> dict[str, Any]:
        made = await _ingest(api, app, conversation)
        ids = {k: made[k] for k in ("conversationId", "recorderId", "instanceId")}
        await api.json("POST", f"{API}/recordings/chat/transcript/add", json={**ids, "chatTranscriptList": [entry]})
        await api.json("POST", f"{API}/recordings/{'/'.join(ids.values())}/stop")
        return ids

    for n in range(5):  # five transcripts to a storage that never answers: more than the four workers
        await record("app4", f"silent-{n}")
    await eventually(
        lambda: asyncio.sleep(0, service.silent.connections), lambda n: n >= 2, within=10, what="uploads hanging"
    )
    healthy = await record("app5", "healthy")
    info = await api.wait_for(
        f"{API}/recordings/{'/'.join(healthy.values())}", lambda info: "chatTranscript" in info, seconds=15
    )
    assert info["chatTranscript"]["location"].endswith("transcript.json")
    await api.json("DELETE", f"{API}/storageproviders/app4", 204)


async def test_tokens_are_checked_for_shape_expiry_and_abuse(api: ApiClient, service: Service) -> None:
    now = int(time.time())
    claims = {"iss": "recorder", "sub": "backend", "org": "org1", "iat": now, "exp": now + 600, "jti": "x"}
    active = f"{API}/recordings/nothing/active"
    good = jwt.encode({**claims, "roles": ["AGENT"]}, TOKEN_KEY, "HS256")
    assert (await _raw(api, "GET", active, headers={"Authorization": f"Bearer {good}"}))[0] == 404
    for bad in ({**claims, "roles": "AGENT"}, {**claims, "roles": ["AGENT"], "org": ["org1"]}):
        token = jwt.encode(bad, TOKEN_KEY, "HS256")
        assert (await _raw(api, "GET", active, headers={"Authorization": f"Bearer {token}"}))[0] == 401
    # facade tokens: exp required, and a bounded life
    track = "/videosdk/v2/recordings/participant/track/stop"
    stop = {"roomId": "1234", "participantId": "p", "kind": "audio"}
    for headers in (_vsdk(exp=None), _vsdk(exp=now + 40 * 86400)):
        status, answer, _ = await _raw(api, "POST", track, json=stop, headers=headers)
        assert status == 401 and answer["statusCode"] == 401
    forever = jwt.encode({"sub": "coach", "user_type": "coach"}, COACHING_SECRET, "HS256")
    status, answer, _ = await _raw(
        api,
        "POST",
        "/coaching/app1/v1/customer/sessions/s/start-recording",
        headers={"Authorization": f"Bearer {forever}"},
    )
    assert status == 401 and answer["success"] is False
    # links are never built on a Host header a caller made up
    status, answer, _ = await _raw(
        api,
        "POST",
        f"{API}/ingests",
        json={"applicationId": "app1", "conversationId": "host"},
        headers={"Host": "attacker.invalid"},
    )
    assert status == 400 and answer["error"] == "HOST_NOT_ALLOWED"


async def _token_status(api: ApiClient, client_id: str, secret: str) -> tuple[int, float, Any]:
    form = {"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret}
    started = time.perf_counter()
    async with api.request("POST", "/security/oauth/token", data=form, headers={"Authorization": ""}) as answer:
        await answer.read()
        return answer.status, time.perf_counter() - started, answer.headers


async def test_the_token_endpoint_hides_which_clients_exist_and_throttles_guessing(api: ApiClient) -> None:
    known = [(await _token_status(api, "backend", f"wrong-{n}"))[1] for n in range(4)]
    unknown = [(await _token_status(api, f"ghost-{n}", "wrong"))[1] for n in range(4)]
    ratio = statistics.median(unknown) / statistics.median(known)
    wrong, ghost = (statistics.median(times) * 1000 for times in (known, unknown))
    print(f"token: wrong secret {wrong:.1f} ms, unknown client {ghost:.1f} ms")
    assert 0.5 < ratio < 2.0, (known, unknown)  # was 1 ms against 39 ms
    for n in range(5):
        assert (await _token_status(api, "victim", f"guess-{n}"))[0] == 401
    status, _, headers = await _token_status(api, "victim", CLIENT_SECRET)  # even the right secret, for a while
    assert status == 429 and 0 < int(headers["Retry-After"]) <= 61
    assert (await _token_status(api, "backend", CLIENT_SECRET))[0] == 200  # another client is not held


async def test_secrets_in_webhook_urls_stay_out_of_the_log(api: ApiClient, service: Service) -> None:
    url = f"http://user:hunter2-password@127.0.0.1:{service.allowed_a.port}/t/PATH-SECRET?token=QUERY-SECRET"
    made = await api.json("POST", f"{API}/webhooks/app2", 201, json={"url": url, "secret": WEBHOOK_SECRET})
    await api.json("DELETE", f"{API}/webhooks/app2/{made['id']}", 204)
    log = service.log.read_text()
    assert f"127.0.0.1:{service.allowed_a.port}" in log
    for secret in ("hunter2-password", "PATH-SECRET", "QUERY-SECRET", WEBHOOK_SECRET):
        assert secret not in log
