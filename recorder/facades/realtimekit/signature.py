"""RealtimeKit's webhook signature: `rtk-signature` is the base64 RSA-SHA256 (PKCS#1 v1.5) signature of the body,
which RealtimeKit's receivers verify with the sender's public key over `JSON.stringify(payload)` (so the body is
sent as compact JSON). The key pair is the service's own: its public key is served as
`{"publicKey": "<PEM>"}` at the facade's `/.well-known/webhooks.json`."""

from __future__ import annotations

import base64
from pathlib import Path

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from recorder.keyfiles import kept_key

HEADER = "rtk-signature"


class RtkSigner:
    def __init__(self, private_pem: bytes) -> None:
        key = serialization.load_pem_private_key(private_pem, password=None)
        if not isinstance(key, rsa.RSAPrivateKey):
            raise ValueError("webhook_signing_key must be an RSA private key (PEM)")
        self._key = key
        self.public_pem = (
            key.public_key()
            .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
            .decode()
        )

    @classmethod
    def kept_in(cls, path: Path) -> RtkSigner:
        """The key pair kept in `path` (a 2048-bit RSA key made on first use, readable by this user only)."""

        def make() -> bytes:
            key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            return key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )

        return cls(kept_key(path, make))

    def headers(self, body: str) -> dict[str, str]:
        signature = self._key.sign(body.encode(), padding.PKCS1v15(), hashes.SHA256())
        return {HEADER: base64.b64encode(signature).decode()}
