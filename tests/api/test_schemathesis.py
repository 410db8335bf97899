"""Property-based run of schemathesis against the live service: every operation of openapi.yaml,
authenticated; no 5xx, and every answer conforms to the document (status, content type, body schema)."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from api.facades.coaching import ROUTES as COACHING_ROUTES
from api.facades.realtimekit import CLOUDFLARE_ROUTES
from api.facades.realtimekit import ROUTES as REALTIMEKIT_ROUTES
from api.facades.videosdk import ROUTES as VIDEOSDK_ROUTES
from api.facades.whip import ROUTES as WHIP_ROUTES
from api.paths import COACHING, REALTIMEKIT, VIDEOSDK, WHIP
from api.routes import COMPOSITION_ROUTES, OPERATIONS_ROUTES
from tests.builders import KEYS, api_keys
from tests.eventually import wait_listening
from tests.storage_servers import free_port

pytestmark = pytest.mark.process  # (the count of cases needs the run against the live service)
ROOT = Path(__file__).resolve().parents[2]
EXAMPLES_PER_OPERATION = 40
MIN_CASES = 500
STATEFUL_SCENARIOS = 60
schema = schemathesis.openapi.from_path(
    ROOT / "api" / "openapi.yaml",
    config=schemathesis.config.SchemathesisConfig.from_path(Path(__file__).with_name("schemathesis.toml")),
)
calls: Counter[str] = Counter()


@schemathesis.serializer("application/sdp", "application/trickle-ice-sdpfrag")
def _text(ctx: Any, value: Any) -> bytes:
    """WHIP's bodies are text (an SDP offer, a trickle fragment)."""
    return value.encode() if isinstance(value, str) else str(value).encode()


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The service as a process of its own on its embedded defaults, with one application whose Janus does
    not answer (starts end FAILED quickly) and the tests' API keys."""
    data, port = tmp_path_factory.mktemp("live"), free_port()
    env = {
        **os.environ,
        "RECORDER_PORT": str(port),
        "RECORDER_DATA_DIR": str(data),
        "RECORDER_LOG_LEVEL": "WARNING",
        "RECORDER_CONFERENCE_REQUEST_TIMEOUT_SECONDS": "2",
        "RECORDER_OUTBOUND_PUBLIC": "false",  # the policy on, with nothing admitted: no call leaves this machine
        "RECORDER_API_KEYS": json.dumps(api_keys()),
        "RECORDER_VIDEOSDK_KEYS": json.dumps([{"api_key": VSDK_KEY, "secret": VSDK_SECRET, "application_id": "app1"}]),
        "RECORDER_REALTIMEKIT_KEYS": json.dumps(
            [{"organization_id": RTK_ORG, "api_key": RTK_KEY, "application_id": "app1"}]
        ),
        "RECORDER_CLOUDFLARE_TOKENS": json.dumps(
            [{"api_token": CF_TOKEN, "account_id": CF_ACCOUNT, "app_id": CF_APP, "application_id": "app1"}]
        ),
        "RECORDER_APPLICATIONS": json.dumps(
            [
                {
                    "id": "app1",
                    "organization_id": "org1",
                    "janus": {"url": "http://127.0.0.1:9/janus"},
                    "storage": {"provider": "LOCAL_STORAGE", "path": str(data / "storage")},
                    "coaching": {"jwt_secret": COACHING_SECRET},
                }
            ]
        ),
    }
    service = subprocess.Popen([sys.executable, "-m", "api"], cwd=ROOT, env=env)
    try:
        wait_listening(port, service, "the service")
        yield f"http://127.0.0.1:{port}"
    finally:
        service.terminate()
        service.wait(30)
    assert service.returncode == 0, "the service did not shut down cleanly"


