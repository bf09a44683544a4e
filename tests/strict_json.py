"""The one JSON loader every test client uses for what the service sends: as strict as a browser's `JSON.parse`
should be, and stricter than Python's `json.loads`.

Python's `json.loads` accepts `NaN`, `Infinity` and `-Infinity` (not JSON: RFC 8259 section 6, and `JSON.parse`
throws on them), turns `1e999` into `inf`, guesses UTF-16/32 from raw bytes and keeps a lone surrogate escape
(`"\\ud800"`, which no UTF-8 text can hold: RFC 8259 section 8.2 calls such strings unpredictable, I-JSON,
RFC 7493 section 2.1, forbids them). A test that parsed frames with it could never notice the service sending
any of these. `loads` refuses each with `NotStrictJson`.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

_LONE_SURROGATE = re.compile("[\ud800-\udfff]")
"""A decoded str holds a surrogate code point only if the JSON text had an unpaired `\\uD8xx`-`\\uDFxx` escape."""


class NotStrictJson(ValueError):
    """The text is not strict JSON (a non-finite number, a lone surrogate, a duplicate key, bytes not UTF-8)."""


def loads(data: str | bytes | bytearray) -> Any:
    """Parse `data` as strict JSON; raises `NotStrictJson` where `json.loads` would have been lenient."""
    if isinstance(data, bytes | bytearray):
        try:
            text = bytes(data).decode("utf-8")
        except UnicodeDecodeError as error:
            raise NotStrictJson(f"not UTF-8: {error}") from None
    else:
        text = data
    value = json.loads(
        text,
        parse_constant=_refuse_constant,
        parse_float=_finite_float,
        object_pairs_hook=_unique_keys,
    )
    _refuse_lone_surrogates(value)
    return value


def frame_or_text(data: str | bytes) -> Any:
    """A frame as its JSON value; text that is not JSON at all (a verbatim push) as that text.

    Text that only lenient parsing would take (`NaN`, a lone surrogate escape, ...) raises `NotStrictJson`:
    that is the service sending invalid JSON, never a plain-text push to be compared as such.
    """
    try:
        return loads(data)
    except NotStrictJson:
        raise
    except (ValueError, RecursionError):
        return data.decode("utf-8", errors="replace") if isinstance(data, bytes) else data


def _refuse_constant(name: str) -> Any:
    raise NotStrictJson(f"{name} is not a JSON number")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise NotStrictJson(f"{text[:20]} is out of range of a double (a browser reads it as Infinity)")
    return value


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        raise NotStrictJson("an object has a duplicate key")
    return result


def _refuse_lone_surrogates(value: Any) -> None:
    # An explicit stack, not recursion: frames may nest nearly as deep as Python's recursion limit.
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            if _LONE_SURROGATE.search(item):
                raise NotStrictJson("a string holds a lone surrogate")
        elif isinstance(item, dict):
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
