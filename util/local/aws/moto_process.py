"""The embedded moto server's own process: `python -m util.local.aws.moto_process HOST`.

moto serves every request with a few milliseconds of pure-Python CPU (werkzeug, flask, its serializers). In the
stack's process it held the gateway's GIL for all of that time, so each S3 call of the function stalled the
handshakes and `@connections` posts of everyone else. In a process of its own it runs on the other core.

It serves moto's own WSGI application (as moto's `ThreadedMotoServer` does; the parts it is built from are reached
through `moto_adapter`, the one module that touches moto's internals) behind one addition, `AtomicWrites`: moto
checks S3's `If-Match`/`If-None-Match` and DynamoDB's condition expressions, then writes, without a lock, so two
concurrent conditional writes can both pass the check (seen here: 2 of 16 `If-Match` PUTs with the same ETag
succeeded). S3 and DynamoDB make each such write atomic, and the function's rate limit relies on it, so the writes
of both services are serialized (docs/local-stack.md). A second addition only saves CPU: moto's serializer parses
every timestamp it has formatted as text back with dateutil before formatting it again (per key of a ListObjectsV2
page, 40% of moto's CPU of a broadcast to 1,000); `fast_timestamps` parses ISO 8601 text with
`datetime.fromisoformat` first, the same instant, and leaves anything else to moto.

The child prints one JSON line, `{"port": N}`, once it listens on HOST:N (a free port), and serves until its
stdin closes: the stack closes it to stop moto, and a stack that dies closes it too, so no moto outlives it.
"""

from __future__ import annotations

import json
import logging
import re
import signal
import sys
import threading
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

from util.local.aws import moto_adapter
from util.local.aws.moto_adapter import WSGIApp

S3_SCOPE = re.compile(r"Credential=[^/,]+/\d{8}/[^/,]+/s3/aws4_request")
"""The SigV4 credential scope of a request signed for S3 (every SDK signs; moto itself picks the service so)."""
S3_WRITE_METHODS = frozenset({"PUT", "POST", "DELETE"})
DYNAMODB_WRITES = frozenset(
    {"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems", "ExecuteStatement"}
)
"""DynamoDB's operations that may write an item under a condition (`X-Amz-Target: DynamoDB_20120810.<op>`)."""


def is_store_write(environ: dict[str, Any]) -> bool:
    """An S3 object write or a DynamoDB item write: what AWS applies atomically with its condition."""
    target = environ.get("HTTP_X_AMZ_TARGET", "")
    if target.startswith("DynamoDB_"):
        return target.rpartition(".")[2] in DYNAMODB_WRITES
    method = environ.get("REQUEST_METHOD", "")
    return method in S3_WRITE_METHODS and S3_SCOPE.search(environ.get("HTTP_AUTHORIZATION", "")) is not None


class AtomicWrites:
    """Serializes S3 and DynamoDB writes, so that a condition moto checks still holds when moto writes.

    Only writes wait for the lock: reads, long polls of SQS and everything else run concurrently as before. A
    write runs wholly inside the lock (moto answers it before the response body is iterated).
    """

    def __init__(self, app: WSGIApp) -> None:
        self._app = app
        self._lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if not is_store_write(environ):
            return self._app(environ, start_response)
        with self._lock:
            return list(self._app(environ, start_response))


def fast_timestamps(original: Callable[[Any], datetime]) -> Callable[[Any], datetime]:
    """`original` (botocore's `parse_to_aware_datetime`, as moto's serializer calls it) with a fast path for ISO
    8601 text that names its zone: the same instant in UTC, as botocore gives it, so every format moto writes it
    in is the same."""

    def parse(value: Any) -> datetime:
        if isinstance(value, str):
            try:
                parsed = datetime.fromisoformat(value)
            except ValueError:
                return original(value)
            if parsed.tzinfo is not None:
                return parsed.astimezone(UTC)  # botocore answers in UTC, and moto formats as if it were
        return original(value)

    return parse


def serve(host: str) -> None:
    from werkzeug.serving import make_server

    moto_adapter.check_version()
    # werkzeug logs one line per request: far too loud next to the stack's own output.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    moto_adapter.wrap_timestamp_parser(fast_timestamps)
    app = AtomicWrites(moto_adapter.backend_app())
    server = make_server(host, 0, app, threaded=True, request_handler=moto_adapter.request_handler())
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    sys.stdout.write(json.dumps({"port": server.server_address[1]}) + "\n")
    sys.stdout.flush()
    sys.stdin.buffer.read()  # returns at EOF: the stack stopped or died
    server.shutdown()
    thread.join()


def main() -> None:
    # Ctrl-C in `util local up` reaches the whole process group: the stack still needs moto while it stops in
    # order (disconnects, log shipping, teardown), then closes our stdin.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if len(sys.argv) != 2:
        sys.stderr.write("usage: python -m util.local.aws.moto_process HOST\n")
        sys.exit(2)
    serve(sys.argv[1])


if __name__ == "__main__":
    main()
