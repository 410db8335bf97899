"""Authentication and roles at the edge: who calls (`require`, `principal`, `caller`), the token endpoint, and
the origin links are built on. The credentials themselves are `api.credentials`.

`python -m api.auth` reads a secret on stdin and prints its scrypt hash; `python -m api.auth --new-key`
makes a random key and prints it with its sha256 hash.
"""

from __future__ import annotations

import argparse
import base64
import secrets
import sys
from collections.abc import Awaitable, Callable

from aiohttp import web

from api.credentials import Principal, hash_secret, sha256_hash
from api.keys import AUTHENTICATOR, SETTINGS
from recorder.errors import ForbiddenError, InvalidRequestError, UnauthorizedError
from recorder.evidence.access import ACTOR, SERVICE, Actor
from recorder.models import Caller
from recorder.settings import Role

PRINCIPAL = web.RequestKey("principal", Principal)  # the authenticated caller
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def add_route(router: web.UrlDispatcher, method: str, path: str, handler: Handler) -> None:
    """A route; a GET answers HEAD too, like GET without the body (a player probing a signed link)."""
    if method == "GET":
        router.add_get(path, handler)
    else:
        router.add_route(method, path, handler)


def require(roles: frozenset[Role], handler: Handler) -> Handler:
    """`handler`, callable only by a caller holding one of `roles`; the caller is request[PRINCIPAL]."""

    async def guarded(request: web.Request) -> web.StreamResponse:
        principal = request.config_dict[AUTHENTICATOR].authenticate(request.headers.get("Authorization"))
        if not principal.roles & roles:
            needed = " or ".join(sorted(roles))
            raise ForbiddenError(f"this operation needs the role {needed}")
        request[PRINCIPAL] = principal
        who = caller(request)
        ACTOR.set(Actor(who.name, who.type, tuple(sorted(r.value for r in principal.roles))))
        return await handler(request)

    guarded.__name__ = handler.__name__
    return guarded


@web.middleware
async def actor_scope(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Each request acts as the recorder until its credentials say who it is (`require`, the facades' checks);
    the next request on the same connection starts afresh."""
    token = ACTOR.set(SERVICE)
    try:
        return await handler(request)
    finally:
        ACTOR.reset(token)


def principal(request: web.Request) -> Principal:
    return request[PRINCIPAL]


_LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "[::1]", "::1"})


def origin(request: web.Request) -> str:
    """The base of the URLs handed out: `public_url`; else the request's own origin, but only for a Host the
    service answers for (`allowed_hosts`; on a loopback listener, loopback names): a link is never built on a
    Host header a caller made up (400)."""
    settings = request.config_dict[SETTINGS]
    if settings.public_url:
        return settings.public_url.rstrip("/")
    host = (request.host or "").lower()
    name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
    allowed = {h.lower() for h in settings.allowed_hosts}
    if host in allowed or name in allowed or (not settings.allowed_hosts and name in _LOOPBACK_NAMES):
        return str(request.url.origin())
    raise InvalidRequestError(
        "the request's Host is not one this service answers for (its operator sets public_url or allowed_hosts)",
        code="HOST_NOT_ALLOWED",
    )


def caller(request: web.Request) -> Caller:
    """Who calls: an API key (by its name) or an OAuth client (by its id)."""
    subject = principal(request).subject
    if subject.startswith("key:"):
        return Caller(subject.removeprefix("key:"), "API_KEY")
    return Caller(subject, "CLIENT")


async def token(request: web.Request) -> web.Response:
    """POST /security/oauth/token: grant_type=client_credentials, in the query, a form body or HTTP Basic.
    The client is authenticated first (401 invalid_client, also when no credentials came), then the grant."""
    params: dict[str, str] = dict(request.query)
    settings = request.config_dict[SETTINGS]
    if "client_secret" in params and not settings.token_secret_in_query:
        raise InvalidRequestError(
            "client_secret is not taken from the URL's query (proxies log it): send it in the form body or as"
            " HTTP Basic",
            code="invalid_request",
        )
    if request.content_type == "application/x-www-form-urlencoded":
        params.update({k: v for k, v in (await request.post()).items() if isinstance(v, str)})
    client_id, client_secret = params.get("client_id"), params.get("client_secret")
    basic = request.headers.get("Authorization", "")
    if basic.lower().startswith("basic "):
        try:
            client_id, _, client_secret = base64.b64decode(basic[6:], validate=True).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            raise UnauthorizedError("malformed Basic credentials", code="invalid_client") from None
    if not client_id or not client_secret:
        raise UnauthorizedError("client_id and client_secret are required", code="invalid_client")
    authenticator = request.config_dict[AUTHENTICATOR]
    client = await authenticator.client(client_id, client_secret, request.remote or "")
    if params.get("grant_type") != "client_credentials":
        raise InvalidRequestError("only grant_type=client_credentials is supported", code="unsupported_grant_type")
    answer = authenticator.issue_token(client)
    return web.json_response(answer, headers={"Cache-Control": "no-store", "Pragma": "no-cache"})


def main() -> None:
    parser = argparse.ArgumentParser(description="Hash a client secret (read on stdin), or make a new API key.")
    parser.add_argument("--new-key", action="store_true", help="print a new random key and its sha256 hash")
    args = parser.parse_args()
    if args.new_key:
        key = secrets.token_urlsafe(32)
        print(f"key:  {key}\nhash: {sha256_hash(key)}")
    else:
        print(hash_secret(sys.stdin.readline().rstrip("\n")))


if __name__ == "__main__":
    main()