@schema.parametrize()
@settings(
    max_examples=EXAMPLES_PER_OPERATION,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
def test_every_operation_conforms(case: schemathesis.Case[Any], live: str) -> None:
    _local_only(case, live)
    case.call_and_validate(
        base_url=_base(live, case.path),
        headers=_auth(case.path),
        # The spec's paths overlap (GET /recordings/{conversationId} also matches /recordings/start), so a
        # 405's truthful Allow header names methods of the other path; every other check runs.
        excluded_checks=[schemathesis.checks.allow_header_conformance],
    )
    calls[case.operation.label] += 1


def test_at_least_500_cases_ran() -> None:
    """Runs after the parametrized test (pytest keeps file order)."""
    assert len(calls) == len(list(schema.get_all_operations())), sorted(calls)
    assert sum(calls.values()) >= MIN_CASES, calls


def _local_only(case: schemathesis.Case[Any], live: str) -> None:
    """Storage profiles the run sets point at the service itself, which answers at once that it is no such
    storage: a generated profile must never send an upload, or a DNS lookup, anywhere else."""
    if case.method == "PUT" and isinstance(case.body, dict) and case.operation.path.startswith("/storageproviders"):
        if case.body.get("provider") == "SFTP_STORAGE":
            case.body.update(host="127.0.0.1", port=int(live.rsplit(":", 1)[1]), connectTimeoutSeconds=2)
        else:
            case.body["endpointUrl"] = live


VSDK_KEY, VSDK_SECRET = "schemathesis-vsdk", "schemathesis-vsdk-secret-0123456789"
RTK_ORG, RTK_KEY = "schemathesis-org", "schemathesis-rtk-key-0123456789"
COACHING_SECRET = "schemathesis-coaching-secret-0123456789"
CF_TOKEN, CF_ACCOUNT, CF_APP = "schemathesis-cloudflare-token-0123", "account1", "app-1"


def _auth(path: str) -> dict[str, str]:
    """The facade's own token on its paths (VideoSDK: a JWT without a prefix), else the tests' API key."""
    if path in {p for _, p, _ in VIDEOSDK_ROUTES}:
        return {"Authorization": jwt.encode({"apikey": VSDK_KEY}, VSDK_SECRET, algorithm="HS256")}
    if path in {p for _, p, _ in REALTIMEKIT_ROUTES}:
        return {"Authorization": "Basic " + base64.b64encode(f"{RTK_ORG}:{RTK_KEY}".encode()).decode()}
    if path in {p for _, p, _ in CLOUDFLARE_ROUTES}:  # (generated account and app ids: mostly 403)
        return {"Authorization": f"Bearer {CF_TOKEN}"}
    if path in {p for _, p, _ in COACHING_ROUTES}:  # a coach of the app (sessions are the backend's)
        coach = jwt.encode({"sub": "coach-1", "user_type": "coach"}, COACHING_SECRET, algorithm="HS256")
        return {"Authorization": f"Bearer {coach}"}
    return {"Authorization": f"Bearer {KEYS['all']}"}


def _base(live: str, path: str) -> str:
    if path.startswith("/security") or path in {p for _, p, _ in OPERATIONS_ROUTES}:
        return live
    if path in {p for _, p, _, _ in COMPOSITION_ROUTES}:
        return live + "/composition/api"
    if path in {p for _, p, _ in VIDEOSDK_ROUTES}:
        return live + VIDEOSDK
    if path in {p for _, p, _ in REALTIMEKIT_ROUTES}:
        return live + REALTIMEKIT
    if path in {p for _, p, _ in CLOUDFLARE_ROUTES}:
        return live + "/client/v4"
    if path in {p for _, p, _ in COACHING_ROUTES}:
        return live + COACHING
    if path in {p for _, p, _ in WHIP_ROUTES}:
        return live + WHIP
    return live + "/rtc-recorder/api"


statuses: Counter[int] = Counter()


def test_linked_operations_reach_the_core(live: str) -> None:
    """The stateful phase: operations chained by the document's links (start -> the recording's ids, a
    composition request -> its id, a profile -> its application), so that calls reach real data."""

    class Workflow(schema.as_state_machine()):  # type: ignore[misc]
        def before_call(self, case: schemathesis.Case[Any]) -> None:
            """The service's data: its application (whose conference fails fast) seeds every chain."""
            if case.operation.label == "POST /recordings/start" and isinstance(case.body, dict):
                case.body.update(applicationId="app1", conferenceId="1001")
            if case.path_parameters and "applicationId" in case.path_parameters:
                case.path_parameters["applicationId"] = "app1"
            _local_only(case, live)

        def get_call_kwargs(self, case: schemathesis.Case[Any]) -> dict[str, Any]:
            return {"base_url": _base(live, case.path), "headers": _auth(case.path)}

        def validate_response(self, response: Any, case: schemathesis.Case[Any], **kw: Any) -> None:
            statuses[response.status_code] += 1
            case.validate_response(response, excluded_checks=[schemathesis.checks.allow_header_conformance])

    Workflow.run(
        settings=settings(
            max_examples=STATEFUL_SCENARIOS,
            stateful_step_count=6,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            derandomize=True,
        )
    )
    reached = sum(n for status, n in statuses.items() if 200 <= status < 300 or status in (400, 409, 413))
    total = sum(statuses.values())
    print(f"stateful calls by status: {dict(sorted(statuses.items()))}")
    assert total >= STATEFUL_SCENARIOS, statuses
    assert reached / total >= 0.6, f"only {reached} of {total} calls reached data or validation: {statuses}"
