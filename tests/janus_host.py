"""Janus from Debian as its own test host in a network namespace.

Janus never gathers ICE candidates on loopback, so the fixture gives it a host of its own: a named
network namespace joined to the default one by a veth pair, as an SFU on another machine would be.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

JANUS_LIB = Path("/usr/lib/x86_64-linux-gnu/janus")
# Benchmarking range (RFC 2544): our own test hosts only.
_NET_PREFIX = "198.18"
JANUS_ADMIN_KEY = "test-admin-key"  # needed to create rooms at run time


def _run(*args: str) -> None:
    subprocess.run(args, check=True, capture_output=True, text=True)


def _all_but(folder: str, keep: str) -> str:
    names = sorted(p.name for p in (JANUS_LIB / folder).glob("*.so"))
    return ",".join(n for n in names if n != keep)


@dataclass
class JanusHost:
    """A running Janus in its namespace: `url` is its HTTP API as seen from the default namespace."""

    namespace: str
    host_ip: str
    janus_ip: str
    url: str
    workdir: Path
    process: subprocess.Popen[bytes]
    _netem: subprocess.Popen[str] | None = None

    @property
    def log(self) -> str:
        return (self.workdir / "janus.log").read_text(errors="replace")

    def impair(self, loss: float = 0.0, delay: float = 0.0, jitter: float = 0.0) -> None:
        """Every UDP packet Janus sends (media, RTCP) is dropped with probability `loss`, the others delayed
        by `delay` plus up to `jitter` seconds (`tests.netem`, through an NFQUEUE in Janus's namespace)."""
        if self._netem is None:
            self._netem = subprocess.Popen(
                ["ip", "netns", "exec", self.namespace, sys.executable, "-m", "tests.netem", "7"],
                cwd=Path(__file__).resolve().parent.parent,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
            )
            assert self._netem.stdout is not None
            if self._netem.stdout.readline().strip() != "ready":
                raise RuntimeError("the network conditions helper (tests.netem) did not start")
            rule = ["-p", "udp", "-j", "NFQUEUE", "--queue-num", "7"]
            _run("ip", "netns", "exec", self.namespace, "iptables", "-A", "OUTPUT", *rule)
        assert self._netem.stdin is not None and self._netem.stdout is not None
        for name, value in (("loss", loss), ("delay", delay), ("jitter", jitter)):
            self._netem.stdin.write(f"{name} {value}\n")
            self._netem.stdin.flush()
            if self._netem.stdout.readline().strip() != "ok":
                raise RuntimeError("the network conditions helper (tests.netem) stopped")

    def lose(self, probability: float) -> None:
        """Drop this share of every UDP packet Janus sends, at random (and delay every packet by 5 ms, so that
        Janus measures a round-trip time and keeps packets to answer NACKs with); 0 ends the loss."""
        self.impair(loss=probability, delay=0.005)

    def wait_ready(self) -> None:
        """Until Janus answers; RuntimeError with its log when it exits or does not answer within 10 s."""
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"Janus exited at start:\n{self.log[-3000:]}")
            try:
                with urllib.request.urlopen(f"{self.url}/info", timeout=1) as answer:
                    if answer.status == 200:
                        return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"Janus did not answer on {self.url} within 10 s:\n{self.log[-3000:]}")

    def halt(self) -> None:
        """Stop Janus (its sessions are gone); `resume` starts it again with the same rooms."""
        self.process.terminate()
        self.process.wait(10)

    def resume(self) -> None:
        self.process = _launch(self.namespace, self.workdir)
        self.wait_ready()

    def stop(self) -> None:
        if self._netem is not None:
            self._netem.kill()
            self._netem.communicate()  # (closes its pipes)
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        subprocess.run(["ip", "netns", "del", self.namespace], capture_output=True)
        subprocess.run(["ip", "link", "del", f"vr{self.namespace[-8:]}"], capture_output=True)
        shutil.rmtree(self.workdir, ignore_errors=True)


