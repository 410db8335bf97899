"""Every benchmark still runs: each in its smoke mode (tiny parameters, seconds), as a process, as a user
would start it. A benchmark that no longer runs fails here, not on the day someone needs its figures."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BENCHES = {  # module: what its table prints
    "bench.bench_api": "req/s",
    "bench.bench_composition": "ffmpeg s / ours",
    "bench.bench_evidence": "this / floor",
    "bench.bench_loss": "0 %",
    "bench.bench_machine_loss": "media lost per track",
    "bench.bench_mux": "loop s / media s",
    "bench.bench_recording": "CPU %/stream",
    "bench.bench_storage": "cp time / this",
    "bench.bench_takeover": "kills",
    "bench.bench_webhooks": "delivered",
}


def test_every_bench_script_is_smoke_tested() -> None:
    scripts = {f"bench.{p.stem}" for p in (ROOT / "bench").glob("bench_*.py")}
    assert scripts == set(BENCHES)


@pytest.mark.slow
@pytest.mark.parametrize("module", sorted(BENCHES))
def test_the_benchmark_runs_in_its_smoke_mode(module: str, tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", module, "--smoke"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    tail = f"\nstdout:\n{done.stdout[-3000:]}\nstderr:\n{done.stderr[-3000:]}"
    assert done.returncode == 0, tail
    assert BENCHES[module] in done.stdout, tail
