"""Credentials: OAuth2 client_credentials access tokens (JWT, HS256), static API keys, WHIP ingest tokens, and
the hashes secrets are kept as:

    scrypt$<log2 N>$<r>$<p>$<salt, base64>$<hash, base64>   for client secrets people choose
    sha256$<hex>                                            for long random keys (API keys, generated secrets)

No request handling here (that is `api.auth`): the Authenticator is one of the app's capabilities
(`api.keys.AUTHENTICATOR`).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import secrets
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import jwt

from recorder.errors import LimitError, UnauthorizedError
from recorder.settings import ClientSettings, Role, Settings

INGEST_AUDIENCE = "whip"
ISSUER = "recorder"
FAILURE_WINDOW_SECONDS = 60
_WATCHED = 10_000  # client ids and addresses remembered with failures (past that, the oldest are forgotten)


def hash_secret(secret: str, *, log_n: int = 14, r: int = 8, p: int = 1) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(secret.encode(), salt=salt, n=1 << log_n, r=r, p=p, maxmem=1 << 27)
    encoded = (base64.b64encode(x).decode() for x in (salt, digest))
    return "$".join(("scrypt", str(log_n), str(r), str(p), *encoded))


def sha256_hash(key: str) -> str:
    return "sha256$" + hashlib.sha256(key.encode()).hexdigest()


def check_secret(secret: str, hashed: str) -> bool:
    """Whether `secret` matches `hashed`; compared in constant time; a malformed hash matches nothing."""
    kind, _, rest = hashed.partition("$")
    if kind == "sha256":
        return hmac.compare_digest(sha256_hash(secret).encode(), hashed.encode())
    if kind != "scrypt":
        return False
    try:
        log_n, r, p, salt, digest = rest.split("$")
        expected = base64.b64decode(digest)
        actual = hashlib.scrypt(
            secret.encode(), salt=base64.b64decode(salt), n=1 << int(log_n), r=int(r), p=int(p), maxmem=1 << 27
        )
    except ValueError:
        return False
    return hmac.compare_digest(actual, expected)


@dataclass(frozen=True)
class Principal:
    subject: str
    organization_id: str
    roles: frozenset[Role]


class Authenticator:
    def __init__(self, settings: Settings, token_key: bytes, clients: Iterable[ClientSettings]) -> None:
        if len(token_key) < 32:
            raise ValueError("the token signing key must have at least 32 bytes")
        self._key = token_key
        self._ttl = settings.token_ttl_seconds
        self._clients = {c.id: c for c in clients}
        self._api_keys = {k.key_hash.get_secret_value(): k for k in settings.api_keys}
        self._dummy = _dummy_hash(self._clients.values())
        self._limits = {"client": settings.token_failures_per_client, "address": settings.token_failures_per_address}
        self._failures: dict[tuple[str, str], tuple[float, int]] = {}  # (kind, who) -> (window start, failures)

    def _throttled(self, who: dict[str, str], now: float) -> None:
        """429 while a client id or an address has used up its failed attempts of the window."""
        for kind, name in who.items():
            start, count = self._failures.get((kind, name), (now, 0))
            if now - start < FAILURE_WINDOW_SECONDS and count >= self._limits[kind]:
                retry = max(1, int(FAILURE_WINDOW_SECONDS - (now - start)) + 1)
                raise LimitError(
                    "too many failed attempts: try again later", retry_after=retry, code="too_many_attempts"
                )

    def _failed(self, who: dict[str, str], now: float) -> None:
        if len(self._failures) >= _WATCHED:
            self._failures = {k: v for k, v in self._failures.items() if now - v[0] < FAILURE_WINDOW_SECONDS}
            while len(self._failures) >= _WATCHED:
                self._failures.pop(next(iter(self._failures)))
        for kind, name in who.items():
            start, count = self._failures.get((kind, name), (now, 0))
            if now - start >= FAILURE_WINDOW_SECONDS:
                start, count = now, 0
            self._failures[(kind, name)] = (start, count + 1)

    async def client(self, client_id: str, client_secret: str, address: str = "") -> ClientSettings:
        """The client with this secret; UnauthorizedError (invalid_client) otherwise, in the same time for an
        unknown client as for a wrong secret (the same scrypt work); LimitError (429) once the client id or
        the address failed `token_failures_per_client`/`_per_address` times in a minute."""
        who = {"client": client_id, "address": address}
        now = time.monotonic()
        self._throttled(who, now)
        client = self._clients.get(client_id)
        hashed = client.secret_hash.get_secret_value() if client else self._dummy
        if not await asyncio.to_thread(check_secret, client_secret, hashed) or client is None:
            self._failed(who, now)
            raise UnauthorizedError("unknown client or wrong secret", code="invalid_client")
        return client

    def issue_token(self, client: ClientSettings) -> dict[str, Any]:
        """An access token for the client (RFC 6749 §4.4)."""
        now = int(time.time())
        claims = {
            "iss": ISSUER,
            "sub": client.id,
            "org": client.organization_id,
            "roles": [r.value for r in client.roles],
            "iat": now,
            "exp": now + self._ttl,
            "jti": str(uuid.uuid4()),
        }
        token = jwt.encode(claims, self._key, algorithm="HS256")
        return {"access_token": token, "token_type": "bearer", "expires_in": self._ttl}

    def issue_ingest_token(self, claims: dict[str, str], ttl_seconds: int) -> tuple[str, int]:
        """A WHIP publisher's bearer token for one ingest (audience `whip`: never an access token); (token,
        expiry as a Unix time)."""
        expires = int(time.time()) + ttl_seconds
        body = {"iss": ISSUER, "aud": INGEST_AUDIENCE, "exp": expires, "jti": str(uuid.uuid4()), **claims}
        return jwt.encode(body, self._key, algorithm="HS256"), expires

    def ingest_claims(self, authorization: str | None) -> dict[str, Any]:
        """The claims of a WHIP publisher's `Bearer` ingest token (UnauthorizedError when it is not valid)."""
        scheme, _, token = (authorization or "").strip().partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise UnauthorizedError("the ingest's token is required: Authorization: Bearer <token>")
        try:
            claims: dict[str, Any] = jwt.decode(
                token.strip(),
                self._key,
                algorithms=["HS256"],
                issuer=ISSUER,
                audience=INGEST_AUDIENCE,
                options={"require": ["exp", "sub", "aud"]},
            )
        except jwt.InvalidTokenError:
            raise UnauthorizedError("the ingest's token is not valid or has expired") from None
        return claims

    def authenticate(self, authorization: str | None) -> Principal:
        """The caller named by an Authorization header: `Bearer <token or key>` or a bare key."""
        if not authorization:
            raise UnauthorizedError("credentials are required: Authorization: Bearer <token>")
        scheme, _, value = authorization.strip().partition(" ")
        credential = value.strip() if scheme.lower() == "bearer" else authorization.strip()
        key = self._api_keys.get(sha256_hash(credential))
        if key is not None:
            return Principal(f"key:{key.name}", key.organization_id, frozenset(key.roles))
        try:
            claims = jwt.decode(
                credential, self._key, algorithms=["HS256"], issuer=ISSUER, options={"require": ["exp", "sub"]}
            )
            if not _well_formed(claims):
                raise ValueError("claims of the wrong types")
            client = self._clients.get(str(claims["sub"]))
        except (jwt.InvalidTokenError, KeyError, TypeError, ValueError):
            raise UnauthorizedError("the access token or API key is not valid") from None
        if client is None or client.organization_id != claims.get("org"):  # removed, or never configured
            raise UnauthorizedError("the access token's client is not configured")
        # the client's roles as configured now: a role taken away is gone before the token expires
        return Principal(client.id, client.organization_id, frozenset(client.roles))


