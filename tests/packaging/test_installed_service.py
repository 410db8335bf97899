"""What the README installs is what runs: the distribution is built (sdist, then the wheel from the sdist),
the wheel is installed with its runtime dependencies only into a new, empty venv, and `recorder-service` is
started from that venv on a fresh data directory, away from the source tree. A client then does what a new
user does: a token with the demo client's secret from the data directory, the OpenAPI document, a recording
of a real Janus room with a publisher, and the download of a track by its URL, which must decode."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import av
import pytest
import yaml

from tests.client import API
from tests.eventually import eventually, wait_listening
from tests.janus_host import JanusHost
from tests.publisher import Publisher, display
from tests.storage_servers import free_port

ROOT = Path(__file__).resolve().parents[2]


def _run(step: str, *args: str | Path, timeout: float = 600, **kw: Any) -> str:
    """Run one step; fail the test with the step's name and its output when it fails."""
    try:
        done = subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=timeout, **kw)
    except subprocess.TimeoutExpired as exc:
        raise AssertionError(f"{step}: no end within {timeout} s") from exc
    assert done.returncode == 0, f"{step} failed ({done.returncode}):\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return str(done.stdout)


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A new venv holding the built wheel and its runtime dependencies, nothing else."""
    work = tmp_path_factory.mktemp("packaged")
    dist, source = work / "dist", work / "source"
    # a copy of what git would check out, so that building leaves nothing in the work tree
    files = _run("list the sources", "git", "ls-files", "-z", cwd=ROOT).split("\0")
    for name in filter(None, files):
        target = source / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if (ROOT / name).is_symlink():
            target.symlink_to(os.readlink(ROOT / name))
        elif (ROOT / name).exists():
            shutil.copy2(ROOT / name, target)
    _run("build sdist and wheel", sys.executable, "-m", "build", "--outdir", dist, source)
    (wheel,) = dist.glob("*.whl")
    assert list(dist.glob("*.tar.gz")), "no sdist was built"
    env = work / "venv"
    _run("make an empty venv", sys.executable, "-m", "venv", env)
    _run("install the wheel", env / "bin" / "pip", "install", "-q", "--disable-pip-version-check", wheel)
    return env


@pytest.fixture
def service(venv: Path, tmp_path: Path, janus: JanusHost) -> Iterator[tuple[str, Path]]:
    """`recorder-service` from the venv, run from an empty folder on a fresh data directory; the demo
    application's Janus is the test host."""
    data, port = tmp_path / "data", free_port()
    demo = {
        "id": "demo",
        "organization_id": "demo",
        "janus": {"url": janus.url},
        "storage": {"provider": "LOCAL_STORAGE", "path": str(data / "storage")},
    }
    env = {
        "PATH": f"{venv / 'bin'}:/usr/bin:/bin",
        "HOME": str(tmp_path),
        "RECORDER_PORT": str(port),
        "RECORDER_DATA_DIR": str(data),
        "RECORDER_APPLICATIONS": json.dumps([demo]),
        "RECORDER_EVIDENCE_DIGEST_SECONDS": "1",  # (the hourly digest, every second: recorder-verify reads it)
    }
    log = tmp_path / "service.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [venv / "bin" / "recorder-service"], cwd=tmp_path, env=env, stdout=out, stderr=subprocess.STDOUT
        )
    try:
        wait_listening(port, process, "the installed service", within=60, log=log)
        yield f"http://127.0.0.1:{port}", data
    finally:
        process.terminate()
        process.wait(30)


def test_the_installed_package_is_the_one_that_runs(venv: Path) -> None:
    where = _run("import", venv / "bin" / "python", "-c", "import api, recorder; print(api.__file__)", cwd="/")
    assert where.startswith(str(venv)), where


async def test_a_new_user_records_with_the_installed_service(
    service: tuple[str, Path], venv: Path, janus: JanusHost, room: int, tmp_path: Path
) -> None:
    base, data = service
    async with aiohttp.ClientSession(base_url=base) as http:
        form = {
            "grant_type": "client_credentials",
            "client_id": "demo",
            "client_secret": (data / "demo-client-secret").read_text().strip(),
        }
        async with http.post("/security/oauth/token", data=form) as resp:
            assert resp.status == 200, await resp.text()
            token = (await resp.json())["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        async with http.get(f"{API}/openapi.yaml") as resp:
            assert resp.status == 200, await resp.text()
            document = yaml.safe_load(await resp.read())
        assert "/recordings/start" in document["paths"]
        for name, marker in (("", "<title>Recorder console</title>"), ("console.js", "/rtc-recorder/api")):
            async with http.get(f"/console/{name}") as resp:  # the console's files are package data too
                assert resp.status == 200 and marker in await resp.text(), name

        body = {"applicationId": "demo", "conferenceId": str(room), "conversationId": "packaged"}
        async with http.post(f"{API}/recordings/start", json=body, headers=headers) as resp:
            assert resp.status == 200, await resp.text()
            event = await resp.json()
        assert event["state"] == "ACTIVE", event
        ids = f"packaged/{event['recorderId']}/{event['instanceId']}"
        async with aiohttp.ClientSession() as janus_http:
            publisher = Publisher(janus_http, janus.url, room, display("newcomer"))
            await publisher.join()
            await publisher.publish()
            await asyncio.sleep(3)
            await publisher.leave()
        async with http.post(f"{API}/recordings/{ids}/stop", headers=headers) as resp:
            assert resp.status == 200 and (await resp.json())["state"] == "STOPPED"
        async with http.get(f"{API}/recordings/{ids}", headers=headers) as resp:
            info = await resp.json()
        tracks = {t["type"]: t for s in info["streams"] for t in s["tracks"]}
        assert set(tracks) == {"AUDIO", "VIDEO"}, info
        for kind, track in tracks.items():
            async with aiohttp.ClientSession() as plain, plain.get(track["url"]) as resp:  # no Authorization
                assert resp.status == 200, await resp.text()
                path = tmp_path / f"{kind}.bin"
                path.write_bytes(await resp.read())
            with av.open(str(path)) as container:
                frames = sum(1 for _ in container.decode(container.streams[0]))
            assert frames > (50 if kind == "AUDIO" else 30), (kind, frames)

    # the evidence, checked offline by the installed recorder-verify against the folder and the served keys
    async with aiohttp.ClientSession(base_url=base) as http:
        verify = f"{API}/recordings/{ids}/verify"

        async def verified() -> Any:
            async with http.get(verify, headers=headers) as resp:
                return await resp.json()

        answer = await eventually(verified, lambda v: v["seal"]["status"] == "VALID", what="the recording sealed")
        assert answer["intact"] and sorted(o["kind"] for o in answer["objects"]) == [
            "MANIFEST",
            "SEAL",
            "TRACK",
            "TRACK",
        ]
        async with http.get(f"{API}/evidence/keys") as resp:
            (tmp_path / "keys.json").write_bytes(await resp.read())
    command = [str(venv / "bin" / "recorder-verify"), "--folder", str(data / "storage")]
    command += ["--keys", str(tmp_path / "keys.json"), "--application", "demo", "--json"]

    async def offline() -> dict[str, Any]:
        done = await asyncio.to_thread(
            lambda: subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
        )
        assert done.returncode in (0, 1), done.stderr
        report: dict[str, Any] = json.loads(done.stdout)
        return report

    report = await eventually(offline, lambda r: r["intact"] and len(r["objects"]) == 4, what="every object digested")
    assert {o["status"] for o in report["objects"]} == {"INTACT"}
