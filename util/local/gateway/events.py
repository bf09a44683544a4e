"""The Lambda proxy events API Gateway sends for a WebSocket API: CONNECT, MESSAGE and DISCONNECT.

Pure functions from what the gateway knows to the event dict, with AWS's field names, types and presence
rules: `queryStringParameters` only when a query was sent, `body` and `messageId` only on MESSAGE,
`disconnectStatusCode`/`disconnectReason` only on DISCONNECT.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from util.local import ids

_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


@dataclass(frozen=True)
class ConnectionFacts:
    """What stays true of a connection for its whole life, and goes into every one of its events."""

    api_id: str
    stage: str
    domain_name: str
    connection_id: str
    connected_at_ms: int
    source_ip: str
    user_agent: str | None
    authorizer: Mapping[str, str] | None = None
    """What the `$connect` authorizer allowed with (`requestContext.authorizer` of every event after it)."""


def request_time(epoch_ms: int) -> str:
    """API Gateway's `requestTime`: `09/Feb/2024:18:11:43 +0000` (locale-independent)."""
    moment = datetime.fromtimestamp(epoch_ms / 1000, UTC)
    return f"{moment.day:02d}/{_MONTHS[moment.month - 1]}/{moment.year}:{moment:%H:%M:%S} +0000"


def _request_context(
    facts: ConnectionFacts, *, route_key: str, event_type: str, epoch_ms: int, request_id: str
) -> dict[str, Any]:
    identity: dict[str, Any] = {"sourceIp": facts.source_ip}
    if event_type != "MESSAGE" and facts.user_agent is not None:
        identity["userAgent"] = facts.user_agent
    return {
        "routeKey": route_key,
        "eventType": event_type,
        "extendedRequestId": request_id,
        "requestTime": request_time(epoch_ms),
        "messageDirection": "IN",
        "stage": facts.stage,
        "connectedAt": facts.connected_at_ms,
        "requestTimeEpoch": epoch_ms,
        "identity": identity,
        "requestId": request_id,
        "domainName": facts.domain_name,
        "connectionId": facts.connection_id,
        "apiId": facts.api_id,
    } | ({"authorizer": dict(facts.authorizer)} if facts.authorizer is not None else {})


def _multi_map(pairs: Iterable[tuple[str, str]]) -> tuple[dict[str, str], dict[str, list[str]]]:
    """(last value per name, every value per name): API Gateway's single- and multi-value views."""
    single: dict[str, str] = {}
    multi: dict[str, list[str]] = {}
    for name, value in pairs:
        single[name] = value
        multi.setdefault(name, []).append(value)
    return single, multi


def connect_event(
    facts: ConnectionFacts,
    *,
    headers: Iterable[tuple[str, str]],
    query: Iterable[tuple[str, str]],
    epoch_ms: int,
    request_id: str | None = None,
) -> dict[str, Any]:
    request_id = request_id or ids.gateway_id()
    header_map, multi_headers = _multi_map(headers)
    event: dict[str, Any] = {"headers": header_map, "multiValueHeaders": multi_headers}
    query_map, multi_query = _multi_map(query)
    if multi_query:
        event["queryStringParameters"] = query_map
        event["multiValueQueryStringParameters"] = multi_query
    event["requestContext"] = _request_context(
        facts, route_key="$connect", event_type="CONNECT", epoch_ms=epoch_ms, request_id=request_id
    )
    event["isBase64Encoded"] = False
    return event


def message_event(
    facts: ConnectionFacts,
    *,
    route_key: str,
    data: str | bytes,
    epoch_ms: int,
    request_id: str | None = None,
    message_id: str | None = None,
) -> dict[str, Any]:
    """A text frame travels as is; a binary frame base64-encoded with `isBase64Encoded: true`."""
    request_id = request_id or ids.gateway_id()
    context = _request_context(
        facts, route_key=route_key, event_type="MESSAGE", epoch_ms=epoch_ms, request_id=request_id
    )
    context["messageId"] = message_id or ids.gateway_id()
    is_binary = isinstance(data, bytes)
    body = base64.b64encode(data).decode("ascii") if isinstance(data, bytes) else data
    return {"requestContext": context, "body": body, "isBase64Encoded": is_binary}


def disconnect_event(
    facts: ConnectionFacts, *, status_code: int, reason: str, epoch_ms: int, request_id: str | None = None
) -> dict[str, Any]:
    """API Gateway no longer has the client's headers at disconnect: it sends these, mostly empty."""
    request_id = request_id or ids.gateway_id()
    headers = {"Host": facts.domain_name, "x-api-key": "", "X-Forwarded-For": "", "x-restapi": ""}
    context = _request_context(
        facts, route_key="$disconnect", event_type="DISCONNECT", epoch_ms=epoch_ms, request_id=request_id
    )
    context["disconnectStatusCode"] = status_code
    context["disconnectReason"] = reason
    return {
        "headers": headers,
        "multiValueHeaders": {name: [value] for name, value in headers.items()},
        "requestContext": context,
        "isBase64Encoded": False,
    }
