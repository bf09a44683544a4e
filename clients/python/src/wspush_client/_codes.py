"""Every close code and handshake status the client acts on, with what it does about each: one place.

API Gateway (and the local stack, which copies it) closes a connection with these codes; a refused `$connect`
answers an HTTP status instead. The advice decides whether the client reconnects or stops for good.
"""

from __future__ import annotations

from enum import Enum, IntEnum


class Advice(Enum):
    """What the client does after a close or a refusal."""

    RECONNECT = "reconnect"
    """Reconnect with backoff (the next attempt may well work)."""
    STOP = "stop"
    """Stop: the same request would be refused again (a bad token, a bad name)."""


class CloseCode(IntEnum):
    """WebSocket close codes (RFC 6455 section 7.4.1) as API Gateway uses them."""

    NORMAL = 1000
    """`DELETE @connections` (a kick), or a client's own close."""
    GOING_AWAY = 1001
    """The idle timeout (10 minutes), the maximum duration (2 hours), a deploy or shutdown."""
    UNSUPPORTED_DATA = 1003
    """A binary frame was sent (the client sends text only)."""
    ABNORMAL = 1006
    """No close frame: the TCP connection dropped (never sent on the wire)."""
    POLICY_VIOLATION = 1008
    """The local stack's slow-client cut-off: the socket did not take a frame within 2 s."""
    MESSAGE_TOO_BIG = 1009
    """A frame over 32 KB or a message over 128 KB (the client fragments; 128 KB is the app's to respect)."""
    INTERNAL_ERROR = 1011
    """The server failed, or the client closed a connection whose keepalive got no answer."""


CLOSE_ADVICE: dict[int, Advice] = {
    CloseCode.NORMAL: Advice.RECONNECT,
    CloseCode.GOING_AWAY: Advice.RECONNECT,
    CloseCode.UNSUPPORTED_DATA: Advice.RECONNECT,
    CloseCode.ABNORMAL: Advice.RECONNECT,
    CloseCode.POLICY_VIOLATION: Advice.RECONNECT,
    CloseCode.MESSAGE_TOO_BIG: Advice.RECONNECT,
    CloseCode.INTERNAL_ERROR: Advice.RECONNECT,
}
"""A server close is never final: wspush has no close code that means "do not come back" (a code not listed
here reconnects too)."""

UNAUTHORIZED_STATUSES = frozenset({401, 403})
"""`$connect` refused the token (401: missing or wrong; 403: the authorizer denied it): retrying the same token
cannot help, so the client stops with `Unauthorized`."""
BAD_REQUEST_STATUS = 400
"""`$connect` refused the name (`name_too_long`, `invalid_field`): stops too."""


def status_advice(status: int) -> Advice:
    """What to do after a handshake refused with HTTP `status` (5xx and 429 are worth another try)."""
    if status in UNAUTHORIZED_STATUSES or status == BAD_REQUEST_STATUS:
        return Advice.STOP
    return Advice.RECONNECT


def close_advice(code: int) -> Advice:
    return CLOSE_ADVICE.get(code, Advice.RECONNECT)
