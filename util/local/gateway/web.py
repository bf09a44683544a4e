"""The browser client's page at `http://HOST:PORT/`: a local addition, API Gateway serves no pages.

Served from the installed package (`util/browser/static`) with the headers CloudFront adds on AWS
(`util.browser.page.SECURITY_HEADERS`), and a `config.json` naming this stack's WebSocket URL. Only the
page's own paths are routed (no path is mapped onto the file system), so the stage's `GET /STAGE` and
`@connections` are untouched.
"""

from __future__ import annotations

from aiohttp import web

from util.browser.page import (
    CACHE_CONTROL,
    CONFIG_NAME,
    INDEX,
    SECURITY_HEADERS,
    PageFile,
    config_file,
)


class WebPage:
    """Serves the page's files and `config.json`; the files are read once, at start."""

    def __init__(self, files: list[PageFile], websocket_url: str) -> None:
        self._files = {file.path: file for file in files}
        self._config = config_file(websocket_url)

    def add_routes(self, app: web.Application) -> None:
        app.router.add_get("/", self._index)
        for path in (*self._files, CONFIG_NAME):
            app.router.add_get(f"/{path}", self._file)

    async def _index(self, request: web.Request) -> web.Response:
        return _response(self._files[INDEX])

    async def _file(self, request: web.Request) -> web.Response:
        path = request.path.removeprefix("/")
        return _response(self._config if path == CONFIG_NAME else self._files[path])


def _response(file: PageFile) -> web.Response:
    headers = {**SECURITY_HEADERS, "Content-Type": file.content_type, "Cache-Control": CACHE_CONTROL}
    return web.Response(body=file.data, headers=headers)
