"""The wire protocol as the client sees it (docs/protocol.md): the actions, the frame types, and the typed
frames the client hands to the app. The server's route table (lambda_src/handlers/message.py) is the source of
the actions; a test in the project holds `ACTIONS` and `ERROR_CODES` equal to it."""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from ._ids import is_id


class Action(StrEnum):
    """Every client action, in the route table's order."""

    BROADCAST = "broadcast"
    SEND = "send"
    WHOAMI = "whoami"
    JOIN = "join"
    LEAVE = "leave"
    HISTORY = "history"
    MEMBERS = "members"


ACTIONS: tuple[str, ...] = tuple(Action)


class FrameType(StrEnum):
    """The `type` of every frame the service itself builds (a push from SNS is verbatim and has none of its own)."""

    MESSAGE = "message"
    DIRECT = "direct"
    PRESENCE = "presence"
    ERROR = "error"
    WHOAMI = "whoami"
    JOINED = "joined"
    LEFT = "left"
    HISTORY = "history"
    MEMBERS = "members"


ERROR_CODES: frozenset[str] = frozenset(
    {
        "invalid_json",
        "unknown_action",
        "invalid_field",
        "message_too_large",
        "invalid_room",
        "name_too_long",
        "too_many_rooms",
        "rate_limited",
        "not_found",
        "not_in_room",
        "delivery_failed",
        "unauthorized",
        "forbidden",
        "history_disabled",
        "internal_error",
    }
)
"""The `code` of error frames (docs/protocol.md's table); the client switches on `rate_limited` only."""
RATE_LIMITED = "rate_limited"


@dataclass(frozen=True)
class Sender:
    connection_id: str
    name: str


@dataclass(frozen=True)
class Message:
    """A `message` (a broadcast, to everyone or a room) or `direct` frame (a `send`). `id` is set for room
    messages; `recovered` is true when it came from history after a reconnect rather than live."""

    message: Any
    sender: Sender
    sent_at_ms: int
    room: str | None = None
    id: str | None = None
    direct: bool = False
    recovered: bool = False


@dataclass(frozen=True)
class Push:
    """A frame that is not one of the service's own: a push from outside (SNS), verbatim. `body` is its JSON
    (None when it is not JSON: then only `text` has it). From history, `id` and `room` are known too."""

    text: str
    body: Any
    id: str | None = None
    room: str | None = None
    recovered: bool = False


@dataclass(frozen=True)
class Member:
    connection_id: str
    name: str
    joined_at_ms: int | None = None


@dataclass(frozen=True)
class Presence:
    """Someone joined or left a room (`member` is None above the server's `PRESENCE_MAX_MEMBERS`)."""

    room: str
    event: str
    count: int
    member: Member | None = None


@dataclass(frozen=True)
class ErrorFrame:
    """An error frame no request of the client waited for (the reply to a `broadcast` or `send`, which have no
    positive reply, or to a frame sent some other way)."""

    code: str
    error: str


@dataclass(frozen=True)
class RecoveryIncomplete:
    """After a reconnect, the room's history no longer held the last message this client saw (trimmed by length
    or age, or reset): messages between `last_id` and the first recovered one may be lost. Reload the room's
    state. `reason` is `"trimmed"`, `"history_disabled"`, `"too_large"` (an entry the server omitted) or
    `"error"`."""

    room: str
    last_id: str | None
    reason: str
    first_id: str | None = None


@dataclass(frozen=True)
class Whoami:
    connection_id: str
    name: str


@dataclass(frozen=True)
class Joined:
    room: str


@dataclass(frozen=True)
class Left:
    room: str


@dataclass(frozen=True)
class HistoryEntry:
    """One kept message: `frame` (its JSON as delivered), `text` (a push that was not JSON) or `omitted`."""

    id: str
    frame: Any = None
    text: str | None = None
    omitted: str | None = None


@dataclass(frozen=True)
class HistoryPage:
    room: str
    messages: tuple[HistoryEntry, ...]
    next: str | None


@dataclass(frozen=True)
class MembersPage:
    room: str
    members: tuple[Member, ...]
    next: str | None


