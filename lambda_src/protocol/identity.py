"""Who a connection is, as the `$connect` authorizer established it, and which rooms that identity may use.

API Gateway keeps the authorizer's answer for the connection's whole life: `principalId` and every key of its
`context` arrive in each later event as `requestContext.authorizer`, with every value turned into a string.
So the context holds only strings, and the room patterns travel as one comma-separated string: a room name
never contains a comma (see `protocol.ROOM_PATTERN`), and an empty string means "no room at all", while an
absent key means the token carried no `rooms` claim (no restriction, as without identity).

One name rule holds for every name shown to other clients: the token's name claim passes `frames.validate_name`,
as `?name=` does. A name that breaks it cannot be refused with its reason by the authorizer (API Gateway answers
a Deny with a bare 403), so the authorizer allows the connect with the refusal in its context instead of a name,
and `$connect` refuses it with the same status and error frame as a bad `?name=`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from fnmatch import fnmatchcase

from lambda_src.errors import ErrorCode, InvalidClaims, ProtocolError
from lambda_src.protocol.frames import MAX_NAME_CHARS, validate_name

PRINCIPAL_KEY = "principalId"
"""Where API Gateway puts the authorizer's `principalId` in `requestContext.authorizer`."""
NAME_KEY = "name"
"""Context key of the display name."""
ROOMS_KEY = "rooms"
"""Context key of the room patterns (comma-separated); absent when the token has no rooms claim."""
NAME_REFUSED_KEY = "nameRefused"
"""Context key, instead of `name`, when the name claim breaks the name rule: the error code `$connect` refuses with."""
NAME_REFUSED_REASON_KEY = "nameRefusedReason"
"""Context key of that refusal's one-line reason (ASCII: `validate_name` names a refused character as U+XXXX)."""
SUBJECT_PATTERN = re.compile(r"[\x20-\x7e]{1,255}")
"""A `sub`: OpenID Connect Core 1.0 section 2 says it "MUST NOT exceed 255 ASCII characters"; it is shown to
every recipient as the sender's user id, so control characters are refused too."""
BROADCAST_CLAIM = "broadcast"
"""A token's grant of a `broadcast` without `room` (to everyone): true or false. Without it, granted exactly when the
token has no rooms claim: a token limited to some rooms must not reach every connection, those rooms' members
included, by leaving out `room`."""
SEND_CLAIM = "send"
"""A token's grant of `send` (a direct message to any other connection): true or false; the same default.
Each grant claim is also the authorizer's context key of its value, "true" or "false", absent without the claim."""
ROOMS_SEPARATOR = ","
ROOM_PATTERN_PATTERN = re.compile(r"[A-Za-z0-9_.*?\[\]!-]{1,64}")
"""A room pattern: a room name that may hold glob characters (`*`, `?`, `[...]`), as `fnmatch` reads them."""
MAX_ROOM_PATTERNS = 64


@dataclass(frozen=True)
class NameRefusal:
    """Why the token's name claim may not be shown: the error `$connect` answers with."""

    code: ErrorCode
    reason: str


@dataclass(frozen=True)
class Identity:
    """The authenticated sender: `principal_id` is the token's `sub`; `rooms` None means any room.

    `name_refusal` is set when the name claim breaks the name rule: `$connect` then refuses the connection.
    `broadcast` and `send` are the token's grant claims, None when it had none (see `BROADCAST_CLAIM`)."""

    principal_id: str
    name: str
    rooms: tuple[str, ...] | None = None
    name_refusal: NameRefusal | None = None
    broadcast: bool | None = None
    send: bool | None = None

    @property
    def unrestricted(self) -> bool:
        """No rooms claim: what a grant claim left out defaults to."""
        return self.rooms is None

    def require_broadcast_to_everyone(self) -> None:
        """Raise `ProtocolError(forbidden)` unless the token grants a `broadcast` without `room`."""
        if not (self.unrestricted if self.broadcast is None else self.broadcast):
            raise ProtocolError(ErrorCode.FORBIDDEN, "your token does not allow a broadcast to everyone; name a room")

    def require_send(self) -> None:
        """Raise `ProtocolError(forbidden)` unless the token grants `send`."""
        if not (self.unrestricted if self.send is None else self.send):
            raise ProtocolError(ErrorCode.FORBIDDEN, "your token does not allow direct messages (send)")

    def may_use(self, room: str) -> bool:
        return self.rooms is None or any(fnmatchcase(room, pattern) for pattern in self.rooms)

    def require_room(self, room: str) -> None:
        """Raise `ProtocolError(forbidden)` unless the identity's rooms claim allows `room`."""
        if not self.may_use(room):
            raise ProtocolError(ErrorCode.FORBIDDEN, f"your token does not allow room {room!r}")

    def to_context(self) -> dict[str, str]:
        """The authorizer's `context`: strings only, as API Gateway passes them on."""
        if self.name_refusal is None:
            context = {NAME_KEY: self.name}
        else:
            refusal = self.name_refusal
            context = {NAME_REFUSED_KEY: refusal.code.value, NAME_REFUSED_REASON_KEY: refusal.reason}
        if self.rooms is not None:
            context[ROOMS_KEY] = ROOMS_SEPARATOR.join(self.rooms)
        for key, grant in ((BROADCAST_CLAIM, self.broadcast), (SEND_CLAIM, self.send)):
            if grant is not None:
                context[key] = "true" if grant else "false"
        return context


