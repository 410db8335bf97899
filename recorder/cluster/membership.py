"""This instance among the others on one database: heartbeats and leases, commands between instances, and
taking over what a dead instance left.

Every `heartbeat_seconds` the instance says it is alive and renews the leases of what it runs (live
recordings, upload jobs, compositions), all in one transaction; a lease that already ran out is not renewed
(another instance may hold the work now). Then it looks for work left behind: live recordings whose lease ran
out become PENDING_RECOVERY and are claimed one at a time (a single `UPDATE ... RETURNING`, so one instance
wins), and tracks whose writer is not alive are finalized. Commands (stop a recording) travel as
notifications naming the instance that owns the recording (PostgreSQL LISTEN/NOTIFY; within the process on
SQLite); `recover` tells every instance to look for work at once (a recording was handed over).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

from recorder.clock import now
from recorder.logcontext import scope
from recorder.models import Recording
from recorder.persistence.database import Database
from recorder.persistence.ports import ClusterStore, InstanceInfo
from recorder.tasks import TaskSet

logger = logging.getLogger(__name__)

CHANNEL = "recorder_commands"
EVERYONE = "*"


@dataclass(frozen=True)
class ClusterOptions:
    instance_id: str
    address: str | None
    lease_seconds: float
    heartbeat_seconds: float
    liveness_seconds: float = 0.25
    capacity: int | None = None  # how many recordings this instance runs at most (told to the others)


Command = Callable[[dict[str, Any]], Awaitable[None]]  # gets the message sent to this instance


class Member(Protocol):
    """What the cluster asks of the recordings service it runs in."""

    async def holding(self, recorder_ids: set[str], since: float) -> None:
        """The live recordings whose lease this instance still holds: any other it ran before `since`
        (time.monotonic() when the beat began; one started meanwhile was not seen), it must let go."""

    async def recover(self, recording: Recording) -> None:
        """A recording claimed from a dead instance: record it again."""


class Leftovers(Protocol):
    async def finalize(self, alive_but: str | None) -> None:
        """Finish and store the files of tracks whose writer died."""


class Cluster:
    def __init__(self, store: ClusterStore, database: Database, options: ClusterOptions) -> None:
        self._repo = store
        self._db = database
        self._options = options
        self._member: Member | None = None
        self._leftovers: Leftovers | None = None
        self._commands: dict[str, Command] = {}
        self._info = InstanceInfo(options.instance_id, options.address, "RUNNING", now(), capacity=options.capacity)
        self._wake = asyncio.Event()
        self._tasks = TaskSet("cluster")
        self.draining = False  # no new work is claimed

    def serve(self, member: Member, leftovers: Leftovers) -> None:
        """Who this instance's recordings and leftover files are looked after by (before `start`)."""
        self._member, self._leftovers = member, leftovers

    def on(self, op: str, command: Command) -> None:
        """Register what a command sent to this instance does (one handler per `op`)."""
        self._commands[op] = command

    @property
    def instance_id(self) -> str:
        return self._options.instance_id

    def lease(self) -> float:
        """A lease taken now ends then (epoch seconds)."""
        return time.time() + self._options.lease_seconds

    async def start(self) -> None:
        """Register, take up what an earlier run under this id left (its live recordings are recovered like a
        dead instance's, its unfinished uploads are free again, its files are finished), and start beating."""
        assert self._member is not None and self._leftovers is not None, "serve() first"
        self._info = dataclasses.replace(self._info, locked=await self._db.hold(self.instance_id))
        left = await self._repo.release_recordings(self.instance_id)
        if left:
            logger.warning("%d recordings of an earlier run of instance %s are recovered", left, self.instance_id)
        await self._beat()
        await self._db.listen(CHANNEL, self._received)
        await self._leftovers.finalize(alive_but=self.instance_id)
        self._tasks.spawn(self._loop(), name="cluster")
        if self._info.locked:  # (its peers hold theirs too: they are watched)
            self._tasks.spawn(self._watch_peers(), name="liveness")

    async def send(self, instance_id: str, op: str, **fields: str) -> None:
        await self._db.notify(CHANNEL, json.dumps({"to": instance_id, "op": op, **fields}))

    def _received(self, payload: str) -> None:
        try:
            message = json.loads(payload)
        except ValueError:
            logger.warning("a command that is not JSON was ignored")
            return
        if not isinstance(message, dict):
            return
        if message.get("op") == "recover":
            self._wake.set()
        elif message.get("to") == self.instance_id:
            command = self._commands.get(str(message.get("op")))
            if command is None:
                logger.warning("an unknown command %r was ignored", message.get("op"))
                return
            self._tasks.spawn(command(message), name=f"command-{message.get('op')}")

    async def _loop(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._options.heartbeat_seconds)
            self._wake.clear()
            try:
                await self._beat()
                if not self.draining:
                    await self._take_over()
            except asyncio.CancelledError:
                raise
            except Exception:  # the database is away: try again at the next beat (leases run out meanwhile)
                logger.exception("heartbeat of instance %s failed", self.instance_id)

    async def _watch_peers(self) -> None:
        """Every `liveness_seconds`: a peer whose liveness lock is gone on two looks in a row is dead (its
        process, or its host): its leases end at once and its work is taken over, without waiting for its lease.
        While this instance's own lock is not held (its session is away), it judges nobody."""
        missing_before: set[str] = set()
        while True:
            await asyncio.sleep(self._options.liveness_seconds)
            try:
                await self._db.ensure_listening()
                peers = await self._repo.watched(self.instance_id, time.time())
                held = await self._db.holders([self.instance_id, *peers]) if peers else set()
                if self.instance_id not in held:
                    missing_before = set()
                    continue
                missing = set(peers) - held
                for gone in sorted(missing & missing_before):
                    fenced = await self._repo.fence(gone)
                    logger.warning(
                        "instance %s is gone (its liveness lock was let go): %d recordings to take over", gone, fenced
                    )
                    self._wake.set()
                missing_before = missing
            except asyncio.CancelledError:
                raise
            except Exception:  # the database is away: its leases still decide
                logger.exception("instance %s could not look at its peers", self.instance_id)

    async def _beat(self) -> None:
        await self._db.ensure_listening()
        began = time.monotonic()
        held = await self._repo.heartbeat(self._info, now(), self.lease())
        assert self._member is not None
        await self._member.holding(held, began)

    async def _take_over(self) -> None:
        expired = await self._repo.expire_recordings(time.time())
        if expired:
            logger.warning("recordings %s lost their instance: PENDING_RECOVERY", ", ".join(expired))
        while not self.draining:
            now = time.time()
            recording = await self._repo.claim_recovery(self.instance_id, now, now + self._options.lease_seconds)
            if recording is None:
                break
            assert self._member is not None
            with scope(recorderId=recording.recorder_id, conversationId=recording.conversation_id):
                logger.info("instance %s recovers recording %s", self.instance_id, recording.recorder_id)
                await self._member.recover(recording)
        assert self._leftovers is not None
        await self._leftovers.finalize(alive_but=None)

    async def aclose(self) -> None:
        """Stop beating and say this instance is gone (its leftovers, if any, are others' to finish at once)."""
        self.draining = True
        await self._tasks.aclose()
        self._info = dataclasses.replace(self._info, state="STOPPED")
        with contextlib.suppress(Exception):  # (the others see the lease end anyway: never wait long for this)
            await asyncio.wait_for(self._repo.heartbeat(self._info, now(), 0.0), self._options.heartbeat_seconds)
