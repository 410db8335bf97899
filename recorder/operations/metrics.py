"""Prometheus metrics of one service (its own registry: several services in one process do not mix).

Nothing here runs per packet. What the media path counts anyway (frames written and lost, keyframe requests,
bytes) is read at scrape time from the live tracks (`Live`), plus the totals of the segments already finished;
what the database knows (upload jobs, compositions, webhook deliveries) is counted by one query each when
`/metrics` is asked for (`refresh`). No label carries a recording's id.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
LAG_INTERVAL = 0.5  # seconds between two looks at the event loop's lag


@dataclass
class MediaCounts:
    """What the media path counted for one kind (audio or video)."""

    frames_written: int = 0
    frames_lost: int = 0
    keyframe_requests: int = 0
    bytes_written: int = 0

    def add(self, other: MediaCounts) -> None:
        self.frames_written += other.frames_written
        self.frames_lost += other.frames_lost
        self.keyframe_requests += other.keyframe_requests
        self.bytes_written += other.bytes_written


@dataclass
class Live:
    """What the service is doing now, read at scrape time."""

    recordings: dict[str, int] = field(default_factory=dict)  # by state (ACTIVE, PAUSED, INITIALISED, ...)
    tracks: int = 0  # files being written
    media: dict[str, MediaCounts] = field(default_factory=dict)  # by kind, of the live tracks
    durability_lag: float = 0.0  # seconds: the live track whose media is least far in storage, how far behind


class _LiveCollector(Collector):
    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics

    def collect(self) -> Iterable[Metric]:
        live = self._metrics.live() if self._metrics.live is not None else Live()
        recordings = GaugeMetricFamily("recorder_recordings", "Recordings running on this instance", labels=["state"])
        for state in ("INITIALISED", "ACTIVE", "PAUSED", "PENDING_RECOVERY"):
            recordings.add_metric([state], live.recordings.get(state, 0))
        yield recordings
        yield GaugeMetricFamily("recorder_tracks_writing", "Track files being written now", value=live.tracks)
        yield GaugeMetricFamily(
            "recorder_durability_lag_seconds",
            "How far behind now the least durable live track's media in storage is (what losing this machine costs)",
            value=live.durability_lag,
        )
        families = {
            "frames_written": CounterMetricFamily("recorder_frames_written", "Frames written", labels=["kind"]),
            "frames_lost": CounterMetricFamily(
                "recorder_frames_lost", "Frames not written: incomplete, or waiting for a keyframe", labels=["kind"]
            ),
            "keyframe_requests": CounterMetricFamily(
                "recorder_keyframe_requests", "Keyframes asked for (PLI)", labels=["kind"]
            ),
            "bytes_written": CounterMetricFamily("recorder_bytes_written", "Media bytes written", labels=["kind"]),
        }
        for kind in ("audio", "video"):
            total = MediaCounts()
            total.add(self._metrics.finished.get(kind, MediaCounts()))
            total.add(live.media.get(kind, MediaCounts()))
            for name, family in families.items():
                family.add_metric([kind], getattr(total, name))
        yield from families.values()


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.live: Callable[[], Live] | None = None  # set by the recording service
        self.finished: dict[str, MediaCounts] = {}  # totals of the segments that ended
        self._refreshers: list[Callable[[], Awaitable[None]]] = []
        self.start_latency = Histogram(
            "recorder_start_latency_seconds",
            "From a start request to the recording being ACTIVE in its conference",
            buckets=(0.1, 0.25, 0.5, 1, 2, 5, 10, 30),
            registry=r,
        )
        self.upload_jobs = Gauge("recorder_upload_jobs", "Upload jobs by state", ["state"], registry=r)
        self.upload_latency = Histogram(
            "recorder_upload_seconds",
            "From a file's end to it being stored",
            buckets=(0.1, 0.5, 1, 2, 5, 10, 30, 60, 300, 3600),
            registry=r,
        )
        self.upload_failures = Counter(
            "recorder_upload_failures", "Failed upload attempts", ["provider", "reason"], registry=r
        )
        self.webhook_pending = Gauge("recorder_webhook_deliveries_pending", "Webhook deliveries to send", registry=r)
        self.webhook_failed = Gauge("recorder_webhook_deliveries_failed", "Webhook deliveries given up", registry=r)
        self.webhook_oldest = Gauge(
            "recorder_webhook_oldest_pending_age_seconds", "Age of the oldest webhook delivery not yet sent", registry=r
        )
        self.webhook_attempts = Counter(
            "recorder_webhook_attempts", "Webhook delivery attempts by outcome", ["outcome"], registry=r
        )
        self.webhook_latency = Histogram(
            "recorder_webhook_delivery_seconds",
            "From an event to its delivery",
            buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 5, 30, 300, 3600, 86400),
            registry=r,
        )
        self.compositions = Gauge("recorder_compositions", "Compositions by state", ["state"], registry=r)
        self.composition_speed = Histogram(
            "recorder_composition_speed_ratio",
            "Seconds of media composed per second of work",
            buckets=(0.5, 1, 2, 4, 8, 16, 32, 64),
            registry=r,
        )
        self.takeovers = Counter("recorder_takeovers", "Recordings taken over from a dead instance", registry=r)
        self.admission_refusals = Counter(
            "recorder_admission_refusals", "Start requests refused by reason", ["reason"], registry=r
        )
        self.capacity = Gauge(
            "recorder_capacity_recordings",
            "Recordings that may run (total), run (live), and the room left (free): of this instance, of the cluster",
            ["scope", "kind"],
            registry=r,
        )
        self.loop_lag = Gauge("recorder_event_loop_lag_seconds", "How late the event loop woke up last", registry=r)
        r.register(_LiveCollector(self))

    def segment_finished(self, kind: str, counts: MediaCounts) -> None:
        self.finished.setdefault(kind, MediaCounts()).add(counts)

    def on_refresh(self, refresher: Callable[[], Awaitable[None]]) -> None:
        """`refresher` sets gauges from the database before each scrape."""
        self._refreshers.append(refresher)

    async def exposition(self) -> bytes:
        for refresher in self._refreshers:
            await refresher()
        return generate_latest(self.registry)

    async def watch_loop_lag(self) -> None:
        """Sleep `LAG_INTERVAL` again and again; how much later than asked it wakes is the loop's lag."""
        while True:
            asked = time.monotonic()
            await asyncio.sleep(LAG_INTERVAL)
            self.loop_lag.set(max(0.0, time.monotonic() - asked - LAG_INTERVAL))
