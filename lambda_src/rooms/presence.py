"""Presence: who is in a room (`members`, a page at a time), and a frame to the members when someone joins, leaves
or disconnects.

A presence frame is `{"type":"presence","room","event":"join"|"leave","member":{...},"count"}`. Above
`PRESENCE_MAX_MEMBERS` members the frame carries only the count: every join is a fan-out to the whole room, so a
room of n members costs n**2 presence posts to fill, and the member objects are most of each post. (Pusher caps
presence channels at 100 members for the same reason.) Presence frames go to the other members only, never
into history. A connection that the fan-out finds gone (410) is pruned without a frame: its `$disconnect`
announces it.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Any

from lambda_src.delivery.deliver import deliver
from lambda_src.delivery.plan import Delivery
from lambda_src.observability import metrics
from lambda_src.protocol.frames import encode, require_connection_id, sender_json
from lambda_src.services import Services
from lambda_src.store.contract import Member

MEMBERS_PAGE_LIMIT = 100
"""The most members one `members` reply lists (and the cap of its `limit`)."""


class Event(StrEnum):
    JOIN = "join"
    LEAVE = "leave"


def member_json(member: Member) -> dict[str, Any]:
    return sender_json(member.connection_id, member.name, member.user_id) | {"joinedAt": member.joined_at_ms}


def require_cursor(body: Mapping[str, Any]) -> str | None:
    """The `after` of a `members` request: a connection id (the previous page's `next`), checked as `send`'s `to`."""
    return None if body.get("after") is None else require_connection_id(body, "after")


def members_frame(room: str, members: list[Member], next_cursor: str | None) -> bytes:
    return encode({"type": "members", "room": room, "members": [member_json(m) for m in members], "next": next_cursor})


def others(room: str, connection_id: str, services: Services) -> list[str]:
    """The room's members but `connection_id`: whom a presence frame about it goes to."""
    return [cid for cid in dict.fromkeys(services.store.room_members(room)) if cid != connection_id]


def announce(room: str, event: Event, member: Member, services: Services, ids: list[str] | None = None) -> None:
    """Tell the room's other members (`ids`, when the caller has listed them with `others`) that `member` joined or
    left; only the count above the size cap."""
    if ids is None:
        ids = others(room, member.connection_id, services)
    count = len(ids) + (1 if event is Event.JOIN else 0)
    if not ids:
        return
    frame: dict[str, Any] = {"type": "presence", "room": room, "event": event.value}
    if count <= services.config.presence_max_members:
        shown = member_json(member)
        if event is Event.LEAVE:
            del shown["joinedAt"]  # a leave is known by id and name; its join time would cost a read
        frame["member"] = shown
    frame["count"] = count
    deliver(ids, Delivery(encode(frame), room, metrics.Source.PRESENCE), services)
