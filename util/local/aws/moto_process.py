"""The embedded moto server's own process: `python -m util.local.aws.moto_process HOST REGION`.

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

In front of both stands `SignedOnly`, the gateway's guard (`util/local/aws/api_guard.py`) for WSGI: any web page the
developer visits can send requests to a loopback port, so moto serves only what the stack's own credentials signed
(`sigv4.py`, any service the scope names), sent to the stack's own Host, and never its `/moto-api/` (its whole state
as JSON, and a reset). The credentials come from the environment (`credentials.CHILD_VARIABLES`), never the command
line; without them the child serves moto as moto is, for the tests' own shared moto only (`tests/stack_harness.py`:
Terraform signs with fixed keys). moto's global CORS is off (`MOTO_DISABLE_GLOBAL_CORS`, moto's own setting), so no
answer tells a browser another origin may read it.

The child prints one JSON line, `{"port": N}`, once it listens on HOST:N (a free port), and serves until its
stdin closes: the stack closes it to stop moto, and a stack that dies closes it too, so no moto outlives it.
"""

from __future__ import annotations

import io
import json
import logging
import os
import re
import signal
import sys
import threading
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from http import HTTPStatus
from typing import Any

from multidict import CIMultiDict, CIMultiDictProxy
from werkzeug.datastructures import EnvironHeaders
from werkzeug.wsgi import get_input_stream

from util.local.aws import moto_adapter
from util.local.aws.api_guard import MISDIRECTED, allowed_hosts
from util.local.aws.moto_adapter import WSGIApp
from util.local.aws.sigv4 import Refusal, SigV4Verifier

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


MOTO_API_PREFIX = "/moto-api"
"""moto's own API (`data.json`: every backend's state; `reset`; `seed`, ...): refused, signed or not. The stack
never calls it."""
MOTO_API_REFUSED = "moto's own API (/moto-api) is not served by the local stack"


class SignedOnly:
    """moto behind the stack's guard: the Host is the stack's, the path is not moto's own API, and the request is
    SigV4-signed with the stack's credentials, in that order; nothing is read before the header checks pass.

    `hosts` is set once the server has its port, before it serves.
    """

    def __init__(self, app: WSGIApp, verifier: SigV4Verifier) -> None:
        self._app = app
        self._verifier = verifier
        self.hosts: frozenset[str] = frozenset()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("HTTP_HOST", "").lower() not in self.hosts:
            return _answer(start_response, _status(MISDIRECTED), {"message": HTTPStatus(MISDIRECTED).phrase})
        if environ.get("PATH_INFO", "").startswith(MOTO_API_PREFIX):
            return _refuse(start_response, Refusal("AccessDeniedException", MOTO_API_REFUSED))
        headers = CIMultiDictProxy(CIMultiDict(EnvironHeaders(environ)))
        try:
            header = self._verifier.check_header(headers, None)
            body = get_input_stream(environ).read()  # only a caller holding the credentials gets this far
            self._verifier.verify(
                header,
                method=environ.get("REQUEST_METHOD", ""),
                raw_path=environ.get("REQUEST_URI", ""),  # the path and query as sent (werkzeug's server)
                headers=headers,
                body=body,
                service=header.service,
            )
        except Refusal as refusal:
            return _refuse(start_response, refusal)
        environ["wsgi.input"] = io.BytesIO(body)
        environ["CONTENT_LENGTH"] = str(len(body))
        return self._app(environ, start_response)


def _refuse(start_response: Callable[..., Any], refusal: Refusal) -> Iterable[bytes]:
    """The gateway's shape for a refusal (`api_guard.refusal_response`): AWS's JSON error, its type in a header."""
    headers = [("x-amzn-ErrorType", refusal.error_type)]
    return _answer(start_response, _status(refusal.status), {"message": refusal.message}, headers)


def _status(code: int) -> str:
    return f"{code} {HTTPStatus(code).phrase}"


def _answer(
    start_response: Callable[..., Any],
    status: str,
    document: dict[str, str],
    headers: list[tuple[str, str]] | None = None,
) -> Iterable[bytes]:
    body = json.dumps(document).encode()
    start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(body))), *(headers or [])])
    return [body]


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


def serve(host: str, region: str) -> None:
    from werkzeug.serving import make_server

    from util.local.aws.credentials import LocalCredentials

    moto_adapter.check_version()
    # werkzeug logs one line per request: far too loud next to the stack's own output.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    moto_adapter.wrap_timestamp_parser(fast_timestamps)
    app: WSGIApp = AtomicWrites(moto_adapter.backend_app())
    credentials = LocalCredentials.from_child_environment(os.environ)
    guard = None if credentials is None else SignedOnly(app, SigV4Verifier(credentials, region))
    server = make_server(host, 0, guard or app, threaded=True, request_handler=moto_adapter.request_handler())
    if guard is not None:
        guard.hosts = allowed_hosts(host, server.server_address[1])
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
    if len(sys.argv) != 3:
        sys.stderr.write("usage: python -m util.local.aws.moto_process HOST REGION\n")
        sys.exit(2)
    serve(sys.argv[1], sys.argv[2])


if __name__ == "__main__":
    main()
