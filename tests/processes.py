"""The composer worker processes of a composition, found in /proc (its work folder is named after it)."""

from __future__ import annotations

import os
from pathlib import Path


def composer_parents(composition_id: str) -> list[int]:
    """The parent process ids (the service instances) of the workers composing `composition_id`."""
    return [parent for _, parent in composers(composition_id)]


def composers(composition_id: str) -> list[tuple[int, int]]:
    """(process id, parent's) of the workers composing `composition_id`: a worker started for it names its
    plan, a warm one handed the plan has its output open in the composition's folder."""
    found = []
    for process in Path("/proc").glob("[0-9]*"):
        try:
            args = (process / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            if "recorder.compositions.worker" not in args:
                continue
            files = [os.readlink(fd) for fd in (process / "fd").iterdir()] if composition_id not in args else [args]
            if any(composition_id in name for name in files):
                parent = int((process / "stat").read_text().rsplit(")", 1)[1].split()[1])
                found.append((int(process.name), parent))
        except (OSError, ValueError, IndexError):
            continue  # ended meanwhile
    return found
