"""Every storage server, started once for the storage tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from storage_providers.settings import StorageSettings
from tests.storage_servers import (
    Server,
    profile,
    service_account_key,
    start_azurite,
    start_fake_gcs,
    start_moto,
    start_s3rver,
    start_sshd,
)

KINDS = ["local", "moto", "s3rver", "azurite", "gcs", "sftp"]


class Servers:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.running: list[Server] = []
        self.targets: dict[str, Any] = {}
        self.gcs_public_key: Any = None

    def start(self) -> None:
        storage = self.directory / "local-storage"
        storage.mkdir()
        self.targets["local"] = storage
        for kind, starter in (("moto", start_moto), ("s3rver", start_s3rver), ("azurite", start_azurite)):
            self.targets[kind] = starter(self.directory)
            self.running.append(self.targets[kind])
        gcs = start_fake_gcs(self.directory)
        self.running.append(gcs)
        key, self.gcs_public_key = service_account_key()
        self.targets["gcs"] = (gcs, key)
        sshd = start_sshd()
        self.running.append(sshd.server)
        self.targets["sftp"] = sshd

    def profile(self, kind: str, **extra: Any) -> StorageSettings:
        return profile(kind, self.targets[kind], **extra)

    def stop(self) -> None:
        for server in self.running:
            server.stop()


@pytest.fixture(scope="session")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Servers]:
    running = Servers(tmp_path_factory.mktemp("storage-servers"))
    try:
        running.start()
        yield running
    finally:
        running.stop()
