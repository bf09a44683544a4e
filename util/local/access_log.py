"""API Gateway's access log: one JSON line per WebSocket request (CONNECT, MESSAGE, DISCONNECT).

The fields are `$context` variables of API Gateway; the deployment's stage uses the same format
(`access_log_settings`), so `util tail-logs` reads both alike.
"""

from __future__ import annotations

import json
from typing import Any, Protocol

from .events import ConnectionFacts, request_time


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
) -> str:
    entry: dict[str, Any] = {
        "requestId": request_id,
        "extendedRequestId": request_id,
        "ip": facts.source_ip,
        "requestTime": request_time(epoch_ms),
        "requestTimeEpoch": epoch_ms,
        "eventType": event_type,
        "routeKey": route_key,
        "status": status,
        "connectionId": facts.connection_id,
        "messageId": message_id,
        "integrationStatus": integration_status,
        "integrationLatency": integration_latency_ms,
        "errorMessage": error,
        "apiId": facts.api_id,
        "stage": facts.stage,
        "domainName": facts.domain_name,
    }
    return json.dumps(entry, separators=(",", ":"))
