"""The Lambda's entry point: parse the event once, dispatch it, never let an exception escape.

`handler` is what AWS (and the local stack) calls; `handle` is the same with its services handed in.
"""

from __future__ import annotations

from typing import Any

from . import logs
from .authorizer import on_authorize
from .config import Config, ConfigError
from .connections import on_connect, on_disconnect
from .events import (
    AuthorizeRequest,
    ConnectRequest,
    DisconnectRequest,
    MessageRequest,
    PushRequest,
    Request,
    Shard,
    parse_event,
)
from .fanout import post_one
from .protocol import ErrorCode, ProtocolError, error_frame, parse_body, unknown_action_error
from .push import on_push
from .routes import ROUTES
from .services import Services, from_config
from .shards import on_shard

_services: Services | None = None


def handler(event: Any, context: Any) -> dict[str, Any]:
    """AWS Lambda entry point for every event: WebSocket CONNECT, DISCONNECT, MESSAGE and SNS pushes."""
    global _services  # noqa: PLW0603 -- one set of clients per execution environment, reused while warm
    if _services is None:
        try:
            config = Config.from_env()
            logs.set_level(config.log_level)
            _services = from_config(config)
        except ConfigError as error:
            logs.get_logger().error("configuration error", extra={"error": str(error)})
            return {"statusCode": 500}
    return handle(event, context, _services)


def handle(event: Any, context: Any, services: Services) -> dict[str, Any]:
    request = parse_event(event)
    connection_id = getattr(request, "connection_id", None)
    request_id = getattr(context, "aws_request_id", None) or getattr(request, "request_id", None)
    tokens = logs.bind(request_id, connection_id)
    try:
        return _dispatch(request, services)
    except Exception:
        services.logger.exception("invocation failed", extra={"event": type(request).__name__})
        if isinstance(request, MessageRequest):
            _send_error(request, error_frame(ErrorCode.INTERNAL, "the server failed; try again"), services)
        return {"statusCode": 500}
    finally:
        logs.unbind(tokens)


def _dispatch(request: Request, services: Services) -> dict[str, Any]:
    match request:
        case MessageRequest():
            return _on_message(request, services)
        case ConnectRequest():
            return on_connect(request, services)
        case DisconnectRequest():
            return on_disconnect(request, services)
        case PushRequest():
            return on_push(request, services)
        case Shard():
            return on_shard(request, services)
        case AuthorizeRequest():
            return on_authorize(request, services)
        case _:
            services.logger.warning("unknown event", extra={"reason": request.reason})
            return {"statusCode": 400}


def _on_message(request: MessageRequest, services: Services) -> dict[str, Any]:
    try:
        body = parse_body(request.body)
        # An API with only a $default route still works: the action in the body picks the route.
        key = request.route_key if request.route_key in ROUTES else body.get("action")
        route = ROUTES.get(key) if isinstance(key, str) else None
        if route is None:
            raise unknown_action_error(body.get("action"))
        services.logger.info("message", extra={"route": key})
        route(request, body, services)
    except ProtocolError as error:
        services.logger.info("rejected", extra={"code": error.code.value, "error": error.message})
        _send_error(request, error.frame(), services)
        return {"statusCode": 400}
    return {"statusCode": 200}


def _send_error(request: MessageRequest, frame: bytes, services: Services) -> None:
    post_one(connection_id=request.connection_id, data=frame, poster=services.poster, store=services.store)
