"""The client's exceptions: one small hierarchy under `ClientError`."""

from __future__ import annotations


class ClientError(Exception):
    """The root of every error the client raises on purpose."""


class ConnectionRefused(ClientError):
    """`$connect` refused the handshake with an HTTP status the client will not retry (400, 401, 403)."""

    def __init__(self, status: int, reason: str) -> None:
        self.status = status
        self.reason = reason
        super().__init__(f"the server refused the connection: HTTP {status}" + (f": {reason}" if reason else ""))


class Unauthorized(ConnectionRefused):
    """The token was refused (401 or 403): the client stopped; give it a token callable that returns a valid one.
    The message never holds the token."""


class NotConnected(ClientError):
    """An action was asked while the client is not open (connecting, reconnecting or closed)."""


class ConnectionLost(ClientError):
    """The connection dropped while a request waited for its reply; the client reconnects by itself."""


class ReplyTimeout(ClientError):
    """No reply within the request timeout."""


class ServerError(ClientError):
    """The server answered the request with an error frame (`code` as docs/protocol.md lists them)."""

    def __init__(self, code: str, message: str) -> None:
        self.code = code
        self.message = message
        super().__init__(f"{code}: {message}")
