"""The poster's HTTP/1.1 connection frames every response RFC 9112 allows, reuses the connection when it may,
and raises `http.client`'s errors for what it cannot frame. A raw socket server answers with scripted bytes."""

from __future__ import annotations

import http.client
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from lambda_src.aws.http1 import Http1Connection

HEAD = b"POST /s/@connections/a HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\n"
ACCEPT_TIMEOUT_S = 5.0


class ScriptedServer:
    """Answers the n-th request on any connection with `answers[n]`; closes a connection after an answer
    listed in `close_after`. Records each connection's requests."""

    def __init__(self, answers: list[bytes], close_after: frozenset[int] = frozenset()) -> None:
        self.answers = answers
        self.close_after = close_after
        self.connections: list[list[bytes]] = []
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(ACCEPT_TIMEOUT_S)
        self.port = self._listener.getsockname()[1]
        self._served = 0
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while self._served < len(self.answers):
            try:
                sock, _ = self._listener.accept()
            except OSError:
                return
            requests: list[bytes] = []
            self.connections.append(requests)
            with sock:
                sock.settimeout(ACCEPT_TIMEOUT_S)
                buffer = b""
                while self._served < len(self.answers):
                    while b"\r\n\r\n" not in buffer or len(buffer) < buffer.index(b"\r\n\r\n") + 6:
                        chunk = sock.recv(65536)
                        if not chunk:
                            break
                        buffer += chunk
                    if not buffer:
                        break
                    end = buffer.index(b"\r\n\r\n") + 6  # every test request has a 2-byte body
                    requests.append(buffer[:end])
                    buffer = buffer[end:]
                    index = self._served
                    self._served += 1
                    sock.sendall(self.answers[index])
                    if index in self.close_after:
                        break

    def close(self) -> None:
        self._listener.close()
        self._thread.join(ACCEPT_TIMEOUT_S)


@contextmanager
def scripted(answers: list[bytes], close_after: frozenset[int] = frozenset()) -> Iterator[ScriptedServer]:
    server = ScriptedServer(answers, close_after)
    try:
        yield server
    finally:
        server.close()


def connection(server: ScriptedServer) -> Http1Connection:
    return Http1Connection("127.0.0.1", server.port, timeout_s=ACCEPT_TIMEOUT_S)


def test_content_length_and_chunked_bodies_are_read_whole_on_one_kept_alive_connection() -> None:
    answers = [
        b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
        b"HTTP/1.1 403 Forbidden\r\nX-Amzn-ErrorType: ForbiddenException:http://x\r\n"
        b'Content-Length: 13\r\n\r\n{"message":1}',
        b"HTTP/1.1 500 Oops\r\ntransfer-encoding: chunked\r\n\r\n4;ext=1\r\nabcd\r\n2\r\nef\r\n0\r\nTrailer: t\r\n\r\n",
        b"HTTP/1.1 410 Gone\r\nContent-Length: 0\r\n\r\n",
    ]
    with scripted(answers) as server:
        http1 = connection(server)
        responses = [http1.request(HEAD, b"hi") for _ in answers]
        http1.close()

    assert [(r.status, r.body) for r in responses] == [
        (200, b""),
        (403, b'{"message":1}'),
        (500, b"abcdef"),
        (410, b""),
    ]
    assert responses[1].headers["x-amzn-errortype"] == "ForbiddenException:http://x"
    assert len(server.connections) == 1, "keep-alive: every request went on the first connection"
    assert server.connections[0] == [HEAD + b"hi"] * 4


def test_interim_1xx_responses_are_skipped() -> None:
    with scripted([b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"]) as server:
        response = connection(server).request(HEAD, b"hi")

    assert (response.status, response.body) == (200, b"ok")


@pytest.mark.parametrize(
    "answer",
    [
        b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n",
        b"HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\n\r\nbody up to the close",
    ],
)
def test_a_response_that_ends_the_connection_makes_the_next_request_connect_again(answer: bytes) -> None:
    with scripted([answer, b"HTTP/1.1 204 No Content\r\n\r\n"], close_after=frozenset({0})) as server:
        http1 = connection(server)
        first = http1.request(HEAD, b"hi")
        second = http1.request(HEAD, b"hi")

    assert (first.status, second.status) == (200, 204)
    if b"Content-Length" not in answer:
        assert first.body == b"body up to the close"
    assert len(server.connections) == 2


@pytest.mark.parametrize(
    ("answer", "error"),
    [
        (b"", http.client.RemoteDisconnected),
        (b"SSH-2.0-OpenSSH\r\n\r\n", http.client.BadStatusLine),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort", http.client.IncompleteRead),
        (b"HTTP/1.1 200 OK\r\nContent-Length: many\r\n\r\n", http.client.HTTPException),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", http.client.IncompleteRead),
        (b"HTTP/1.1 200 OK\r\n" + b"X: y\r\n" * 101 + b"\r\n", http.client.HTTPException),
        (b"HTTP/1.1 200 OK\r\nX: " + b"y" * 70_000, http.client.LineTooLong),
    ],
)
def test_what_cannot_be_framed_raises_http_clients_errors_and_closes(answer: bytes, error: type[Exception]) -> None:
    with scripted([answer], close_after=frozenset({0})) as server:
        http1 = connection(server)
        with pytest.raises(error):
            http1.request(HEAD, b"hi")

    assert http1._socket is None
