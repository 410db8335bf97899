"""A bare aiohttp app answering a recording's state JSON at the API's paths: the floor bench_api compares with.

`python -m bench.bare_app PORT`
"""

from __future__ import annotations

import sys

from aiohttp import web

STATE = {
    "conversationId": "bench",
    "recorderId": "4b1c5f63-6f0e-4d53-9f55-1f43c6f1f7a1",
    "instanceId": "0d8a2c2e-27b4-4a3e-9a1c-5a1f8b7d9e10",
    "state": "ACTIVE",
}


async def answer(request: web.Request) -> web.Response:
    return web.json_response(STATE)


def main() -> None:
    app = web.Application()
    app.router.add_get("/{tail:.*}", answer)
    web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), access_log=None, print=None)


if __name__ == "__main__":
    main()
