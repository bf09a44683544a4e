"""A real HTTP server playing API Gateway's `@connections` endpoint for the Lambda's tests.

It records every POST, answers chosen ids with 410/429/500 as API Gateway does (error type in the
`x-amzn-ErrorType` header, so botocore maps it to its exceptions and retries), and counts the posts in flight.
"""

from __future__ import annotations

import json
import selectors
import socket
import threading
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote

from tests.strict_json import frame_or_text

STAGE = "test"
ERROR_TYPES = {
    403: "ForbiddenException",
    410: "GoneException",
    429: "LimitExceededException",
    500: "InternalServerErrorException",
}


@dataclass
class ConnectionsServer:
    url: str
    gone: set[str] = field(default_factory=set)
    scripted: dict[str, list[int]] = field(default_factory=dict)
    """Per id, statuses to answer one after another before answering 200."""
    hold_until_in_flight: int = 0
    """When set, early posts wait (at most HOLD_TIMEOUT_S) until this many are in flight at once."""
    on_gone: Callable[[str], None] | None = None
    """Called with the id before a 410 is answered for it (to make the store fail once the posts went out)."""
    posts: list[tuple[str, bytes]] = field(default_factory=list)
    attempts: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    in_flight: int = 0
    max_in_flight: int = 0
    lock: threading.Condition = field(default_factory=threading.Condition)

    HOLD_TIMEOUT_S = 5.0

    def frames(self, connection_id: str) -> list[Any]:
        """The frames delivered (answered 200) to one connection, parsed as strict JSON where they are JSON.

        A frame that only lenient parsing takes (`NaN`, a lone surrogate escape) raises `NotStrictJson`.
        """
        with self.lock:
            raw = [data for cid, data in self.posts if cid == connection_id]
        return [frame_or_text(data) for data in raw]

    def delivered_to(self) -> list[str]:
        with self.lock:
            return [cid for cid, _ in self.posts]

    def reset(self) -> None:
        with self.lock:
            self.posts.clear()
            self.attempts.clear()

    def answer(self, connection_id: str, data: bytes) -> int:
        with self.lock:
            self.attempts[connection_id] += 1
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            self.lock.notify_all()
            if self.hold_until_in_flight:
                self.lock.wait_for(lambda: self.in_flight >= self.hold_until_in_flight, timeout=self.HOLD_TIMEOUT_S)
                # Hold only once: after the barrier opened (or timed out) the rest flow freely.
                self.hold_until_in_flight = 0
                self.lock.notify_all()
            try:
                if connection_id in self.gone:
                    return 410
                script = self.scripted.get(connection_id)
                if script:
                    return script.pop(0)
                self.posts.append((connection_id, data))
                return 200
            finally:
                self.in_flight -= 1


def signature_is_valid(method: str, raw_path: str, headers: dict[str, str], data: bytes) -> bool:
    """Check SigV4 as API Gateway would, from what arrived on the wire: only the headers the client signed,
    the path as sent, the test credentials (test/test, us-east-1, execute-api)."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    lowered = {k.lower(): v for k, v in headers.items()}
    authorization = lowered.get("authorization", "")
    try:
        scheme, fields = authorization.split(" ", 1)
        parts = dict(part.strip().split("=", 1) for part in fields.split(","))
        signed = parts["SignedHeaders"].split(";")
        request = AWSRequest(
            method=method,
            url=f"http://{lowered['host']}{raw_path}",
            data=data,
            headers={name: lowered[name] for name in signed},
        )
        request.context["timestamp"] = lowered["x-amz-date"]
    except (ValueError, KeyError):
        return False
    auth = SigV4Auth(Credentials("test", "test"), "execute-api", "us-east-1")
    expected = auth.signature(auth.string_to_sign(request, auth.canonical_request(request)), request)
    return scheme == "AWS4-HMAC-SHA256" and parts["Signature"] == expected


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        prefix = f"/{STAGE}/@connections/"
        if not self.path.startswith(prefix):
            self._respond(404, "NotFoundException")
            return
        connection_id = unquote(self.path[len(prefix) :])
        data = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        if not signature_is_valid("POST", self.path, dict(self.headers.items()), data):
            self._respond(403, "ForbiddenException")
            return
        state = self.server.state
        status = state.answer(connection_id, data)
        if status == 410 and state.on_gone is not None:
            state.on_gone(connection_id)
        self._respond(status, ERROR_TYPES.get(status))

    def _respond(self, status: int, error_type: str | None) -> None:
        body = b"" if error_type is None else json.dumps({"message": error_type}).encode()
        self.send_response(status)
        if error_type is not None:
            self.send_header("x-amzn-ErrorType", error_type)
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    state: ConnectionsServer


def _serve_until_woken(server: _Server, wake: socket.socket) -> None:
    # `serve_forever` notices `shutdown()` only at its next poll (0.5 s by default): a cost paid by every test
    # at teardown. Here the loop waits for a request or for the wake-up socket, nothing else.
    with selectors.DefaultSelector() as selector:
        selector.register(server, selectors.EVENT_READ)
        selector.register(wake, selectors.EVENT_READ)
        while True:
            ready = {key.fileobj for key, _ in selector.select()}
            if wake in ready:
                return
            server.handle_request()


@contextmanager
def running_connections_server() -> Iterator[ConnectionsServer]:
    server = _Server(("127.0.0.1", 0), _Handler)
    state = ConnectionsServer(url=f"http://127.0.0.1:{server.server_address[1]}/{STAGE}")
    server.state = state
    wake_reader, wake_writer = socket.socketpair()
    thread = threading.Thread(
        target=_serve_until_woken, args=(server, wake_reader), name="connections-server", daemon=True
    )
    thread.start()
    try:
        yield state
    finally:
        wake_writer.send(b"x")
        thread.join(timeout=5)
        server.server_close()
        wake_reader.close()
        wake_writer.close()
