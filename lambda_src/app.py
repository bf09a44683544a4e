"""The Lambda's entry point: parse the event once, dispatch it, and fail each kind of event the way its caller reads.

A WebSocket event (`$connect`, `$disconnect`, a message, the authorizer) always returns: API Gateway reads the status,
and the client gets an error frame (mapped beside the route table, `handlers.message`). An asynchronous event (an SNS
push, a shard, a segment, a continuation) raises whenever it failed, a configuration error at a cold start included:
Lambda retries, dead-letters and counts in `Errors` only an invocation that raised; a returned value of any shape,
`{"statusCode": 500}` too, is a success to it ("How Lambda handles errors and retries with asynchronous
invocation", AWS Lambda developer guide). What a retry repeats is bounded by the claims (`delivery.claims`).

`handler` is what AWS (and the local stack) calls; `handle` is the same with its services handed in.
"""

from __future__ import annotations

from typing import Any

from lambda_src.aws import deadline
from lambda_src.config import Config
from lambda_src.delivery.segments import on_segment
from lambda_src.delivery.sharding import on_continuation, on_shard
from lambda_src.errors import ConfigError, PushFailed
from lambda_src.handlers.authorize import on_authorize
from lambda_src.handlers.connection import on_connect, on_disconnect
from lambda_src.handlers.message import on_message
from lambda_src.handlers.push import on_push
from lambda_src.observability import logs
from lambda_src.observability.context import invocation
from lambda_src.protocol.events import (
    AuthorizeRequest,
    ConnectRequest,
    Continuation,
    DisconnectRequest,
    MessageRequest,
    PushRequest,
    Request,
    SegmentShard,
    Shard,
    parse_event,
)
from lambda_src.services import Services
from lambda_src.wiring import from_config

_services: Services | None = None

ASYNCHRONOUS = (PushRequest, Shard, SegmentShard, Continuation)
"""The requests that arrive by asynchronous invocation: a failure of theirs raises, so that Lambda retries them."""


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
            if isinstance(parse_event(event), ASYNCHRONOUS):
                raise  # retried (the next attempt builds its services again), then dead-lettered
            return {"statusCode": 500}
    return handle(event, context, _services)


def handle(event: Any, context: Any, services: Services) -> dict[str, Any]:
    request = parse_event(event)
    connection_id = getattr(request, "connection_id", None)
    request_id = getattr(context, "aws_request_id", None) or getattr(request, "request_id", None)
    deadline_token = deadline.bind(context)
    try:
        with invocation(request_id, connection_id):
            return _answer(request, services)
    finally:
        deadline.unbind(deadline_token)


def _answer(request: Request, services: Services) -> dict[str, Any]:
    """A WebSocket event's answer, whatever happens; an asynchronous event's failure raised, for Lambda to retry."""
    try:
        return _dispatch(request, services)
    except PushFailed:
        raise  # logged by on_push, record by record
    except Exception:
        services.logger.exception("invocation failed", extra={"event": type(request).__name__})
        if isinstance(request, ASYNCHRONOUS):
            raise
        return {"statusCode": 500}


def _dispatch(request: Request, services: Services) -> dict[str, Any]:
    match request:
        case MessageRequest():
            return on_message(request, services)
        case ConnectRequest():
            return on_connect(request, services)
        case DisconnectRequest():
            return on_disconnect(request, services)
        case PushRequest():
            return on_push(request, services)
        case Shard():
            return on_shard(request, services)
        case Continuation():
            return on_continuation(request, services)
        case SegmentShard():
            return on_segment(request, services)
        case AuthorizeRequest():
            return on_authorize(request, services)
        case _:
            services.logger.warning("unknown event", extra={"reason": request.reason})
            return {"statusCode": 400}
