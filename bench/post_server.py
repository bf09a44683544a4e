"""A minimal `@connections` endpoint for benchmarks: answers every POST with 200, in its own process."""

from __future__ import annotations

import sys

from aiohttp import web


async def _post(request: web.Request) -> web.Response:
    await request.read()
    return web.Response(status=200)


def main() -> None:
    app = web.Application()
    app.router.add_post("/{stage}/@connections/{id}", _post)
    web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None, access_log=None)


if __name__ == "__main__":
    main()
