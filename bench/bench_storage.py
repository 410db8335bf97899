"""Benchmark: upload throughput of every storage provider against its local server, beside a plain copy.

For each provider: one 200 MiB file, then 50 files of 4 MiB uploaded at once (asyncio.gather), each through
the provider's `upload` and checked by `stat` as the upload jobs do. The baseline is a `cp`-style copy of the
same bytes (shutil.copyfile, the 50 files on 8 threads) to another folder of the same disk, in the same run.
Prints a table: provider, case, seconds, MiB/s, and the copy's time divided by the provider's (1.0 = as fast
as cp). Beside the S3 servers (moto, s3rver), the AWS CLI (`aws s3 cp`, its defaults: 8 MiB parts, 10 at once;
the folder with `--recursive`) uploads the same files in the same run, and a second table prints the CLI's
time divided by ours (1.0 = as fast as the CLI; its time includes its process start).

Run: `python -m bench.bench_storage [--big-mib 200] [--files 50] [--file-mib 4]` (the servers need the
packages scripts/test.sh installs).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from storage_providers.registry import create_provider
from storage_providers.settings import S3StorageSettings
from tests.storage_servers import KINDS, NODE_MODULES, Servers

AWS_CLI = NODE_MODULES.parent / "awscli" / "bin" / "aws"  # (scripts/test.sh installs it)


def _make(path: Path, size: int) -> Path:
    with path.open("wb") as file:
        for _ in range(size >> 20):
            file.write(os.urandom(1 << 20))
    return path


def _copy_all(sources: list[Path], target: Path) -> None:
    target.mkdir(parents=True, exist_ok=True)
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda s: shutil.copyfile(s, target / s.name), sources))


async def _timed(work: Callable[[], Awaitable[object]]) -> float:
    started = time.perf_counter()
    await work()
    return time.perf_counter() - started


def _aws_cli(settings: S3StorageSettings, sources: list[Path], prefix: str) -> float:
    """Seconds the AWS CLI takes to upload `sources` (one file, or their folder with --recursive)."""
    credentials = settings.credentials
    assert credentials is not None and settings.endpoint_url is not None
    env = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": credentials.access_key_id.get_secret_value(),
        "AWS_SECRET_ACCESS_KEY": credentials.secret_access_key.get_secret_value(),
        "AWS_DEFAULT_REGION": settings.region,
    }
    source = str(sources[0]) if len(sources) == 1 else str(sources[0].parent)
    target = f"s3://{settings.bucket}/{prefix}/" + (sources[0].name if len(sources) == 1 else "")
    command = [str(AWS_CLI), "--endpoint-url", settings.endpoint_url, "s3", "cp", source, target, "--only-show-errors"]
    started = time.perf_counter()
    done = subprocess.run([*command, *(["--recursive"] if len(sources) > 1 else [])], env=env, capture_output=True)
    if done.returncode != 0:
        raise RuntimeError(f"the AWS CLI failed: {done.stderr.decode()[-500:]}")
    return time.perf_counter() - started


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--big-mib", type=int, default=200)
    parser.add_argument("--files", type=int, default=50)
    parser.add_argument("--file-mib", type=int, default=4)
    parser.add_argument("--providers", default=",".join(KINDS))
    parser.add_argument(
        "--smoke", action="store_true", help="tiny parameters: proves the benchmark runs (the suite runs it)"
    )
    args = parser.parse_args()
    if not AWS_CLI.exists():
        raise SystemExit(f"{AWS_CLI} is missing: scripts/test.sh installs the AWS CLI there")
    if args.smoke:
        args.big_mib, args.files, args.file_mib = 2, 2, 1

    with tempfile.TemporaryDirectory(prefix="bench-storage-") as directory:
        work = Path(directory)
        big = _make(work / "big.webm", args.big_mib << 20)
        (work / "small").mkdir()
        small = [_make(work / "small" / f"track-{n}.webm", args.file_mib << 20) for n in range(args.files)]
        cases = {
            f"1 x {args.big_mib} MiB": ([big], args.big_mib),
            f"{args.files} x {args.file_mib} MiB at once": (small, args.files * args.file_mib),
        }
        baseline = {}
        for case, (sources, _) in cases.items():
            target = work / f"copy-{len(sources)}"
            baseline[case] = await _timed(lambda s=sources, t=target: asyncio.to_thread(_copy_all, s, t))  # type: ignore[misc]
            shutil.rmtree(target)

        servers = Servers(work / "servers")
        (work / "servers").mkdir()
        servers.start()
        peers: list[tuple[str, str, float, float]] = []  # (server, case, the CLI's seconds, ours)
        rows: list[tuple[str, str, float, float, float]] = [
            ("cp (copyfile)", case, baseline[case], mib / baseline[case], 1.0) for case, (_, mib) in cases.items()
        ]
        try:
            for kind in args.providers.split(","):
                profile = servers.profile(kind)
                if isinstance(profile, S3StorageSettings):  # the CLI's part size and threshold (8 MiB)
                    profile = profile.model_copy(
                        update={"part_size_bytes": 8 << 20, "multipart_threshold_bytes": 8 << 20}
                    )
                async with create_provider(profile) as provider:
                    await provider.upload(small[0], f"bench/{kind}/warm-up")  # (a server's first request is slow)
                    await provider.delete(f"bench/{kind}/warm-up")
                    for case, (sources, mib) in cases.items():
                        mib_each = mib // len(sources)

                        async def upload(
                            source: Path, k: str = kind, c: str = case, size: int = mib_each << 20
                        ) -> None:
                            key = f"bench/{k}/{len(c)}/{source.name}"
                            await provider.upload(source, key)
                            stored = await provider.stat(key)
                            assert stored is not None and stored.size == size

                        seconds = await _timed(lambda s=sources: asyncio.gather(*(upload(x) for x in s)))  # type: ignore[misc]
                        rows.append((kind, case, seconds, mib / seconds, baseline[case] / seconds))
                        for source in sources:
                            await provider.delete(f"bench/{kind}/{len(case)}/{source.name}")
                        if isinstance(profile, S3StorageSettings):
                            cli = await asyncio.to_thread(_aws_cli, profile, sources, f"cli/{len(case)}")
                            peers.append((kind, case, cli, seconds))
        finally:
            servers.stop()

    print(f"{'provider':<14} {'case':<24} {'seconds':>8} {'MiB/s':>8} {'cp time / this':>15}")
    for provider_name, case, seconds, rate, ratio in rows:
        print(f"{provider_name:<14} {case:<24} {seconds:>8.2f} {rate:>8.1f} {ratio:>15.2f}")
    print(f"\n{'S3 server':<14} {'case':<24} {'aws cli s':>10} {'ours s':>8} {'cli time / ours':>16}")
    for server, case, cli, ours in peers:
        print(f"{server:<14} {case:<24} {cli:>10.2f} {ours:>8.2f} {cli / ours:>16.2f}")


if __name__ == "__main__":
    asyncio.run(main())
