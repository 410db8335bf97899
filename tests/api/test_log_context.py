"""One grep tells a recording's story: every line written while working on it carries its ids."""

from __future__ import annotations

import json
import logging

import aiohttp
import pytest

from api.__main__ import JsonFormatter
from recorder import logcontext
from tests.builders import Client
from tests.client import API, ids, uploaded
from tests.janus_host import JanusHost
from tests.publisher import publish_two_seconds

# the modules that only ever work on one recording at a time: each of their lines names it
RECORDING_WORK = (
    "recorder.recordings.service",
    "recorder.recordings.session",
    "recorder.conference.janus",
    "recorder.media.subscription",
    "recorder.uploads.uploader",
)


async def test_every_line_of_a_recordings_work_carries_its_ids(
    client: Client, janus: JanusHost, room: int, http: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="recorder")
    event = await client.start(room, "conv-log")
    await publish_two_seconds(client, janus, room, http, event)
    await client.stop(event)
    await client.wait_for(f"{API}/recordings/{ids(event)}", uploaded)

    lines = [r for r in caplog.records if r.name.startswith(RECORDING_WORK)]
    unnamed = [r.getMessage() for r in lines if not getattr(r, "recorderId", None)]
    assert not unnamed, f"lines of a recording's work without its id: {unnamed}"
    story = [r for r in lines if r.__dict__["recorderId"] == event["recorderId"]]
    assert {r.name for r in story} == set(RECORDING_WORK), [f"{r.name}: {r.getMessage()}" for r in story]
    assert all(r.__dict__.get("conversationId") == "conv-log" for r in story if r.name != "recorder.uploads.uploader")
    assert all(r.__dict__.get("instanceId") == event["instanceId"] for r in story)

    written = json.loads(JsonFormatter().format(story[0]))
    assert {k: written[k] for k in ("recorderId", "instanceId")} == {
        "recorderId": event["recorderId"],
        "instanceId": event["instanceId"],
    }


def test_a_scope_ends_with_its_block() -> None:
    logcontext.install("i-test")
    with logcontext.scope(compositionId="c1"):
        inside = logging.getLogger("recorder.test").makeRecord("recorder.test", logging.INFO, "f", 1, "m", (), None)
    outside = logging.getLogger("recorder.test").makeRecord("recorder.test", logging.INFO, "f", 1, "m", (), None)
    assert inside.__dict__["compositionId"] == "c1" and "compositionId" not in outside.__dict__
    assert outside.__dict__["instanceId"] == "i-test"
