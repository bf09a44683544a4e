"""The wire protocol: limits, error codes, frame builders and validation of client fields.

Pure data in, bytes or `ProtocolError` out: no I/O here, so every rule is testable on its own.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from enum import StrEnum
from typing import Any

MAX_MESSAGE_BYTES = 128 * 1024
"""API Gateway refuses a WebSocket message larger than this, in either direction."""
MAX_NAME_CHARS = 64
MAX_CONNECTION_ID_CHARS = 128
ROOM_PATTERN = re.compile(r"[A-Za-z0-9_.-]{1,64}")
DEFAULT_NAME = "anonymous"
ACTIONS = ("broadcast", "send", "whoami", "join", "leave")


class ErrorCode(StrEnum):
    """Stable machine-readable codes of error frames; clients may switch on them."""

    INVALID_JSON = "invalid_json"
    UNKNOWN_ACTION = "unknown_action"
    INVALID_FIELD = "invalid_field"
    MESSAGE_TOO_LARGE = "message_too_large"
    INVALID_ROOM = "invalid_room"
    NAME_TOO_LONG = "name_too_long"
    NOT_FOUND = "not_found"
    NOT_IN_ROOM = "not_in_room"
    DELIVERY_FAILED = "delivery_failed"
    UNAUTHORIZED = "unauthorized"
    FORBIDDEN = "forbidden"
    INTERNAL = "internal_error"


class ProtocolError(Exception):
    """A client's request is invalid; becomes exactly one error frame to that client."""

    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    def frame(self) -> bytes:
        return error_frame(self.code, self.message)


def encode(frame: Mapping[str, Any]) -> bytes:
    """Compact UTF-8 JSON, the encoding of every frame the service sends."""
    return json.dumps(frame, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def error_frame(code: ErrorCode, message: str) -> bytes:
    return encode({"type": "error", "code": code.value, "error": message})


def whoami_frame(connection_id: str, name: str) -> bytes:
    return encode({"type": "whoami", "connectionId": connection_id, "name": name})


def room_frame(kind: str, room: str) -> bytes:
    """The acknowledgement of `join` ("joined") or `leave` ("left")."""
    return encode({"type": kind, "room": room})


def message_frame(
    *, kind: str, message: Any, sender_id: str, sender_name: str, room: str | None, sent_at_ms: int
) -> bytes:
    """A client's message as its recipients get it; `kind` is "message" (broadcast) or "direct" (send)."""
    frame: dict[str, Any] = {
        "type": kind,
        "message": message,
        "from": {"connectionId": sender_id, "name": sender_name},
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
    check_size(data)
    return data


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
    if len(body.encode("utf-8", errors="surrogatepass")) > MAX_MESSAGE_BYTES:
        raise ProtocolError(ErrorCode.MESSAGE_TOO_LARGE, f"the message is over {MAX_MESSAGE_BYTES} bytes")
    try:
        value = json.loads(body)
    except (ValueError, RecursionError):
        # ValueError covers malformed JSON and integers past Python's digit limit; RecursionError deep nesting.
        raise ProtocolError(ErrorCode.INVALID_JSON, "the message is not valid JSON") from None
    if not isinstance(value, dict):
        raise ProtocolError(ErrorCode.INVALID_JSON, "the message must be a JSON object with an action")
    return value


def unknown_action_error(action: object) -> ProtocolError:
    valid = ", ".join(ACTIONS)
    if action is None:
        return ProtocolError(ErrorCode.UNKNOWN_ACTION, f"the message has no action; valid actions: {valid}")
    if not isinstance(action, str):
        return ProtocolError(ErrorCode.UNKNOWN_ACTION, f"the action must be a string; valid actions: {valid}")
    shown = action if len(action) <= 64 else action[:61] + "..."
    return ProtocolError(ErrorCode.UNKNOWN_ACTION, f"unknown action {shown!r}; valid actions: {valid}")


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
    if not isinstance(value, str) or not ROOM_PATTERN.fullmatch(value):
        raise ProtocolError(ErrorCode.INVALID_ROOM, "a room is 1 to 64 characters of letters, digits, '_', '.' and '-'")
    return value


def require_connection_id(body: Mapping[str, Any], field: str) -> str:
    value = body.get(field)
    if not isinstance(value, str) or not value or len(value) > MAX_CONNECTION_ID_CHARS:
        raise ProtocolError(ErrorCode.INVALID_FIELD, f"field '{field}' must be a connection id (a string)")
    return value


def validate_name(value: str | None) -> str:
    """The display name given on connect; `anonymous` when none was given."""
    if value is None or value == "":
        return DEFAULT_NAME
    if len(value) > MAX_NAME_CHARS:
        raise ProtocolError(ErrorCode.NAME_TOO_LONG, f"a name is at most {MAX_NAME_CHARS} characters")
    return value
