"""The composer worker processes of a composition, found in /proc (its work folder is named after it)."""

from __future__ import annotations

from pathlib import Path


def composer_parents(composition_id: str) -> list[int]:
    """The parent process ids (the service instances) of the workers composing `composition_id`."""
    parents = []
    for process in Path("/proc").glob("[0-9]*"):
        try:
            args = (process / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            if "recorder.compositions.worker" in args and composition_id in args:
                parents.append(int((process / "stat").read_text().rsplit(")", 1)[1].split()[1]))
        except (OSError, ValueError, IndexError):
            continue  # ended meanwhile
    return parents
