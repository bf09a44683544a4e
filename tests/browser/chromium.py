"""Where the system's Chromium is, and how the browser tests start it.

No browser is ever downloaded (`playwright install` cannot work here): the tests drive the Chromium that
Debian's `chromium` package installs, or the one `$WSPUSH_CHROMIUM` names. `python -m tests.browser.chromium`
prints where it is, or one line saying how to install it and exits 1 (`make test` runs it first).
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

CHROMIUM_ENV = "WSPUSH_CHROMIUM"
CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
INSTALL_HINT = "apt-get install chromium chromium-driver"
LAUNCH_ARGS = (
    "--no-sandbox",  # CI runs as root, where Chromium's sandbox cannot start
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)
"""With Playwright's headless mode and its fresh profile directory for every launch."""


class ChromiumNotFound(Exception):
    """No Chromium to drive: the message is one line saying how to get one."""


def find_chromium() -> Path:
    """`$WSPUSH_CHROMIUM` if set (it must be an executable), else the first of CANDIDATES on PATH."""
    configured = os.environ.get(CHROMIUM_ENV)
    if configured:
        path = Path(configured)
        if not (path.is_file() and os.access(path, os.X_OK)):
            raise ChromiumNotFound(f"${CHROMIUM_ENV} is {configured!r}, which is not an executable file")
        return path
    for name in CANDIDATES:
        found = shutil.which(name)
        if found:
            return Path(found)
    raise ChromiumNotFound(
        f"no Chromium for the browser tests: install it (Debian: `{INSTALL_HINT}`) or set ${CHROMIUM_ENV}"
    )


def main() -> int:
    try:
        print(f"chromium: {find_chromium()}")
    except ChromiumNotFound as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
