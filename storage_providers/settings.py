"""Storage profile settings, one model per provider (the `provider` field picks it)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel


class LocalStorageSettings(BaseModel):
    """A directory on this machine; files are handed out by the service itself through signed URLs."""

    provider: Literal["LOCAL_STORAGE"] = "LOCAL_STORAGE"
    path: Path


StorageSettings = LocalStorageSettings
