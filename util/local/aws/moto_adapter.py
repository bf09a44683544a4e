"""Where the local stack reaches into moto past its documented API: one module, one tested version range.

moto documents `ThreadedMotoServer` and `moto_server` as its ways to serve; neither lets the stack wrap the WSGI
application (`moto_process.AtomicWrites`) or pick the host and port in one step. So `moto_process` builds the
server from the parts `ThreadedMotoServer` itself uses, and swaps one function of moto's serializer for a faster
one. Every such name is reached here and nowhere else; `tests/util/test_moto_adapter.py` fails loudly, naming the
part, when a moto release moves or changes one, and `check_version` refuses a moto outside `TESTED_VERSIONS`
before any of it is used.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from importlib.metadata import version
from typing import Any

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
TimestampParser = Callable[[Any], datetime]

TESTED_VERSIONS = ((5, 2, 6), (5, 3, 0))
"""moto versions these hooks were tested with: from the first (inclusive) to the second (exclusive).
pyproject.toml pins the same range (`tests/util/test_moto_adapter.py` holds them equal)."""


class UnsupportedMoto(RuntimeError):
    """The installed moto is outside `TESTED_VERSIONS`, or lacks a part the stack builds its server from."""


def installed_version() -> tuple[int, ...]:
    return tuple(int(part) for part in version("moto").split(".")[:3] if part.isdigit())


def check_version() -> None:
    low, high = TESTED_VERSIONS
    found = installed_version()
    if not low <= found < high:
        shown = ".".join(map(str, found))
        raise UnsupportedMoto(
            f"moto {shown} is not a version the local stack was tested with "
            f"({'.'.join(map(str, low))} up to {'.'.join(map(str, high))}): pip install -e . installs one"
        )


def backend_app() -> WSGIApp:
    """moto's WSGI application for every service, as `ThreadedMotoServer` serves it."""
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

    app: WSGIApp = DomainDispatcherApplication(create_backend_app)
    return app


def request_handler() -> type[Any]:
    """moto's werkzeug request handler: it keeps the underscores of S3 metadata header names."""
    from moto.moto_server.werkzeug_app import MotoRequestHandler

    return MotoRequestHandler


def wrap_timestamp_parser(wrap: Callable[[TimestampParser], TimestampParser]) -> None:
    """Replace the timestamp parser moto's response serializer calls with `wrap(original)`."""
    from moto.core import serialize

    original = getattr(serialize, "parse_to_aware_datetime", None)
    if not callable(original):
        raise UnsupportedMoto("moto.core.serialize no longer calls parse_to_aware_datetime")
    serialize.parse_to_aware_datetime = wrap(original)  # type: ignore[attr-defined,assignment]
