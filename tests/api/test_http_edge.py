"""The HTTP server's own edge, on the service as a process of its own: requests it cannot parse answer the
JSON error body and log one line, not a traceback; slow clients cannot hold connections."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.builders import KEYS, api_keys
from tests.eventually import wait_listening
from tests.storage_servers import free_port

ROOT = Path(__file__).resolve().parents[2]
BAD_REQUESTS = [
    b"GET /rtc-recorder/api/openapi.yaml HTTP/1.1\r\nHost: x\r\nX-Long: " + b"a" * 9000 + b"\r\n\r\n",
    b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
    b"POST /rtc-recorder/api/recordings/start HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n",
    b"POST /rtc-recorder/api/recordings/start HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
    b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    b"HELLO THERE\r\n\r\n",
]


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, Path]]:
    data, port = tmp_path_factory.mktemp("edge"), free_port()
    log = data / "service.log"
    env = {
        **os.environ,
        "RECORDER_PORT": str(port),
        "RECORDER_DATA_DIR": str(data),
        "RECORDER_API_KEYS": json.dumps(api_keys()),
        "RECORDER_REQUEST_HEADER_TIMEOUT_SECONDS": "1",
        "RECORDER_REQUEST_BODY_TIMEOUT_SECONDS": "1",
    }
    with log.open("wb") as out:
        process = subprocess.Popen([sys.executable, "-m", "api"], cwd=ROOT, env=env, stdout=out, stderr=out)
    try:
        wait_listening(port, process, "the service", log=log)
        yield port, log
    finally:
        process.terminate()
        process.wait(30)


def _exchange(port: int, request: bytes, wait: float = 5.0) -> bytes:
    """The answer, once all of it came (the server may linger before it closes)."""
    with socket.create_connection(("127.0.0.1", port), timeout=wait) as connection:
        connection.sendall(request)
        answer = b""
        while chunk := connection.recv(65536):
            answer += chunk
            head, found, body = answer.partition(b"\r\n\r\n")
            lengths = [
                line.split(b":")[1] for line in head.split(b"\r\n") if line.lower().startswith(b"content-length")
            ]
            if found and lengths and len(body) >= int(lengths[0]):
                break
        return answer


@pytest.mark.parametrize("request_bytes", BAD_REQUESTS, ids=["header", "url", "length", "chunked", "garbage"])
def test_what_the_server_cannot_parse_answers_json_and_logs_one_line(
    service: tuple[int, Path], request_bytes: bytes
) -> None:
    port, log = service
    before = log.read_text().count("\n")
    answer = _exchange(port, request_bytes)
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.split()[1] in (b"400", b"413", b"431"), answer[:200]
    assert b"application/json" in head, head
    error = json.loads(body)
    assert error["error"] and error["message"], error
    time.sleep(0.2)
    new = log.read_text().splitlines()[before:]
    assert len(new) <= 1 and "Traceback" not in "\n".join(new), new


def test_a_client_that_sends_no_header_is_cut_off(service: tuple[int, Path]) -> None:
    port, _ = service
    with socket.create_connection(("127.0.0.1", port), timeout=5) as connection:
        connection.sendall(b"GET /rtc-recorder/api/openapi.yaml HTTP/1.1\r\nHost: x\r\n")  # never ends
        began = time.monotonic()
        assert connection.recv(100) == b"", "closed without an answer"
        assert time.monotonic() - began < 3, "within the header timeout (1 s)"


def test_a_body_that_does_not_come_is_a_408(service: tuple[int, Path]) -> None:
    port, _ = service
    request = (
        b"POST /rtc-recorder/api/recordings/start HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
        + KEYS["all"].encode()
        + b'\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"app'
    )
    began = time.monotonic()
    answer = _exchange(port, request)
    assert time.monotonic() - began < 4
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.split()[1] == b"408", answer[:300]
    assert json.loads(body)["error"] == "REQUEST_TIMEOUT"