def from_authorizer(value: object) -> Identity | None:
    """The identity in an event's `requestContext.authorizer`, or None when the connection has none."""
    if not isinstance(value, Mapping):
        return None
    principal = value.get(PRINCIPAL_KEY)
    if not isinstance(principal, str) or not principal:
        return None
    name = value.get(NAME_KEY)
    rooms = value.get(ROOMS_KEY)
    return Identity(
        principal_id=principal,
        name=name if isinstance(name, str) and name else principal[:MAX_NAME_CHARS],
        rooms=None if not isinstance(rooms, str) else tuple(p for p in rooms.split(ROOMS_SEPARATOR) if p),
        name_refusal=_name_refusal(value),
        broadcast=_grant_of_context(value.get(BROADCAST_CLAIM)),
        send=_grant_of_context(value.get(SEND_CLAIM)),
    )


def _grant_of_context(value: object) -> bool | None:
    # Absent: the token had no such claim. Anything but "true" is no grant: only our authorizer writes these keys.
    return None if value is None else value == "true"


def _grant_claim(claims: Mapping[str, object], claim: str) -> bool | None:
    value = claims.get(claim)
    if value is None:
        return None
    if not isinstance(value, bool):
        raise InvalidClaims(f"the {claim!r} claim must be true or false")
    return value


def _name_refusal(context: Mapping[object, object]) -> NameRefusal | None:
    code = context.get(NAME_REFUSED_KEY)
    if code is None:
        return None
    reason = context.get(NAME_REFUSED_REASON_KEY)
    known = {error.value: error for error in ErrorCode}
    # Only our own authorizer writes these keys; an unknown code still means "refuse", never "admit".
    return NameRefusal(
        known.get(str(code), ErrorCode.INVALID_FIELD),
        reason if isinstance(reason, str) else "the name claim is refused",
    )


def from_claims(claims: Mapping[str, object], *, name_claim: str, rooms_claim: str) -> Identity:
    """The identity a verified token's claims describe.

    The name claim passes the name rule or the identity carries its refusal; without a name claim (or a blank one)
    the name is `sub`, cut to the name limit (the issuer chose it as an id, not as a name to show)."""
    subject = claims.get("sub")
    if not isinstance(subject, str) or not subject:
        raise InvalidClaims("the token has no 'sub' claim")
    if not SUBJECT_PATTERN.fullmatch(subject):
        raise InvalidClaims("the token's 'sub' claim must be 1 to 255 printable ASCII characters")
    name = claims.get(name_claim)
    display, refusal = subject[:MAX_NAME_CHARS], None
    if isinstance(name, str) and name.strip():
        try:
            display = validate_name(name)
        except ProtocolError as error:
            refusal = NameRefusal(error.code, error.message)
    return Identity(
        principal_id=subject,
        name=display,
        rooms=None if rooms_claim not in claims else room_patterns(claims[rooms_claim]),
        name_refusal=refusal,
        broadcast=_grant_claim(claims, BROADCAST_CLAIM),
        send=_grant_claim(claims, SEND_CLAIM),
    )


def room_patterns(value: object) -> tuple[str, ...]:
    """A rooms claim: a list of room patterns (or one string of them, comma-separated)."""
    items: Iterable[object]
    if isinstance(value, str):
        items = [part.strip() for part in value.split(ROOMS_SEPARATOR) if part.strip()]
    elif isinstance(value, list):
        items = value
    else:
        raise InvalidClaims("the rooms claim must be a list of room patterns")
    patterns: list[str] = []
    for pattern in items:
        if not isinstance(pattern, str) or not ROOM_PATTERN_PATTERN.fullmatch(pattern):
            raise InvalidClaims("a room pattern is 1 to 64 characters of room-name characters and '*', '?', '[]'")
        patterns.append(pattern)
    if len(patterns) > MAX_ROOM_PATTERNS:
        raise InvalidClaims(f"the rooms claim holds more than {MAX_ROOM_PATTERNS} patterns")
    return tuple(patterns)