Incoming = Message | Push | Presence | ErrorFrame | RecoveryIncomplete
"""What the app receives: the frames' iterator yields these, and `on(kind, callback)` takes these kinds."""
Reply = Whoami | Joined | Left | HistoryPage | MembersPage | ErrorFrame
REPLY_TYPES = (Whoami, Joined, Left, HistoryPage, MembersPage)
"""The frames that answer a request (besides an error frame)."""


def encode(frame: Any) -> str:
    # allow_nan=False: the server refuses NaN and Infinity (strict JSON), so the client never sends them.
    return json.dumps(frame, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def _str(value: object, default: str = "") -> str:
    return value if isinstance(value, str) else default


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _member(value: object) -> Member | None:
    if not isinstance(value, dict):
        return None
    return Member(_str(value.get("connectionId")), _str(value.get("name")), _int(value.get("joinedAt")))


def message_of(frame: dict[str, Any], *, recovered: bool = False) -> Message:
    sender = frame.get("from") if isinstance(frame.get("from"), dict) else {}
    assert isinstance(sender, dict)
    message_id = frame.get("id")
    return Message(
        message=frame.get("message"),
        sender=Sender(_str(sender.get("connectionId")), _str(sender.get("name"))),
        sent_at_ms=_int(frame.get("sentAt")) or 0,
        room=frame.get("room") if isinstance(frame.get("room"), str) else None,
        id=message_id if is_id(message_id) else None,
        direct=frame.get("type") == FrameType.DIRECT,
        recovered=recovered,
    )


def parse(text: str) -> Incoming | Reply:
    """The typed frame of a text frame the server sent; anything not the service's own shape is a `Push`."""
    try:
        value = json.loads(text)
    except ValueError:
        return Push(text=text, body=None)
    if not isinstance(value, dict):
        return Push(text=text, body=value)
    kind = value.get("type")
    room = _str(value.get("room"))
    next_cursor = value.get("next") if isinstance(value.get("next"), str) else None
    if kind in (FrameType.MESSAGE, FrameType.DIRECT) and isinstance(value.get("from"), dict):
        return message_of(value)
    if kind == FrameType.PRESENCE and room:
        return Presence(room, _str(value.get("event")), _int(value.get("count")) or 0, _member(value.get("member")))
    if kind == FrameType.ERROR and isinstance(value.get("code"), str):
        return ErrorFrame(value["code"], _str(value.get("error")))
    if kind == FrameType.WHOAMI and isinstance(value.get("connectionId"), str):
        return Whoami(value["connectionId"], _str(value.get("name")))
    if kind == FrameType.JOINED and room:
        return Joined(room)
    if kind == FrameType.LEFT and room:
        return Left(room)
    if kind == FrameType.HISTORY and room and isinstance(value.get("messages"), list):
        entries = tuple(
            HistoryEntry(
                id=entry["id"],
                frame=entry.get("frame"),
                text=entry.get("text") if isinstance(entry.get("text"), str) else None,
                omitted=entry.get("omitted") if isinstance(entry.get("omitted"), str) else None,
            )
            for entry in value["messages"]
            if isinstance(entry, dict) and is_id(entry.get("id"))
        )
        return HistoryPage(room, entries, next_cursor)
    if kind == FrameType.MEMBERS and room and isinstance(value.get("members"), list):
        members = tuple(m for m in (_member(item) for item in value["members"]) if m is not None)
        return MembersPage(room, members, next_cursor)
    return Push(text=text, body=value)


def entry_incoming(room: str, entry: HistoryEntry) -> Message | Push | None:
    """What a recovered history entry delivers: the frame it was (a message, or a push with its id and room)."""
    frame = entry.frame
    if isinstance(frame, dict) and frame.get("type") == FrameType.MESSAGE and isinstance(frame.get("from"), dict):
        return message_of(frame, recovered=True)
    if entry.text is not None:
        return Push(text=entry.text, body=None, id=entry.id, room=room, recovered=True)
    if entry.omitted is not None:
        return None
    return Push(text=encode(frame) if frame is not None else "null", body=frame, id=entry.id, room=room, recovered=True)
