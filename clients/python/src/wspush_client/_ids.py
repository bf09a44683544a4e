"""Message ids as the server makes them (ULIDs: 26 characters of Crockford base32, the first 10 the millisecond),
read by the client only to build a history cursor from a time and to read an id's time."""

from __future__ import annotations

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
TIME_CHARS = 10
ID_CHARS = 26
MAX_TIME_MS = 2**48 - 1


def is_id(value: object) -> bool:
    return isinstance(value, str) and len(value) == ID_CHARS and all(char in ALPHABET for char in value)


def time_ms(message_id: str) -> int:
    """The millisecond an id was made at (the server's clock)."""
    value = 0
    for char in message_id[:TIME_CHARS]:
        value = value * 32 + ALPHABET.index(char)
    return value


def id_at(ms: int) -> str:
    """The smallest id of millisecond `ms`: as `after`, history answers every message of `ms` or later."""
    value = min(max(ms, 0), MAX_TIME_MS)
    chars = []
    for _ in range(TIME_CHARS):
        value, digit = divmod(value, 32)
        chars.append(ALPHABET[digit])
    return "".join(reversed(chars)) + ALPHABET[0] * (ID_CHARS - TIME_CHARS)
