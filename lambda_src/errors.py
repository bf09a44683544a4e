"""The function's errors: one hierarchy under `WspushError`, and one table of what each becomes.

```
WspushError
├── ConfigError            the environment is wrong (also a ValueError)
├── ProtocolError          a client's request is invalid: one error frame with its own `code`
│   └── NonFiniteNumberError   a frame holds NaN or Infinity (also a ValueError)
├── AuthError              a connect is refused
│   ├── InvalidToken           the token does not verify (the reason is safe to log)
│   ├── InvalidClaims          the token verifies but its claims cannot name a connection (also a ValueError)
│   └── JwksError              the issuer's keys cannot be had
│       ├── JwksUnavailable        fetching or parsing the JWKS failed
│       └── UnknownKey             the JWKS has no key of the token's `kid`
├── StoreError             the connection store refused a request or its answer made no sense
├── PushFailed             a push from outside was not delivered: raised so that Lambda retries it
├── DeliveryIncomplete     an asynchronous part left recipients neither posted nor handed on: retried likewise
└── PartBusy               another invocation holds the part past this one's deadline: retried likewise
```

An asynchronous event (a push, a shard, a segment, a continuation) raises every error but a delivered outcome, these
three and any other: Lambda retries only an invocation that raised (`app.handle`).

What each error becomes is in `ANSWERS`: the error frame's code for a client (WebSocket events answer API Gateway
with a status and the client with a frame) and the status of the answer. `answer_for` finds the entry of an
error's nearest listed class; any other exception is an internal error (500, `internal_error`).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class ErrorCode(StrEnum):
    """Stable machine-readable codes of error frames; clients may switch on them (docs/protocol.md lists them)."""

    INVALID_JSON = "invalid_json"
    UNKNOWN_ACTION = "unknown_action"
    INVALID_FIELD = "invalid_field"
    MESSAGE_TOO_LARGE = "message_too_large"
    INVALID_ROOM = "invalid_room"
    NAME_TOO_LONG = "name_too_long"
    TOO_MANY_ROOMS = "too_many_rooms"
    RATE_LIMITED = "rate_limited"
    NOT_FOUND = "not_found"
    NOT_IN_ROOM = "not_in_room"
    DELIVERY_FAILED = "delivery_failed"
    UNAUTHORIZED = "unauthorized"
    FORBIDDEN = "forbidden"
    HISTORY_DISABLED = "history_disabled"
    INTERNAL = "internal_error"


class WspushError(Exception):
    """The root of every error the function raises on purpose."""


class ConfigError(WspushError, ValueError):
    """The function's environment is missing or holds a wrong value; the message names the variable."""


class ProtocolError(WspushError):
    """A client's request is invalid; becomes exactly one error frame (`code`, `message`) to that client."""

    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class NonFiniteNumberError(ProtocolError, ValueError):
    """A frame holds `NaN`, `Infinity` or `-Infinity`, which JSON does not have."""

    def __init__(self, message: str) -> None:
        super().__init__(ErrorCode.INVALID_JSON, message)


class AuthError(WspushError):
    """A connect is refused; the message is safe to log (it never holds the token or a key)."""


class InvalidToken(AuthError):
    """The connect token does not verify: empty, malformed, expired, or signed by a key that is not the issuer's.

    `reason` says why in a few words (logged, never sent to the client).
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class InvalidClaims(AuthError, ValueError):
    """The token verifies, but its claims cannot name a connection (no `sub`, a bad `rooms` claim)."""


class JwksError(AuthError):
    """The issuer's signing keys cannot be had."""


class JwksUnavailable(JwksError):
    """Fetching or parsing the JWKS failed (or failed recently, and is not tried again yet)."""


class UnknownKey(JwksError):
    """The issuer's JWKS has no key of the token's `kid`."""


class StoreError(WspushError):
    """The connection store refused a request, or answered with something the contract does not allow."""


class PushFailed(WspushError):
    """A push from outside was not delivered; raised so that Lambda retries it and then dead-letters it."""


class DeliveryIncomplete(WspushError):
    """An asynchronous part could not post to some recipients nor hand them to a continuation (the continuation's
    invocation was refused, or the chain is too long); raised so that Lambda retries the part, which posts to those
    alone (`delivery.claims`)."""


class PartBusy(WspushError):
    """Another invocation still holds the part this one was to post, and this one's deadline is near; raised so that
    Lambda retries it later, when the holder has posted or ended."""


@dataclass(frozen=True)
class Answer:
    """What an error becomes for a client: an error frame's code and the status of the answer to API Gateway."""

    code: ErrorCode
    status: int


INTERNAL = Answer(ErrorCode.INTERNAL, 500)
ANSWERS: dict[type[Exception], Answer] = {
    ProtocolError: Answer(ErrorCode.INVALID_FIELD, 400),  # the error's own `code` goes in the frame
    AuthError: Answer(ErrorCode.UNAUTHORIZED, 401),
    ConfigError: INTERNAL,
    StoreError: INTERNAL,
    PushFailed: INTERNAL,
    DeliveryIncomplete: INTERNAL,
    PartBusy: INTERNAL,
}
"""The one table: every listed class and its subclasses answer so, unless a nearer class is listed."""


def answer_for(error: BaseException) -> Answer:
    """The answer of `error`'s nearest class in `ANSWERS` (a `ProtocolError` keeps its own code); else internal."""
    for cls in type(error).__mro__:
        answer = ANSWERS.get(cls)
        if answer is not None:
            if isinstance(error, ProtocolError):
                return Answer(error.code, answer.status)
            return answer
    return INTERNAL