def start_janus(
    rooms: Sequence[int | str], *, port: int = 8088, subnet: int | None = None, string_ids: bool = False
) -> JanusHost:
    """Start Janus alone in a new namespace; raise with the reason when it cannot start. `string_ids`: the
    VideoRoom plugin's rooms have string ids (its `string_ids` setting), e.g. GUIDs."""
    if not (JANUS_LIB / "plugins" / "libjanus_videoroom.so").exists() or shutil.which("janus") is None:
        raise RuntimeError("Janus is not installed (Debian package 'janus'); the test command installs it")
    tag = f"{os.getpid() % 100000:05d}{int(time.monotonic() * 1000) % 1000:03d}"
    namespace = f"recjanus{tag}"
    subnet = subnet if subnet is not None else (os.getpid() % 250) + 1
    host_ip, janus_ip = f"{_NET_PREFIX}.{subnet}.1", f"{_NET_PREFIX}.{subnet}.2"
    host_if, janus_if = f"vr{tag}", f"vj{tag}"
    workdir = Path(tempfile.mkdtemp(prefix="janus-"))
    _write_config(workdir, janus_ip, janus_if, port, rooms, string_ids)
    _run("ip", "netns", "add", namespace)
    try:
        _run("ip", "link", "add", host_if, "type", "veth", "peer", "name", janus_if)
        _run("ip", "link", "set", janus_if, "netns", namespace)
        _run("ip", "addr", "add", f"{host_ip}/24", "dev", host_if)
        _run("ip", "link", "set", host_if, "up")
        _run("ip", "netns", "exec", namespace, "ip", "addr", "add", f"{janus_ip}/24", "dev", janus_if)
        _run("ip", "netns", "exec", namespace, "ip", "link", "set", janus_if, "up")
        _run("ip", "netns", "exec", namespace, "ip", "link", "set", "lo", "up")
    except subprocess.CalledProcessError as exc:
        subprocess.run(["ip", "netns", "del", namespace], capture_output=True)
        subprocess.run(["ip", "link", "del", host_if], capture_output=True)
        raise RuntimeError(f"cannot make the Janus test host: {exc.cmd}: {exc.stderr}") from exc
    host = JanusHost(
        namespace, host_ip, janus_ip, f"http://{janus_ip}:{port}/janus", workdir, _launch(namespace, workdir)
    )
    try:
        host.wait_ready()
    except RuntimeError:
        host.stop()
        raise
    return host


def _launch(namespace: str, workdir: Path) -> subprocess.Popen[bytes]:
    with open(workdir / "janus.log", "ab") as log:  # (the process has its own copy of the descriptor)
        return subprocess.Popen(
            ["ip", "netns", "exec", namespace, "janus", "-C", str(workdir / "janus.jcfg"), "-F", str(workdir), "-o"],
            stdout=log,
            stderr=subprocess.STDOUT,
        )


def _write_config(
    workdir: Path, ip: str, interface: str, port: int, rooms: Sequence[int | str], string_ids: bool
) -> None:
    (workdir / "janus.jcfg").write_text(
        f"""general: {{
    configs_folder = "{workdir}"
    plugins_folder = "{JANUS_LIB}/plugins"
    transports_folder = "{JANUS_LIB}/transports"
    events_folder = "{JANUS_LIB}/events"
    loggers_folder = "{JANUS_LIB}/loggers"
    debug_level = 4
    interface = "{ip}"
    session_timeout = 60
}}
media: {{
    rtp_port_range = "20000-40000"
}}
nat: {{
    nice_debug = false
    ice_enforce_list = "{interface}"
}}
plugins: {{
    disable = "{_all_but("plugins", "libjanus_videoroom.so")}"
}}
transports: {{
    disable = "{_all_but("transports", "libjanus_http.so")}"
}}
loggers: {{
    disable = "{_all_but("loggers", "")}"
}}
events: {{
    broadcast = false
}}
"""
    )
    (workdir / "janus.transport.http.jcfg").write_text(
        f"""general: {{
    json = "plain"
    base_path = "/janus"
    http = true
    port = {port}
    ip = "{ip}"
    https = false
}}
admin: {{
    admin_http = false
    admin_https = false
}}
"""
    )
    room_blocks = "\n".join(
        f"""room-{room}: {{
    description = "Room {room}"
    publishers = 32
    bitrate = 2000000
    audiocodec = "opus"
    videocodec = "vp8,h264"
}}"""
        for room in rooms
    )
    (workdir / "janus.plugin.videoroom.jcfg").write_text(
        f"""general: {{
    admin_key = "{JANUS_ADMIN_KEY}"
    string_ids = {"true" if string_ids else "false"}
}}
{room_blocks}
"""
    )
