"""One keep-alive HTTP/1.1 client connection, for the fan-out's posts: one write per request, a lean response reader.

`http.client` spent a third of the function's CPU per post after signing was made lean: it writes the header
block and the body in two system calls, and parses every response's headers with the `email` package (a
feed parser and a message object for two or three header lines). A post needs the status, two headers and the
body drained so the connection can be reused. This reads responses as RFC 9112 frames them: status line,
header lines up to the empty line, then the body by `Transfer-Encoding: chunked`, by `Content-Length`, or up to
the connection's close (and none for 1xx, 204 and 304). A response it cannot frame raises `http.client`'s own
exceptions, so callers handle it as they would `http.client`'s.
"""

from __future__ import annotations

import http.client
import socket
import ssl
from typing import NamedTuple

MAX_LINE_BYTES = 65536
"""As `http.client`: a longer status or header line is refused (`LineTooLong`)."""
MAX_HEADERS = 100
"""As `http.client`: more header lines than this are refused."""
NO_BODY_STATUSES = frozenset({204, 304})


class Response(NamedTuple):
    status: int
    headers: dict[str, str]
    """Names lower-cased; a repeated header keeps its last value (a post reads single-valued ones only)."""
    body: bytes


class Http1Connection:
    """A persistent connection to one origin; not thread-safe (the poster keeps one per thread).

    Connects on first use. After a response that ends the connection (`Connection: close`, HTTP/1.0 without
    keep-alive, a body delimited by the close) the next request connects again.
    """

    def __init__(self, host: str, port: int, *, timeout_s: float, ssl_context: ssl.SSLContext | None = None) -> None:
        self._host = host
        self._port = port
        self._timeout_s = timeout_s
        self._ssl_context = ssl_context
        self._socket: socket.socket | None = None
        self._buffer = b""

    def request(self, head: bytes, body: bytes, *, timeout_s: float | None = None) -> Response:
        """Send `head` (request line and headers, ending in an empty line) and `body` in one write; read the
        response. `timeout_s` bounds this request's connect and each read (the connection's own timeout when
        None); a socket timeout raises `TimeoutError`. On any error the connection is closed and the error raised."""
        try:
            sock = self._socket or self._connect(timeout_s)
            sock.settimeout(self._timeout_s if timeout_s is None else timeout_s)
            sock.sendall(head + body)
            return self._read_response()
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        if self._socket is not None:
            self._socket.close()
        self._socket = None
        self._buffer = b""

    def _connect(self, timeout_s: float | None = None) -> socket.socket:
        sock = socket.create_connection(
            (self._host, self._port), timeout=self._timeout_s if timeout_s is None else timeout_s
        )
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if self._ssl_context is not None:
            sock = self._ssl_context.wrap_socket(sock, server_hostname=self._host)
        self._socket = sock
        self._buffer = b""
        return sock

    def _read_response(self) -> Response:
        while True:
            status_line = self._line()
            if not status_line:
                raise http.client.RemoteDisconnected("Remote end closed connection without response")
            version, _, rest = status_line.partition(b" ")
            code = rest[:3]
            if not version.startswith(b"HTTP/1.") or len(code) != 3 or not code.isdigit():
                raise http.client.BadStatusLine(status_line.decode("latin-1"))
            status = int(code)
            headers = self._headers()
            if not 100 <= status < 200:
                break
        keep_alive = self._keeps_alive(version, headers.get("connection", "").lower())
        if status in NO_BODY_STATUSES:
            body = b""
        elif "chunked" in headers.get("transfer-encoding", "").lower():
            body = self._chunked()
        elif "content-length" in headers:
            try:
                length = int(headers["content-length"])
            except ValueError:
                raise http.client.HTTPException(f"bad Content-Length {headers['content-length']!r}") from None
            body = self._exactly(length)
        else:
            body = self._until_close()
            keep_alive = False
        if not keep_alive:
            self.close()
        return Response(status, headers, body)

    @staticmethod
    def _keeps_alive(version: bytes, connection: str) -> bool:
        if version == b"HTTP/1.0":
            return "keep-alive" in connection
        return "close" not in connection

    def _headers(self) -> dict[str, str]:
        headers: dict[str, str] = {}
        for _ in range(MAX_HEADERS + 1):
            line = self._line()
            if line in (b"", b"\r\n", b"\n"):
                return headers
            name, colon, value = line.partition(b":")
            if colon:
                headers[name.strip().decode("latin-1").lower()] = value.strip().decode("latin-1")
        raise http.client.HTTPException(f"got more than {MAX_HEADERS} headers")

    def _chunked(self) -> bytes:
        parts: list[bytes] = []
        while True:
            size_line = self._line().split(b";", 1)[0].strip()
            try:
                size = int(size_line, 16)
            except ValueError:
                raise http.client.IncompleteRead(b"".join(parts)) from None
            if size == 0:
                self._headers()  # trailer fields, up to the empty line
                return b"".join(parts)
            parts.append(self._exactly(size))
            self._exactly(2)  # the CRLF after each chunk's data

    def _line(self) -> bytes:
        while True:
            end = self._buffer.find(b"\n")
            if end >= 0:
                line, self._buffer = self._buffer[: end + 1], self._buffer[end + 1 :]
                return line
            if len(self._buffer) > MAX_LINE_BYTES:
                raise http.client.LineTooLong("header line")
            if not self._fill():
                line, self._buffer = self._buffer, b""
                return line

    def _exactly(self, size: int) -> bytes:
        while len(self._buffer) < size:
            if not self._fill():
                raise http.client.IncompleteRead(self._buffer, size - len(self._buffer))
        data, self._buffer = self._buffer[:size], self._buffer[size:]
        return data

    def _until_close(self) -> bytes:
        while self._fill():
            pass
        data, self._buffer = self._buffer, b""
        return data

    def _fill(self) -> bool:
        assert self._socket is not None
        chunk = self._socket.recv(65536)
        self._buffer += chunk
        return bool(chunk)
