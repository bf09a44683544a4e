"""API Gateway's access log: one JSON line per WebSocket request (CONNECT, MESSAGE, DISCONNECT).

`ACCESS_LOG_FORMAT` is the stage's format: field name -> `$context` variable, exactly as
`deployment/api.tf` (`access_log_settings`) declares it; `tests/terraform/test_contracts.py` holds the two
equal, and every line written here has exactly these fields, so `util tail-logs` reads both alike.
Variables: https://docs.aws.amazon.com/apigateway/latest/developerguide/websocket-api-logging.html
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Protocol

from util.local.gateway.events import ConnectionFacts

ACCESS_LOG_FORMAT: Mapping[str, str] = {
    "requestId": "$context.requestId",
    "requestTimeEpoch": "$context.requestTimeEpoch",
    "connectionId": "$context.connectionId",
    "eventType": "$context.eventType",
    "routeKey": "$context.routeKey",
    "messageId": "$context.messageId",
    "status": "$context.status",
    "sourceIp": "$context.identity.sourceIp",
    "integrationLatency": "$context.integrationLatency",
    "integrationStatus": "$context.integration.status",
    "error": "$context.error.message",
    "integrationError": "$context.integration.error",
}


class AccessLogSink(Protocol):
    def write(self, line: str, timestamp_ms: int) -> None: ...


def access_line(
    facts: ConnectionFacts,
    *,
    request_id: str,
    epoch_ms: int,
    event_type: str,
    route_key: str,
    status: int,
    integration_status: int | None,
    integration_latency_ms: int | None,
    message_id: str | None = None,
    error: str | None = None,
    integration_error: str | None = None,
) -> str:
    """The line of one request; `error` is API Gateway's own message, `integration_error` the function's."""
    values: dict[str, Any] = {
        "$context.requestId": request_id,
        "$context.requestTimeEpoch": epoch_ms,
        "$context.connectionId": facts.connection_id,
        "$context.eventType": event_type,
        "$context.routeKey": route_key,
        "$context.messageId": message_id,
        "$context.status": status,
        "$context.identity.sourceIp": facts.source_ip,
        "$context.integrationLatency": integration_latency_ms,
        "$context.integration.status": integration_status,
        "$context.error.message": error,
        "$context.integration.error": integration_error,
    }
    return json.dumps({field: values[variable] for field, variable in ACCESS_LOG_FORMAT.items()}, separators=(",", ":"))
