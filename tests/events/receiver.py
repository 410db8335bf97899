"""A real webhook receiver: an aiohttp server on 127.0.0.1 that verifies every request's Standard Webhooks
signature with the `standardwebhooks` package, as a customer's backend would, and can fail or be away."""

from __future__ import annotations

import base64
import json
import secrets
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from tests.storage_servers import free_port


def new_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def rtk_verify(public_pem: str, payload: Any, signature: str) -> None:
    """RealtimeKit's receivers' check: RSA-SHA256 of `JSON.stringify(payload)` (the parsed body written again,
    compact) with the sender's public key, the signature base64 in `rtk-signature`."""
    stringified = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()
    key = serialization.load_pem_public_key(public_pem.encode())
    assert isinstance(key, rsa.RSAPublicKey)
    try:
        key.verify(base64.b64decode(signature), stringified, padding.PKCS1v15(), hashes.SHA256())
    except (InvalidSignature, ValueError) as exc:
        raise WebhookVerificationError(f"rtk-signature does not verify: {exc!r}") from None


@dataclass
class Received:
    msg_id: str
    body: dict[str, Any]
    at: float
    path: str


@dataclass
class Receiver:
    """Each path (`/native`, `/videosdk`, ...) is one subscription's URL, verified with its secret."""

    secrets: dict[str, str] = field(default_factory=dict)  # path -> secret
    fail_first: int = 0  # answer 500 to the first tries of each webhook-id
    refuse: bool = False  # answer 500 to everything
    port: int = field(default_factory=free_port)
    tries: Counter[tuple[str, str]] = field(default_factory=Counter)  # (path, webhook-id) -> requests
    delivered: list[Received] = field(default_factory=list)  # accepted (2xx), in arrival order
    errors: list[str] = field(default_factory=list)  # signatures that did not verify
    raw: dict[str, tuple[str, dict[str, str]]] = field(default_factory=dict)  # webhook-id -> its last body, headers
    rtk_keys: dict[str, str] = field(default_factory=dict)  # path -> the PEM public key its rtk-signature needs
    _runner: web.AppRunner | None = None

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.text()
        secret = self.secrets.get(request.path)
        try:
            if secret is None:
                raise WebhookVerificationError(f"no secret for {request.path}")
            # "": a vendor's receiver that does not verify (the secret of a per-request URL is the service's own)
            payload = Webhook(secret).verify(body, dict(request.headers)) if secret else json.loads(body)
            if request.path in self.rtk_keys:
                rtk_verify(self.rtk_keys[request.path], payload, request.headers.get("rtk-signature", ""))
        except WebhookVerificationError as exc:
            self.errors.append(f"{request.path} {request.headers.get('webhook-id')}: {exc}")
            return web.Response(status=401)
        msg_id = request.headers["webhook-id"]
        self.raw[msg_id] = (body, dict(request.headers))
        self.tries[request.path, msg_id] += 1
        if self.refuse or self.tries[request.path, msg_id] <= self.fail_first:
            return web.Response(status=500, text="not now")
        self.delivered.append(Received(msg_id, payload, time.time(), request.path))
        return web.Response(status=204)

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/{path:.*}", self._handle)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def at(self, path: str) -> list[Received]:
        """What `path` accepted, each webhook-id once (the first time), in arrival order."""
        seen: set[str] = set()
        out = []
        for item in self.delivered:
            if item.path == path and item.msg_id not in seen:
                seen.add(item.msg_id)
                out.append(item)
        return out

    def duplicates(self) -> int:
        """Messages accepted more than once (at least once allows it; receivers deduplicate on webhook-id)."""
        return sum(n - 1 for n in Counter((r.path, r.msg_id) for r in self.delivered).values() if n > 1)

    def dump(self, path: str) -> str:
        return json.dumps([r.body for r in self.at(path)], indent=1)[:4000]
