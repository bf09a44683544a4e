"""The route table: one small function per client action, registered by its route key, and its resolver.

A route receives the parsed request, the frame's JSON object and the services; it replies or fans out, and
raises `ProtocolError` for bad input, which `on_message` turns into one error frame to the sender.

This table is the one source of the API's route keys (`ROUTE_KEYS`): the local stack takes them from here, and
a test holds `deployment/locals.tf` equal to them. Adding a route means a function here and a line in the docs.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from lambda_src.aws.posting import Outcome
from lambda_src.delivery import budget
from lambda_src.delivery.deliver import deliver
from lambda_src.delivery.fanout import post_one
from lambda_src.delivery.plan import Delivery
from lambda_src.delivery.segments import deliver_to_everyone
from lambda_src.errors import ErrorCode, ProtocolError
from lambda_src.observability import metrics
from lambda_src.protocol.events import MessageRequest
from lambda_src.protocol.frames import (
    DEFAULT_NAME,
    error_frame,
    message_frame,
    optional_bool,
    optional_room,
    parse_body,
    require_connection_id,
    require_message,
    require_room,
    room_frame,
    whoami_frame,
)
from lambda_src.protocol.message_ids import new_id
from lambda_src.rooms import history, presence
from lambda_src.services import Services
from lambda_src.store.contract import Connection, Member

Route = Callable[[MessageRequest, dict[str, Any], Services], None]
ROUTES: dict[str, Route] = {}
"""Action -> route; filled by `@route` below, in the order the docs list the actions."""
CONNECT_ROUTE = "$connect"
DISCONNECT_ROUTE = "$disconnect"
DEFAULT_ROUTE = "$default"
"""Where API Gateway sends a message whose action matches no route; here it picks the route from the body."""
ROUTE_SELECTION_EXPRESSION = "$request.body.action"
ACTION_FIELD = "action"
"""The body field that the route selection expression names."""


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


def _user_id(request: MessageRequest) -> str | None:
    """The sender's user id (its token's `sub`), which recipients can trust: None without identity."""
    return None if request.identity is None else request.identity.principal_id


@route("broadcast")
def broadcast(request: MessageRequest, body: dict[str, Any], services: Services) -> None:
    message = require_message(body)
    room = optional_room(body)
    echo = optional_bool(body, "echo", default=True)
    if request.identity is not None:
        if room is None:
            request.identity.require_broadcast_to_everyone()
        else:
            request.identity.require_room(room)
    sender = _speaker(request, services)
    sent_at_ms = services.clock_ms()
    # A room's message gets its id, and is in the room's history before anyone can have received it.
    message_id = new_id(sent_at_ms) if room is not None else None
    data = message_frame(
        kind="message",
        message=message,
        sender_id=sender.connection_id,
        sender_name=sender.name,
        room=room,
        sent_at_ms=sent_at_ms,
        message_id=message_id,
        sender_user_id=_user_id(request),
    )
    exclude = None if echo else request.connection_id
    if room is None:
        deliver_to_everyone(
            data=data,
            services=services,
            exclude=exclude,
            source=metrics.Source.BROADCAST,
            admit=lambda posts: budget.spend(request.connection_id, request.identity, posts, services),
        )
        return
    # Listed before anything is posted or kept: the budget needs the count, and a refused message is in no history.
    recipients = [cid for cid in dict.fromkeys(services.store.room_members(room)) if cid != exclude]
    budget.spend(request.connection_id, request.identity, len(recipients), services)
    if message_id is not None:
        history.keep(room, message_id, data, services)
    deliver(recipients, Delivery(data, room, metrics.Source.BROADCAST), services)


@route("send")
def send(request: MessageRequest, body: dict[str, Any], services: Services) -> None:
    target = require_connection_id(body, "to")
    message = require_message(body)
    if request.identity is not None:
        request.identity.require_send()
    if services.store.get(target) is None:
        raise ProtocolError(ErrorCode.NOT_FOUND, f"no connection {target!r}")
    budget.spend(request.connection_id, request.identity, 1, services)
    sender = _speaker(request, services)
    data = message_frame(
        kind="direct",
        message=message,
        sender_id=sender.connection_id,
        sender_name=sender.name,
        room=None,
        sent_at_ms=services.clock_ms(),
        sender_user_id=_user_id(request),
    )
    started = time.perf_counter()
    result = post_one(connection_id=target, data=data, poster=services.poster, store=services.store)
    metrics.fanout(
        metrics.Source.DIRECT,
        recipients=1,
        delivered=int(result.outcome is Outcome.DELIVERED),
        gone=int(result.outcome is Outcome.GONE),
        failed=int(result.outcome is Outcome.FAILED),
        ms=round((time.perf_counter() - started) * 1000),
    )
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
    sender = _sender(request, services)
    if request.identity is not None:
        request.identity.require_room(room)
    limit = services.config.max_rooms_per_connection
    if room not in sender.rooms and len(sender.rooms) >= limit:
        raise ProtocolError(ErrorCode.TOO_MANY_ROOMS, f"a connection may be in at most {limit} rooms; leave one first")
    # A new member's presence frame is a fan-out to the room: it spends the budget before the join is made.
    audience = presence.others(room, sender.connection_id, services) if room not in sender.rooms else []
    budget.spend(request.connection_id, request.identity, len(audience), services)
    joined_at_ms = services.clock_ms()
    services.store.join(sender, room, joined_at_ms)
    reply(request, room_frame("joined", room), services)
    if room not in sender.rooms:
        member = Member(sender.connection_id, _speaker(request, services).name, joined_at_ms, _user_id(request))
        presence.announce(room, presence.Event.JOIN, member, services, ids=audience)


@route("leave")
def leave(request: MessageRequest, body: dict[str, Any], services: Services) -> None:
    room = require_room(body)
    sender = _sender(request, services)
    if room not in sender.rooms:
        raise ProtocolError(ErrorCode.NOT_IN_ROOM, f"you are not in room {room!r}")
    audience = presence.others(room, sender.connection_id, services)
    budget.spend(request.connection_id, request.identity, len(audience), services)
    services.store.leave(sender, room)
    reply(request, room_frame("left", room), services)
    member = Member(sender.connection_id, _speaker(request, services).name, None, _user_id(request))
    presence.announce(room, presence.Event.LEAVE, member, services, ids=audience)


def _require_reader(request: MessageRequest, room: str, services: Services) -> None:
    """Only a room's members read its history and members; or, with identity, a user whose rooms claim names it."""
    identity = request.identity
    if identity is not None:
        identity.require_room(room)
        if identity.rooms is not None:
            return  # the claim allows this room explicitly: such a user could join it anyway
    if room not in _sender(request, services).rooms:
        raise ProtocolError(ErrorCode.NOT_IN_ROOM, f"join room {room!r} to read its history and members")


