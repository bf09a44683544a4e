"""Who a connection is, as the `$connect` authorizer established it, and which rooms that identity may use.

API Gateway keeps the authorizer's answer for the connection's whole life: `principalId` and every key of its
`context` arrive in each later event as `requestContext.authorizer`, with every value turned into a string.
So the context holds only strings, and the room patterns travel as one comma-separated string: a room name
never contains a comma (see `protocol.ROOM_PATTERN`), and an empty string means "no room at all", while an
absent key means the token carried no `rooms` claim (no restriction, as without identity).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from fnmatch import fnmatchcase

from lambda_src.errors import ErrorCode, InvalidClaims, ProtocolError
from lambda_src.protocol.frames import MAX_NAME_CHARS

PRINCIPAL_KEY = "principalId"
"""Where API Gateway puts the authorizer's `principalId` in `requestContext.authorizer`."""
NAME_KEY = "name"
"""Context key of the display name."""
ROOMS_KEY = "rooms"
"""Context key of the room patterns (comma-separated); absent when the token has no rooms claim."""
ROOMS_SEPARATOR = ","
ROOM_PATTERN_PATTERN = re.compile(r"[A-Za-z0-9_.*?\[\]!-]{1,64}")
"""A room pattern: a room name that may hold glob characters (`*`, `?`, `[...]`), as `fnmatch` reads them."""
MAX_ROOM_PATTERNS = 64


@dataclass(frozen=True)
class Identity:
    """The authenticated sender: `principal_id` is the token's `sub`; `rooms` None means any room."""

    principal_id: str
    name: str
    rooms: tuple[str, ...] | None = None

    def may_use(self, room: str) -> bool:
        return self.rooms is None or any(fnmatchcase(room, pattern) for pattern in self.rooms)

    def require_room(self, room: str) -> None:
        """Raise `ProtocolError(forbidden)` unless the identity's rooms claim allows `room`."""
        if not self.may_use(room):
            raise ProtocolError(ErrorCode.FORBIDDEN, f"your token does not allow room {room!r}")

    def to_context(self) -> dict[str, str]:
        """The authorizer's `context`: strings only, as API Gateway passes them on."""
        context = {NAME_KEY: self.name}
        if self.rooms is not None:
            context[ROOMS_KEY] = ROOMS_SEPARATOR.join(self.rooms)
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
    )


def from_claims(claims: Mapping[str, object], *, name_claim: str, rooms_claim: str) -> Identity:
    """The identity a verified token's claims describe; the name falls back to `sub`, cut to the name limit."""
    subject = claims.get("sub")
    if not isinstance(subject, str) or not subject:
        raise InvalidClaims("the token has no 'sub' claim")
    name = claims.get(name_claim)
    display = name if isinstance(name, str) and name.strip() else subject
    return Identity(
        principal_id=subject,
        name=display[:MAX_NAME_CHARS],
        rooms=None if rooms_claim not in claims else room_patterns(claims[rooms_claim]),
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
