"""An administrator verifies a storage profile and reads it."""

from __future__ import annotations

from pathlib import Path

import pytest
from pytest_aiohttp import AiohttpClient

from storage_providers.settings import LocalStorageSettings
from tests.builders import Client, make_client, make_settings
from tests.client import API, ids

TESTS = ["bucketTestResult", "deleteTestResult", "modifyTestResult", "readTestResult", "writeTestResult"]
PROBE = {"passed", "message", "bytesTransferred", "durationMillis", "throughputMbps"}


async def test_verify_passes_and_leaves_nothing_behind(client: Client, tmp_path: Path) -> None:
    answer = await client.json("POST", f"{API}/storageproviders/app1/verify")
    assert sorted(answer) == sorted([*TESTS, "throughputTestResult"])
    assert all(answer[t]["passed"] and answer[t]["message"] for t in TESTS), answer
    probe = answer["throughputTestResult"]
    assert set(probe) == PROBE and probe["passed"] is True, probe
    assert probe["bytesTransferred"] == 2 << 20 and probe["throughputMbps"] >= 5
    assert list((tmp_path / "storage").iterdir()) == []  # neither the test object nor the probe's
    async with client.post(f"{API}/storageproviders/app1/verified") as resp:
        assert resp.status == 204
    event = await client.start(999999, "conv-storage-info")  # FAILED: no such room, but it exists
    info = await client.json("GET", f"{API}/recordings/{ids(event)}/storage/info")
    assert info == {"applicationId": "app1", "provider": "LOCAL_STORAGE", "url": (tmp_path / "storage").as_uri()}


async def test_verify_says_which_test_failed(aiohttp_client: AiohttpClient, tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    settings = make_settings(tmp_path, "http://127.0.0.1:9/janus")
    storage = settings.applications[0].storage
    assert isinstance(storage, LocalStorageSettings)
    storage.path = blocker / "storage"
    client = await make_client(aiohttp_client, settings)
    answer = await client.json("POST", f"{API}/storageproviders/app1/verify")
    assert answer["bucketTestResult"]["passed"] is False
    assert "a-file" in answer["bucketTestResult"]["message"], answer
    for later in ("writeTestResult", "readTestResult", "modifyTestResult", "deleteTestResult"):
        assert answer[later] == {"passed": False, "message": answer[later]["message"]}
        assert "not run" in answer[later]["message"]
    probe = answer["throughputTestResult"]
    assert probe["passed"] is False and "not run" in probe["message"] and probe["bytesTransferred"] == 0


@pytest.fixture
def client(app_client: Client) -> Client:
    """No media here: the app with the fake conference (no Janus started)."""
    return app_client
