"""Service instances as real processes (`python -m api`) on one shared PostgreSQL database, for the
multi-instance tests and the takeover benchmark."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp
import av

from tests.client import API, ApiClient
from tests.eventually import eventually, wait_listening
from tests.storage_servers import free_port

ROOT = Path(__file__).resolve().parent.parent
KEY = "test-key-cluster-all-roles-00000000"


@dataclass
class Instance:
    name: str
    url: str
    process: subprocess.Popen[bytes]
    log: Path
    env: dict[str, str] = field(repr=False)

    def kill(self) -> None:
        """SIGKILL: no shutdown of any kind."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def terminate(self, timeout: float = 60) -> int:
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout)


@dataclass
class Cluster:
    """Instances sharing one database, one Janus and one storage directory (LOCAL_STORAGE)."""

    directory: Path
    database_url: str
    janus_url: str
    lease_seconds: float = 4.0
    heartbeat_seconds: float = 1.0
    webhooks: list[dict[str, Any]] = field(default_factory=list)  # the application's configured subscriptions
    profile: dict[str, Any] | None = None  # the application's storage (None: LOCAL_STORAGE in `storage`)
    instances: dict[str, Instance] = field(default_factory=dict)

    @property
    def storage(self) -> Path:
        return self.directory / "storage"

    def start(self, name: str, **settings: str) -> Instance:
        from api.credentials import sha256_hash

        port, data = free_port(), self.directory / name
        env = {
            **os.environ,
            "RECORDER_INSTANCE_ID": name,
            "RECORDER_PORT": str(port),
            "RECORDER_DATA_DIR": str(data),
            **({"RECORDER_DATABASE_URL": self.database_url} if self.database_url else {}),  # else SQLite
            "RECORDER_LEASE_SECONDS": str(self.lease_seconds),
            "RECORDER_HEARTBEAT_SECONDS": str(self.heartbeat_seconds),
            "RECORDER_URL_SIGNING_KEY": "cluster-signing-key-0123456789",
            "RECORDER_TOKEN_SIGNING_KEY": "cluster-token-signing-key-0123456789abcdef",
            "RECORDER_STORAGE_CREDENTIALS_KEY": "cluster-credentials-key-0123456789abcdef",
            "RECORDER_SPOOL_HEADROOM_BYTES": "0",
            "RECORDER_OUTBOUND_ALLOW": '["127.0.0.1"]',
            "RECORDER_OUTBOUND_PUBLIC": "false",
            "RECORDER_API_KEYS": json.dumps(
                [
                    {
                        "name": "all",
                        "key_hash": sha256_hash(KEY),
                        "organization_id": "org1",
                        "roles": ["AGENT", "SUPERVISOR", "ADMIN"],
                    }
                ]
            ),
            "RECORDER_APPLICATIONS": json.dumps(
                [
                    {
                        "id": "app1",
                        "organization_id": "org1",
                        "janus": {"url": self.janus_url},
                        "storage": self.profile or {"provider": "LOCAL_STORAGE", "path": str(self.storage)},
                        "webhooks": self.webhooks,
                    }
                ]
            ),
            **{f"RECORDER_{k.upper()}": v for k, v in settings.items()},
        }
        data.mkdir(parents=True, exist_ok=True)
        log = self.directory / f"{name}.log"
        with log.open("ab") as out:
            process = subprocess.Popen([sys.executable, "-m", "api"], cwd=ROOT, env=env, stdout=out, stderr=out)
        instance = Instance(name, f"http://127.0.0.1:{port}", process, log, env)

        wait_listening(port, process, f"instance {name}", log=log)
        self.instances[name] = instance
        return instance

    def stop_all(self) -> None:
        for instance in self.instances.values():
            if instance.process.poll() is None:
                instance.process.kill()
                instance.process.wait(10)


class Client:
    """The recorder API as a conferencing backend calls it, on any instance (`tests.client.ApiClient`)."""

    def __init__(self, http: aiohttp.ClientSession) -> None:
        self.http = http

    def on(self, instance: Instance) -> ApiClient:
        return ApiClient(self.http, instance.url, KEY)

    async def call(self, instance: Instance, method: str, path: str, status: int = 200, **kw: Any) -> Any:
        return await self.on(instance).json(method, API + path, status, **kw)

    async def start(self, instance: Instance, room: int, conversation: str) -> dict[str, Any]:
        return await self.on(instance).start(room, conversation)

    async def get(self, instance: Instance, recording: dict[str, Any]) -> dict[str, Any]:
        return await self.on(instance).recording(recording)

    async def stop(self, instance: Instance, recording: dict[str, Any]) -> dict[str, Any]:
        return await self.on(instance).stop(recording)

    async def wait(
        self, instance: Instance, recording: dict[str, Any], done: Any, seconds: float, step: float = 0.05
    ) -> dict[str, Any]:
        return await eventually(
            lambda: self.get(instance, recording),
            done,
            within=seconds,
            every=step,
            what=f"recording {recording['recorderId']} on {instance.name}",
        )


def all_uploaded(info: dict[str, Any]) -> bool:
    """Every track is stored and its local file deleted."""
    storages = [t["storage"] for s in info["streams"] for t in s["tracks"]]
    return bool(storages) and all(s["localStorage"].get("deleted") for s in storages)


def parse_time(value: str) -> float:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def decode(path: Path) -> tuple[int, float]:
    """Frames and seconds of a stored file, decoding every frame (an error fails the test)."""
    with av.open(str(path)) as container:
        stream = container.streams[0]
        times = [float(t) for frame in container.decode(stream) if (t := getattr(frame, "time", None)) is not None]
    assert times, f"{path} has no frames"
    return len(times), max(times) - min(times)


def segments(
    storage: Path, info: dict[str, Any], clock: str = "started"
) -> dict[tuple[str, str], list[tuple[float, float, int]]]:
    """Per (user, kind): every track's (start, end, frames) in order, from its decoded stored file; the start
    is the track's `clock` (`started`: its first frame's arrival; `mediaStart`: the sender's clock)."""
    out: dict[tuple[str, str], list[tuple[float, float, int]]] = {}
    for stream in info["streams"]:
        for track in stream["tracks"]:
            location = track["storage"]["objectStorage"]["location"]
            frames, seconds = decode(storage / location)
            start = parse_time(track.get(clock) or track["started"])
            out.setdefault((stream["userId"], track["type"]), []).append((start, start + seconds, frames))
    return {key: sorted(value) for key, value in out.items()}
