"""Recordings through real faults: Janus's host loses packets (iptables inside its namespace)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.api.test_recording_e2e import API, _json
from tests.conftest import Client
from tests.janus_host import JanusHost
from tests.loss import record_with_loss


@pytest.mark.timeout(120)
async def test_five_percent_loss_leaves_only_whole_frames_and_video_comes_back(
    client: Client, janus: JanusHost, room: int, tmp_path: Path
) -> None:
    async def api(method: str, path: str, **kw: Any) -> Any:
        return await _json(client, method, API + path, **kw)

    reports = await record_with_loss(api, tmp_path / "storage", janus, room, "conv-loss", 0.05)
    assert sorted((r.user, r.kind) for r in reports) == [
        ("h264", "AUDIO"),
        ("h264", "VIDEO"),
        ("vp8", "AUDIO"),
        ("vp8", "VIDEO"),
    ]
    # bench/bench_loss.py holds the targets (video 85 %, audio 94 % of what was sent); a single run of 13 s
    # scatters around them (audio is not retransmitted: 5 % loss costs it 5 %), so the test keeps a margin
    for r in reports:
        assert r.decode_errors == 0, r
        if r.kind == "VIDEO":
            assert r.back_after is not None and r.back_after < 1.0, r
            assert r.share >= 0.8, r
        else:
            assert r.share >= 0.92 and r.longest_gap <= 0.1, r
