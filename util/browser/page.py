"""The page's files, the headers every host serves them with, and its `config.json`.

One source for the local stack (`util/local/gateway/web.py`) and `util web-deploy` (S3 + CloudFront): the same
files, content types and Content-Security-Policy; deployment/web.tf carries the same policy for
CloudFront and tests/browser/test_page_files.py holds the two equal.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from importlib import resources
from pathlib import PurePosixPath

INDEX = "index.html"
CONFIG_NAME = "config.json"
CONFIG_CONTENT_TYPE = "application/json"
CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".svg": "image/svg+xml",
}
"""Every kind of file the page is made of; a file of any other kind in `static/` is an error."""

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'none'",
        # Only the page's own modules run: no inline script, no eval, no event-handler attributes.
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self'",
        # config.json from the page's origin; the WebSocket to whatever URL the user connects to.
        "connect-src 'self' ws: wss:",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    ]
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}
"""What the page is served with, locally and (through a CloudFront response headers policy) on AWS."""
CACHE_CONTROL = "no-cache"
"""Browsers revalidate every file (a 304 by ETag when unchanged): a deployed or edited page shows on reload."""


class PageError(Exception):
    """The installed page is incomplete or holds a file of a kind it cannot serve."""


@dataclass(frozen=True)
class PageFile:
    """One file of the page: its path under the site root, its bytes and its content type."""

    path: str
    data: bytes
    content_type: str

    @property
    def md5(self) -> str:
        """Hex MD5 of the bytes: S3's ETag of a single-part upload, how `util web-deploy` spots changes."""
        return hashlib.md5(self.data, usedforsecurity=False).hexdigest()


def page_files() -> list[PageFile]:
    """Every file of the page, sorted by path (deterministic: the same installation gives the same list)."""
    root = resources.files("util.browser").joinpath("static")
    files: list[PageFile] = []
    pending = [(root, PurePosixPath())]
    while pending:
        directory, prefix = pending.pop()
        for entry in directory.iterdir():
            relative = prefix / entry.name
            if entry.is_dir():
                pending.append((entry, relative))
                continue
            content_type = CONTENT_TYPES.get(relative.suffix)
            if content_type is None:
                raise PageError(f"the page holds {relative}, a kind of file it does not serve")
            files.append(PageFile(str(relative), entry.read_bytes(), content_type))
    files.sort(key=lambda file: file.path)
    if INDEX not in {file.path for file in files}:
        raise PageError(f"the installed page has no {INDEX}: reinstall the project (`make setup`)")
    return files


def config_json(websocket_url: str) -> bytes:
    """The page's `config.json`: the environment's WebSocket URL (and never a secret such as the token)."""
    return (json.dumps({"websocket_url": websocket_url}, indent=2, sort_keys=True) + "\n").encode("utf-8")


def config_file(websocket_url: str) -> PageFile:
    """`config.json` as one more file of the page."""
    return PageFile(CONFIG_NAME, config_json(websocket_url), CONFIG_CONTENT_TYPE)
