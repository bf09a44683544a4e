"""The wire protocol: error codes, frame builders and validation of client fields (limits: `limits`).

Pure data in, bytes or `ProtocolError` out: no I/O here, so every rule is testable on its own.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Mapping
from typing import Any

from lambda_src.errors import ErrorCode, NonFiniteNumberError, ProtocolError
from lambda_src.limits import MAX_MESSAGE_BYTES

MAX_NAME_CHARS = 64
MAX_CONNECTION_ID_CHARS = 128
ROOM_PATTERN = re.compile(r"[A-Za-z0-9_.-]{1,64}")
"""A room is also an S3 key segment: a dot-only name (`.`, `..`) is refused besides, see `validate_room`."""
DEFAULT_NAME = "anonymous"


def encode(frame: Mapping[str, Any]) -> bytes:
    """Compact UTF-8 JSON, the encoding of every frame the service sends: strict JSON or a `ValueError`.

    Never `NaN`/`Infinity` (`allow_nan=False`: they are not JSON and a browser's `JSON.parse` throws on them), and
    never a lone surrogate (strict UTF-8 raises `UnicodeEncodeError`, a `ValueError`).
    """
    return json.dumps(frame, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode("utf-8")


def error_frame(code: ErrorCode, message: str) -> bytes:
    return encode({"type": "error", "code": code.value, "error": message})


def whoami_frame(connection_id: str, name: str) -> bytes:
    return encode({"type": "whoami", "connectionId": connection_id, "name": name})


def room_frame(kind: str, room: str) -> bytes:
    """The acknowledgement of `join` ("joined") or `leave` ("left")."""
    return encode({"type": kind, "room": room})


def message_frame(
    *,
    kind: str,
    message: Any,
    sender_id: str,
    sender_name: str,
    room: str | None,
    sent_at_ms: int,
    message_id: str | None = None,
    sender_user_id: str | None = None,
) -> bytes:
    """A client's message as its recipients get it; `kind` is "message" (broadcast) or "direct" (send).

    `message_id` (a room's messages, see `message_ids`) travels as the field `id`; `sender_user_id` (the sender's
    token `sub`, with identity) as `from.userId`: the one field of `from` the issuer, not the sender, controls."""
    frame: dict[str, Any] = {"type": kind}
    if message_id is not None:
        frame["id"] = message_id
    frame |= {
        "message": message,
        "from": sender_json(sender_id, sender_name, sender_user_id),
    }
    if room is not None:
        frame["room"] = room
    frame["sentAt"] = sent_at_ms
    try:
        data = encode(frame)
    except RecursionError:
        # parse_body accepted the message, but framing nests it one level deeper: near Python's recursion
        # limit that level is one too many, and the error must reach the client as a frame, not a traceback.
        raise ProtocolError(ErrorCode.INVALID_FIELD, "field 'message' is nested too deeply") from None
    except UnicodeEncodeError:
        # The sender's name and room were checked; only the client's message can hold a lone surrogate here.
        raise ProtocolError(ErrorCode.INVALID_FIELD, f"field 'message' {LONE_SURROGATE_TEXT}") from None
    except ValueError:
        # `1e999` is JSON grammar, but parses to inf, which JSON cannot carry back out: a browser's JSON.parse throws
        # on the `Infinity` that Python would write. (NaN and Infinity themselves are refused by parse_body.)
        raise ProtocolError(
            ErrorCode.INVALID_JSON, "field 'message' holds a number out of range of a double (such as 1e999)"
        ) from None
    check_size(data)
    return data


def sender_json(connection_id: str, name: str, user_id: str | None) -> dict[str, str]:
    """Who sent a message or is present: `userId` only with an identity (and then always)."""
    sender = {"connectionId": connection_id, "name": name}
    if user_id is not None:
        sender["userId"] = user_id
    return sender


def check_size(data: bytes) -> None:
    if len(data) > MAX_MESSAGE_BYTES:
        raise ProtocolError(
            ErrorCode.MESSAGE_TOO_LARGE,
            f"the message is {len(data)} bytes once framed; the limit is {MAX_MESSAGE_BYTES}",
        )


def parse_body(body: str | None) -> dict[str, Any]:
    """The client's frame as a JSON object, or `ProtocolError(invalid_json)`."""
    if body is None:
        raise ProtocolError(ErrorCode.INVALID_JSON, "the message is not UTF-8 text")
    if body == "":
        raise ProtocolError(ErrorCode.INVALID_JSON, "the message is empty; send a JSON object with an action")
    try:
        size = len(body.encode("utf-8"))
    except UnicodeEncodeError:
        # A WebSocket text frame is UTF-8, which cannot hold a surrogate code point unescaped: only an event built
        # by hand can carry one.
        raise ProtocolError(ErrorCode.INVALID_JSON, "the message is not UTF-8 text") from None
    if size > MAX_MESSAGE_BYTES:
        raise ProtocolError(ErrorCode.MESSAGE_TOO_LARGE, f"the message is over {MAX_MESSAGE_BYTES} bytes")
    try:
        value = DECODER.decode(body)
    except NonFiniteNumberError as error:
        raise ProtocolError(ErrorCode.INVALID_JSON, f"the message is not valid JSON: {error}") from None
    except (ValueError, RecursionError):
        # ValueError covers malformed JSON and integers past Python's digit limit; RecursionError deep nesting.
        raise ProtocolError(ErrorCode.INVALID_JSON, "the message is not valid JSON") from None
    if not isinstance(value, dict):
        raise ProtocolError(ErrorCode.INVALID_JSON, "the message must be a JSON object with an action")
    return value


def _refuse_constant(name: str) -> Any:
    raise NonFiniteNumberError(f"{name} is not a JSON number")


DECODER = json.JSONDecoder(parse_constant=_refuse_constant)
"""Made once: `json.loads` with any option builds a decoder per call (4x the time of a small frame's parse).
Only `parse_constant`, which the C scanner calls for those three words alone; a `parse_float` hook would cost a
Python call per number, so `1e999` (which parses to inf) is refused where it would be written back: `message_frame`."""
LONE_SURROGATE_TEXT = "holds a lone surrogate (not Unicode text)"


def _holds_lone_surrogate(text: str) -> bool:
    # Checked on the fields a frame carries on, not on the whole body: strict UTF-8 fails exactly on surrogates.
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def require_message(body: Mapping[str, Any]) -> Any:
    if "message" not in body:
        raise ProtocolError(ErrorCode.INVALID_FIELD, "field 'message' is required")
    return body["message"]


def optional_bool(body: Mapping[str, Any], field: str, default: bool) -> bool:
    value = body.get(field, default)
    if not isinstance(value, bool):
        raise ProtocolError(ErrorCode.INVALID_FIELD, f"field '{field}' must be true or false")
    return value


def require_room(body: Mapping[str, Any]) -> str:
    if "room" not in body:
        raise ProtocolError(ErrorCode.INVALID_FIELD, "field 'room' is required")
    return validate_room(body["room"])


def optional_room(body: Mapping[str, Any]) -> str | None:
    return None if body.get("room") is None else validate_room(body["room"])


def validate_room(value: object) -> str:
    if isinstance(value, str) and _holds_lone_surrogate(value):
        raise ProtocolError(ErrorCode.INVALID_FIELD, f"field 'room' {LONE_SURROGATE_TEXT}")
    # The room is a segment of its membership keys, which travel in URL paths: `.` and `..` are the dot-segments an
    # HTTP layer may remove (RFC 3986 section 5.2.4), and tools that map keys to files (`aws s3 sync`) resolve them.
    if not isinstance(value, str) or not ROOM_PATTERN.fullmatch(value) or not value.strip("."):
        raise ProtocolError(
            ErrorCode.INVALID_ROOM, "a room is 1 to 64 characters of letters, digits, '_', '.' and '-', not only dots"
        )
    return value


def require_connection_id(body: Mapping[str, Any], field: str) -> str:
    value = body.get(field)
    if not isinstance(value, str) or not value or len(value) > MAX_CONNECTION_ID_CHARS:
        raise ProtocolError(ErrorCode.INVALID_FIELD, f"field '{field}' must be a connection id (a string)")
    if _holds_lone_surrogate(value):
        raise ProtocolError(ErrorCode.INVALID_FIELD, f"field '{field}' {LONE_SURROGATE_TEXT}")
    return value


NAME_REFUSED_CATEGORIES = frozenset({"Cc", "Cs", "Cf", "Zl", "Zp"})
"""Controls, surrogates, format characters (bidi overrides and isolates U+202A-U+202E and U+2066-U+2069, zero-width
spaces, the BOM, invisible tags), line and paragraph separators: what can hide, reorder or break the text around
a name wherever it is shown."""
NAME_ALLOWED_FORMAT_CHARS = frozenset({"\u200c", "\u200d"})
"""Zero-width non-joiner and joiner: spelling needs them in Persian and Indic scripts, and emoji sequences too."""


def validate_name(value: str | None) -> str:
    """The display name given on connect; `anonymous` when none was given."""
    if value is None or value == "":
        return DEFAULT_NAME
    if len(value) > MAX_NAME_CHARS:
        raise ProtocolError(ErrorCode.NAME_TOO_LONG, f"a name is at most {MAX_NAME_CHARS} characters")
    for char in value:
        category = unicodedata.category(char)
        if category in NAME_REFUSED_CATEGORIES and char not in NAME_ALLOWED_FORMAT_CHARS:
            what = "a lone surrogate" if category == "Cs" else f"U+{ord(char):04X}"
            raise ProtocolError(
                ErrorCode.INVALID_FIELD,
                f"a name may not hold control, format or line separator characters: it holds {what}",
            )
    return value