def bounded_lifetime(claims: dict[str, Any], most: int) -> None:
    """A facade's bearer JWT must expire (`exp`) within `most` seconds of its issue (`iat`, else now):
    jwt.InvalidTokenError otherwise."""
    expires, issued = claims.get("exp"), claims.get("iat", time.time())
    if not isinstance(expires, int | float) or not isinstance(issued, int | float) or isinstance(expires, bool):
        raise jwt.InvalidTokenError("exp (and iat) must be numbers")
    if max(expires - issued, expires - time.time()) > most:
        raise jwt.InvalidTokenError(f"the token lives longer than {most} s")


def _well_formed(claims: dict[str, Any]) -> bool:
    """An access token's claims have the types this service writes (a token with others was never ours)."""
    roles = claims.get("roles")
    return (
        isinstance(claims.get("sub"), str)
        and isinstance(claims.get("org"), str)
        and isinstance(roles, list)
        and all(isinstance(role, str) for role in roles)
    )


def _dummy_hash(clients: Iterable[ClientSettings]) -> str:
    """What an unknown client's secret is checked against: a hash of the same kind and cost as a configured
    client's, so that an unknown id takes as long as a wrong secret."""
    for client in clients:
        kind, _, rest = client.secret_hash.get_secret_value().partition("$")
        if kind == "scrypt":
            try:
                log_n, r, p = (int(x) for x in rest.split("$")[:3])
            except ValueError:
                continue
            return hash_secret(secrets.token_urlsafe(16), log_n=log_n, r=r, p=p)
    return sha256_hash(secrets.token_urlsafe(16))