@route("history")
def history_route(request: MessageRequest, body: dict[str, Any], services: Services) -> None:
    room = require_room(body)
    after = history.require_after(body)
    limit = history.require_limit(body, services.config.history_page_limit)
    _require_reader(request, room, services)
    reply(request, history.read(room, after, limit, services), services)


@route("members")
def members(request: MessageRequest, body: dict[str, Any], services: Services) -> None:
    room = require_room(body)
    after = presence.require_cursor(body)
    limit = history.require_limit(body, presence.MEMBERS_PAGE_LIMIT)
    _require_reader(request, room, services)
    page, next_cursor = services.store.members(room, after, limit)
    reply(request, presence.members_frame(room, page, next_cursor), services)


ACTIONS: tuple[str, ...] = tuple(ROUTES)
"""The client actions, in table order."""
ROUTE_KEYS: tuple[str, ...] = (CONNECT_ROUTE, DISCONNECT_ROUTE, DEFAULT_ROUTE, *ACTIONS)
"""Every route key the API declares, all integrated with the one function."""


def select_route(route_key: str, body: dict[str, Any]) -> tuple[str, Route]:
    """The route for a message: its route key, or for `$default` (an API with only that route still works) the
    body's action; `ProtocolError(unknown_action)` naming the valid actions when there is none."""
    key = route_key if route_key in ROUTES else body.get(ACTION_FIELD)
    route = ROUTES.get(key) if isinstance(key, str) else None
    if route is None or not isinstance(key, str):
        raise unknown_action_error(body.get(ACTION_FIELD))
    return key, route


def check_rate(request: MessageRequest, services: Services) -> None:
    """Take one of the sender's tokens, or refuse the message with `rate_limited` (before anything else is read:
    a flood of frames, valid or not, costs one store read each and nothing more)."""
    limit = services.config.message_rate
    if limit is None:
        return
    admission = services.store.admit_message(request.connection_id, services.clock_ms() * 1000, limit)
    if not admission.allowed:
        raise ProtocolError(
            ErrorCode.RATE_LIMITED,
            f"too many messages: at most {limit.burst} at once and {limit.rate_per_s:g} a second; "
            f"try again in {admission.retry_after_ms} ms",
        )


def on_message(request: MessageRequest, services: Services) -> dict[str, Any]:
    """Run the message's route; bad input becomes one error frame to the sender (400), a failure an internal one."""
    try:
        check_rate(request, services)
        body = parse_body(request.body)
        key, route = select_route(request.route_key, body)
        services.logger.info("message", extra={"route": key})
        route(request, body, services)
    except ProtocolError as error:
        services.logger.info("rejected", extra={"code": error.code.value, "error": error.message})
        metrics.error_frame(error.code.value)
        reply(request, error_frame(error.code, error.message), services)
        return {"statusCode": 400}
    except Exception:
        services.logger.exception("invocation failed", extra={"event": type(request).__name__})
        metrics.error_frame(ErrorCode.INTERNAL.value)
        reply(request, error_frame(ErrorCode.INTERNAL, "the server failed; try again"), services)
        return {"statusCode": 500}
    return {"statusCode": 200}


def unknown_action_error(action: object) -> ProtocolError:
    valid = ", ".join(ACTIONS)
    if action is None:
        return ProtocolError(ErrorCode.UNKNOWN_ACTION, f"the message has no action; valid actions: {valid}")
    if not isinstance(action, str):
        return ProtocolError(ErrorCode.UNKNOWN_ACTION, f"the action must be a string; valid actions: {valid}")
    shown = action if len(action) <= 64 else action[:61] + "..."
    return ProtocolError(ErrorCode.UNKNOWN_ACTION, f"unknown action {shown!r}; valid actions: {valid}")
