"""Message ids: sortable, unique across concurrent invocations, and their order is the order of history.

An id is a ULID (https://github.com/ulid/spec): 26 characters of Crockford's base32, the first 10 the
millisecond it was made at (48 bits), the last 16 randomness (80 bits). The alphabet is in ASCII order, so ids
sort as text in time order, and text order is what S3 lists keys in (UTF-8 binary order) and what DynamoDB
sorts a string sort key by: one comparison, the same in the function, in the stores and in a client.

Ordering across invocations: ids made in different milliseconds order by their time; two made in the same
millisecond by different invocations order by their random part, arbitrarily but the same for every reader.
Within one execution environment ids are strictly increasing (the same millisecond increments the random part,
as the spec's monotonic generator does). "In order" therefore means: in the order of the ids, which is the
order in which the messages reached the function, to the millisecond and up to the clock skew between
Lambda's hosts (kept small by NTP; AWS does not state a bound).
"""

from __future__ import annotations

import re
import secrets
import threading

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
"""Crockford's base32 (no I, L, O, U), in ASCII order."""
TIME_CHARS = 10
RANDOM_CHARS = 16
ID_CHARS = TIME_CHARS + RANDOM_CHARS
RANDOM_BITS = 80
MAX_TIME_MS = 2**48 - 1
ID_PATTERN = re.compile(rf"[{ALPHABET}]{{{ID_CHARS}}}")
"""An id as a client may send it back (`after`): exactly 26 characters of the alphabet, upper case."""


def _encode(value: int, chars: int) -> str:
    out = []
    for _ in range(chars):
        value, digit = divmod(value, 32)
        out.append(ALPHABET[digit])
    return "".join(reversed(out))


def time_prefix(ms: int) -> str:
    """The first 10 characters of every id made at `ms`: it sorts after every id of an earlier millisecond and
    before every id of `ms` or later, so it is the exclusive lower bound of "made at `ms` or later"."""
    return _encode(min(max(ms, 0), MAX_TIME_MS), TIME_CHARS)


class IdGenerator:
    """Ids strictly increasing within one generator: the same millisecond (or a clock that stepped back) keeps the
    last time and counts the random part up, as the spec's monotonic generator does."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last_ms = -1
        self._last_random = 0

    def new(self, now_ms: int) -> str:
        """A fresh id for a message that arrived at `now_ms`; greater than every id this generator made before."""
        with self._lock:
            ms = min(max(now_ms, 0), MAX_TIME_MS)
            if ms <= self._last_ms:
                ms = self._last_ms
                random_part = self._last_random + 1
                if random_part >= 2**RANDOM_BITS:
                    ms, random_part = ms + 1, secrets.randbits(RANDOM_BITS - 1)
            else:
                # One bit of headroom keeps increments within 80 bits for any burst one process can make.
                random_part = secrets.randbits(RANDOM_BITS - 1)
            self._last_ms, self._last_random = ms, random_part
        return make_id(ms, random_part)


_generator = IdGenerator()
new_id = _generator.new
"""The process's generator: ids of one execution environment strictly increase."""


def make_id(ms: int, random_part: int) -> str:
    """The id of these two parts (`new_id` picks them; tests pick their own)."""
    return _encode(ms, TIME_CHARS) + _encode(random_part, RANDOM_CHARS)


def time_ms(message_id: str) -> int:
    """The millisecond an id was made at."""
    value = 0
    for char in message_id[:TIME_CHARS]:
        value = value * 32 + ALPHABET.index(char)
    return value


def is_id(value: object) -> bool:
    return isinstance(value, str) and ID_PATTERN.fullmatch(value) is not None
