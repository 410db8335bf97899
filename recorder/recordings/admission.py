"""Admission: whether the spool can take a new recording, and its reserve.

The spool keeps `spool_reserve_bytes` allocated (`.reserve`) while the disk has room: when the disk fills
anyway, the reserve is freed so that the files being written can still be closed and stored. A recording is
refused (503 with Retry-After, SPOOL_FULL) while less than `spool_headroom_bytes` is left, counting both the
disk's free space and `spool_quota_bytes` (when set) minus what the spool holds.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
from pathlib import Path

from recorder.errors import UnavailableError
from recorder.operations.metrics import Metrics
from recorder.settings import Settings

logger = logging.getLogger(__name__)


class Admission:
    def __init__(self, settings: Settings, metrics: Metrics | None = None) -> None:
        self._settings = settings
        self._metrics = metrics or Metrics()

    @property
    def _reserve(self) -> Path:
        return self._settings.spool / ".reserve"

    def _room(self) -> int:
        """Bytes the spool may still take: the disk's free space, and the quota minus what the spool holds."""
        spool = self._settings.spool
        spool.mkdir(parents=True, exist_ok=True)
        room = shutil.disk_usage(spool).free
        if self._settings.spool_quota_bytes is not None:
            used = 0
            for directory, _, files in os.walk(spool):
                for name in files:
                    with contextlib.suppress(FileNotFoundError):  # uploaded and deleted meanwhile
                        used += os.stat(os.path.join(directory, name)).st_size
            room = min(room, self._settings.spool_quota_bytes - used)
        return room

    def _keep_reserve(self) -> None:
        size = self._settings.spool_reserve_bytes
        if size == 0 or self._reserve.exists():
            return
        self._settings.spool.mkdir(parents=True, exist_ok=True)
        if shutil.disk_usage(self._settings.spool).free < size + self._settings.spool_headroom_bytes:
            return
        try:
            fd = os.open(self._reserve, os.O_WRONLY | os.O_CREAT, 0o600)
            try:
                os.posix_fallocate(fd, 0, size)
            finally:
                os.close(fd)
        except OSError as exc:
            logger.warning("the spool's reserve could not be made: %s", exc)
            self._reserve.unlink(missing_ok=True)

    async def keep_reserve(self) -> None:
        """Allocate the spool's reserve when it is not there and the disk has room."""
        await asyncio.to_thread(self._keep_reserve)

    def release_reserve(self) -> None:
        """The disk is full: free the reserve so that the files being written can be closed and stored."""
        if self._reserve.exists():
            self._reserve.unlink(missing_ok=True)
            logger.warning(
                "the spool's disk is full: its reserve of %d bytes is freed", self._settings.spool_reserve_bytes
            )

    async def room(self) -> int:
        """Bytes the spool may still take (its headroom included)."""
        return await asyncio.to_thread(self._room)

    async def check(self) -> None:
        """Raise UnavailableError (SPOOL_FULL) when the spool cannot take a new recording."""
        await self.keep_reserve()
        room = await self.room()
        if room < self._settings.spool_headroom_bytes:
            logger.warning("refusing a recording: the spool has %d bytes left", room)
            self._metrics.admission_refusals.labels("SPOOL_FULL").inc()
            raise UnavailableError(
                f"the recorder's local disk is nearly full ({max(room, 0)} bytes left, "
                f"{self._settings.spool_headroom_bytes} kept free); try again when uploads have freed space",
                retry_after=self._settings.spool_retry_after_seconds,
                code="SPOOL_FULL",
            )
