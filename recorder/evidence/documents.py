"""Signed evidence documents: a recording's seal, an hourly digest, a deletion receipt.

A document is a JSON object whose `signature` member is `{"alg": "Ed25519", "kid", "value"}`: `value` is the
base64url Ed25519 signature of the document's canonical form without its `signature` (keys sorted, no spaces,
UTF-8), so it verifies however the file was pretty-printed. `kid` names the key: the first 16 hex digits of the
SHA-256 of the raw public key. The private key is the deployment's (`evidence_signing_key`, else kept in
`<data_dir>/evidence-signing.pem`); every public key that ever signed is kept in the database and served at
`GET /evidence/keys`, so a rotated key's documents still verify. No I/O but the key file.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from recorder.keyfiles import kept_key

ALG = "Ed25519"


def canonical(document: Mapping[str, Any]) -> bytes:
    """The bytes a signature covers: the document without `signature`, keys sorted, compact, UTF-8."""
    body = {k: v for k, v in document.items() if k != "signature"}
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def key_id(public: Ed25519PublicKey) -> str:
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return sha256_hex(raw)[:16]


def public_pem(public: Ed25519PublicKey) -> str:
    return public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()


class EvidenceSigner:
    """Signs documents with the deployment's Ed25519 key."""

    def __init__(self, private_pem: bytes) -> None:
        key = serialization.load_pem_private_key(private_pem, password=None)
        if not isinstance(key, Ed25519PrivateKey):
            raise ValueError("evidence_signing_key must be an Ed25519 private key (PEM)")
        self._key = key
        self.kid = key_id(key.public_key())
        self.public_pem = public_pem(key.public_key())

    @classmethod
    def kept_in(cls, path: Path) -> EvidenceSigner:
        """The key kept in `path` (made on first use, readable by this user only)."""
        return cls(
            kept_key(
                path,
                lambda: Ed25519PrivateKey.generate().private_bytes(
                    serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
                ),
            )
        )

    def sign(self, document: dict[str, Any]) -> dict[str, Any]:
        """The document with its `signature`."""
        value = _b64(self._key.sign(canonical(document)))
        return {**document, "signature": {"alg": ALG, "kid": self.kid, "value": value}}


@dataclass(frozen=True)
class PublicKey:
    kid: str
    pem: str


class Keyring:
    """The public keys documents are verified with, by key id."""

    def __init__(self, keys: Iterable[PublicKey]) -> None:
        self._keys: dict[str, Ed25519PublicKey] = {}
        for key in keys:
            loaded = serialization.load_pem_public_key(key.pem.encode())
            if not isinstance(loaded, Ed25519PublicKey):
                raise ValueError(f"key {key.kid} is not an Ed25519 public key")
            if key_id(loaded) != key.kid:
                raise ValueError(f"key {key.kid}: its id is not its public key's")
            self._keys[key.kid] = loaded

    @staticmethod
    def listed(data: Mapping[str, Any]) -> list[PublicKey]:
        """The keys of an answer of `GET /evidence/keys`: `{"keys": [{"kid", "alg", "publicKey"}]}`."""
        return [PublicKey(str(k["kid"]), str(k["publicKey"])) for k in data.get("keys", [])]

    @staticmethod
    def from_pem(pem: bytes) -> PublicKey:
        """A public key file (PEM), with its key id."""
        public = serialization.load_pem_public_key(pem)
        if not isinstance(public, Ed25519PublicKey):
            raise ValueError("not an Ed25519 public key")
        return PublicKey(key_id(public), pem.decode())

    def check(self, document: Mapping[str, Any]) -> str | None:
        """None when the document's signature is valid; else why not, in words."""
        signature = document.get("signature")
        if not isinstance(signature, Mapping) or signature.get("alg") != ALG:
            return "not signed"
        public = self._keys.get(str(signature.get("kid")))
        if public is None:
            return f"signed with an unknown key {signature.get('kid')!r}"
        try:
            public.verify(_unb64(str(signature.get("value", ""))), canonical(document))
        except (InvalidSignature, ValueError):
            return "the signature does not match the document"
        return None
