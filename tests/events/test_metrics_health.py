"""`/metrics` after a recording of two publishers (parsed as Prometheus does), and `/livez` and `/readyz` as
an orchestrator probes them, with the database stopped and back."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import av
import pytest
from prometheus_client.parser import text_string_to_metric_families
from pytest_aiohttp import AiohttpClient

from tests.builders import Client, make_client, make_settings
from tests.client import API, ids, uploaded
from tests.eventually import eventually
from tests.janus_host import JanusHost
from tests.postgres import PostgresServer, start_postgres
from tests.publisher import Publisher, display

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


async def scrape(client: Client) -> tuple[str, Samples]:
    async with client.get("/metrics", headers={"Authorization": ""}) as answer:
        assert answer.status == 200 and answer.content_type == "text/plain"
        text = await answer.text()
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }
    return text, samples


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples[name, tuple(sorted(labels.items()))]


def packets(path: Path) -> tuple[int, int]:
    """(frames, media bytes) of a stored file, as its container holds them."""
    with av.open(str(path)) as container:
        sizes = [p.size for p in container.demux(container.streams[0]) if p.size]
    return len(sizes), sum(sizes)


async def test_metrics_show_a_recording_of_two_publishers(
    client: Client, janus: JanusHost, http: aiohttp.ClientSession, room: int, tmp_path: Path
) -> None:
    event = await client.start(room, "conv-metrics")
    publishers = [Publisher(http, janus.url, room, display(user)) for user in ("alice", "bob")]
    try:
        for publisher in publishers:
            await publisher.join()
            await publisher.publish()
        for user in ("alice", "bob"):
            await client.wait_tracks(event, user, 2)
        await asyncio.sleep(2)
        _, live = await scrape(client)
        assert value(live, "recorder_recordings", state="ACTIVE") == 1
        assert value(live, "recorder_tracks_writing") == 4
        assert value(live, "recorder_frames_written_total", kind="video") > 0  # counted while it records
        await client.stop(event)
    finally:
        for publisher in publishers:
            await publisher.leave()
    info = await client.wait_for(f"{API}/recordings/{ids(event)}", lambda i: uploaded(i) and i.get("manifest"))
    text, samples = await eventually(  # (the last job is DONE just after the file's place is written)
        lambda: scrape(client), lambda got: value(got[1], "recorder_upload_jobs", state="PENDING") == 0, within=10
    )
    for kind in ("audio", "video"):
        files = [
            tmp_path / "storage" / t["storage"]["objectStorage"]["location"]
            for s in info["streams"]
            for t in s["tracks"]
            if t["type"] == kind.upper()
        ]
        frames, size = map(sum, zip(*(packets(f) for f in files), strict=True))
        assert value(samples, "recorder_frames_written_total", kind=kind) == frames, kind
        assert value(samples, "recorder_bytes_written_total", kind=kind) == size, kind
        assert value(samples, "recorder_frames_lost_total", kind=kind) >= 0
        assert value(samples, "recorder_keyframe_requests_total", kind=kind) >= 0
    assert value(samples, "recorder_recordings", state="ACTIVE") == 0
    assert value(samples, "recorder_tracks_writing") == 0
    assert value(samples, "recorder_start_latency_seconds_count") == 1
    assert 0 < value(samples, "recorder_start_latency_seconds_sum") < 10
    assert value(samples, "recorder_upload_seconds_count") >= 4
    assert value(samples, "recorder_upload_jobs", state="PENDING") == 0
    assert value(samples, "recorder_upload_jobs", state="FAILED") == 0
    assert value(samples, "recorder_webhook_deliveries_pending") == 0
    assert value(samples, "recorder_compositions", state="QUEUED") == 0
    assert value(samples, "recorder_takeovers_total") == 0
    assert value(samples, "recorder_event_loop_lag_seconds") >= 0
    assert event["recorderId"] not in text and "conv-metrics" not in text, "no recording ids as labels"


@pytest.fixture
def own_postgres() -> Iterator[PostgresServer]:
    """A server of this test's own: it is stopped and started again."""
    server = start_postgres()
    yield server
    server.stop()


async def _probe(client: Client, path: str) -> tuple[int, Any]:
    async with client.get(path, headers={"Authorization": ""}) as answer:
        return answer.status, await answer.json()


async def test_readiness_follows_the_database_and_liveness_stays(
    own_postgres: PostgresServer, aiohttp_client: AiohttpClient, tmp_path: Path
) -> None:  # (the server is started first and stopped last: the service shuts down with it)
    settings = make_settings(tmp_path, "http://127.0.0.1:9/janus", database_url=await own_postgres.new_database())
    client = await make_client(aiohttp_client, settings)
    assert await _probe(client, "/readyz") == (200, {"status": "ready", "reasons": []})
    own_postgres.halt()
    _, body = await eventually(lambda: _probe(client, "/readyz"), lambda got: got[0] == 503, within=10)
    assert body["status"] == "unavailable" and body["reasons"][0].startswith("the database does not answer")
    assert await _probe(client, "/livez") == (200, {"status": "ok"})
    own_postgres.start()
    await eventually(lambda: _probe(client, "/readyz"), lambda got: got[0] == 200, within=20)


async def test_readiness_says_a_full_spool(aiohttp_client: AiohttpClient, tmp_path: Path) -> None:
    settings = make_settings(tmp_path, "http://127.0.0.1:9/janus", spool_headroom_bytes=1 << 60)
    client = await make_client(aiohttp_client, settings)
    status, body = await _probe(client, "/readyz")
    assert status == 503 and len(body["reasons"]) == 1 and body["reasons"][0].startswith("the spool has"), body
