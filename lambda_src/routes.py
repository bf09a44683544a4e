"""The route table: one small function per client action, registered by its route key.

A route receives the parsed request, the frame's JSON object and the services; it replies or fans out, and
raises `ProtocolError` for bad input (the handler turns that into one error frame to the sender).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .events import MessageRequest
from .fanout import Outcome, post_one
from .protocol import (
    DEFAULT_NAME,
    ErrorCode,
    ProtocolError,
    message_frame,
    optional_bool,
    optional_room,
    require_connection_id,
    require_message,
    require_room,
    room_frame,
    whoami_frame,
)
from .services import Services
from .shards import deliver
from .store import Connection

Route = Callable[[MessageRequest, dict[str, Any], Services], None]
ROUTES: dict[str, Route] = {}


def route(key: str) -> Callable[[Route], Route]:
    def register(function: Route) -> Route:
        ROUTES[key] = function
        return function

    return register


def reply(request: MessageRequest, data: bytes, services: Services) -> None:
    """Send a frame back to the sender (a reply to a gone sender is dropped; it cannot be read anyway)."""
    post_one(connection_id=request.connection_id, data=data, poster=services.poster, store=services.store)


def _sender(request: MessageRequest, services: Services) -> Connection:
    stored = services.store.get(request.connection_id)
    if stored is not None:
        return stored
    # The record can be missing (expired by the bucket's lifecycle rule); the sender still may speak.
    return Connection(request.connection_id, DEFAULT_NAME, request.received_at_ms)


def _speaker(request: MessageRequest, services: Services) -> Connection:
    """The sender as recipients see it: with an identity the event itself names it, without a store read."""
    if request.identity is not None:
        return Connection(request.connection_id, request.identity.name, request.received_at_ms)
    return _sender(request, services)


@route("broadcast")
def broadcast(request: MessageRequest, body: dict[str, Any], services: Services) -> None:
    message = require_message(body)
    room = optional_room(body)
    echo = optional_bool(body, "echo", default=True)
    if room is not None and request.identity is not None:
        request.identity.require_room(room)
    sender = _speaker(request, services)
    data = message_frame(
        kind="message",
        message=message,
        sender_id=sender.connection_id,
        sender_name=sender.name,
        room=room,
        sent_at_ms=services.clock_ms(),
    )
    recipients = services.store.room_members(room) if room else services.store.connection_ids()
    if not echo:
        recipients = (cid for cid in recipients if cid != request.connection_id)
    deliver(connection_ids=recipients, data=data, room=room, services=services)


@route("send")
def send(request: MessageRequest, body: dict[str, Any], services: Services) -> None:
    target = require_connection_id(body, "to")
    message = require_message(body)
    if services.store.get(target) is None:
        raise ProtocolError(ErrorCode.NOT_FOUND, f"no connection {target!r}")
    sender = _speaker(request, services)
    data = message_frame(
        kind="direct",
        message=message,
        sender_id=sender.connection_id,
        sender_name=sender.name,
        room=None,
        sent_at_ms=services.clock_ms(),
    )
    result = post_one(connection_id=target, data=data, poster=services.poster, store=services.store)
    if result.outcome is Outcome.GONE:
        raise ProtocolError(ErrorCode.NOT_FOUND, f"connection {target!r} has disconnected")
    if result.outcome is Outcome.FAILED:
        raise ProtocolError(ErrorCode.DELIVERY_FAILED, f"could not deliver to {target!r} ({result.error})")
    services.logger.info("direct", extra={"target": target})


@route("whoami")
def whoami(request: MessageRequest, body: dict[str, Any], services: Services) -> None:
    sender = _speaker(request, services)
    reply(request, whoami_frame(sender.connection_id, sender.name), services)


@route("join")
def join(request: MessageRequest, body: dict[str, Any], services: Services) -> None:
    room = require_room(body)
    if request.identity is not None:
        request.identity.require_room(room)
    services.store.join(_sender(request, services), room)
    reply(request, room_frame("joined", room), services)


@route("leave")
def leave(request: MessageRequest, body: dict[str, Any], services: Services) -> None:
    room = require_room(body)
    sender = _sender(request, services)
    if room not in sender.rooms:
        raise ProtocolError(ErrorCode.NOT_IN_ROOM, f"you are not in room {room!r}")
    services.store.leave(sender, room)
    reply(request, room_frame("left", room), services)
