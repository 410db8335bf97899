"""UrlSigner: signed, expiring download links that need no Authorization header.

A link carries `Date` (when it was signed, UTC, `YYYYMMDDTHHMMSSZ`), `Expires` (seconds it stays valid),
`By` (whom it was issued to, when known) and `Signature`: base64url HMAC-SHA256 over the method, the path and
those parameters. Checked in constant time.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

DATE_FORMAT = "%Y%m%dT%H%M%SZ"
MAX_TTL = 7 * 24 * 3600


class SignatureError(Exception):
    """The link is expired, altered or incomplete."""


class UrlSigner:
    def __init__(self, key: bytes, ttl_seconds: int) -> None:
        if len(key) < 16:
            raise ValueError("the URL signing key must have at least 16 bytes")
        self._key = key
        self.ttl_seconds = ttl_seconds

    def _signature(self, method: str, path: str, date: str, expires: str, by: str | None = None) -> str:
        parts = (method.upper(), path, date, expires) + (() if by is None else (by,))
        message = "\n".join(parts).encode()
        digest = hmac.new(self._key, message, hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()

    def sign(
        self,
        path: str,
        *,
        now: datetime | None = None,
        method: str = "GET",
        ttl_seconds: int | None = None,
        by: str | None = None,
    ) -> tuple[str, datetime]:
        """Return (path?query, valid until) for a GET of `path` (already percent-encoded), valid for
        `ttl_seconds` (default: the signer's). `by`: whom the link is issued to (signed too: the access log names
        them when the link is followed)."""
        ttl = ttl_seconds or self.ttl_seconds
        signed_at = (now or datetime.now(UTC)).replace(microsecond=0)
        date, expires = signed_at.strftime(DATE_FORMAT), str(ttl)
        fields = {"Date": date, "Expires": expires} | ({} if by is None else {"By": by})
        fields["Signature"] = self._signature(method, path, date, expires, by)
        return f"{path}?{urlencode(fields)}", signed_at + timedelta(seconds=ttl)

    def verify(self, method: str, path: str, query: Mapping[str, str], *, now: datetime | None = None) -> None:
        date, expires, signature = query.get("Date", ""), query.get("Expires", ""), query.get("Signature", "")
        expected = self._signature(method, path, date, expires, query.get("By"))
        if not hmac.compare_digest(expected.encode(), signature.encode()):
            raise SignatureError("the link's signature does not match")
        try:
            signed_at = datetime.strptime(date, DATE_FORMAT).replace(tzinfo=UTC)
            ttl = int(expires)
        except ValueError as exc:
            raise SignatureError("the link's Date or Expires is malformed") from exc
        if not 0 < ttl <= MAX_TTL:
            raise SignatureError("the link's Expires is out of range")
        if (now or datetime.now(UTC)) >= signed_at + timedelta(seconds=ttl):
            raise SignatureError("the link has expired")
