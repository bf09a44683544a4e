"""AWS's limits that the function and the local stack must apply alike: one name, one meaning, one value each.

The local stack (`util.local`) imports these; the function enforces the ones it can see. Sources:
API Gateway's WebSocket quotas, https://docs.aws.amazon.com/apigateway/latest/developerguide/limits.html
("Quotas for configuring and running a WebSocket API"), and Lambda's quotas,
https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html.
"""

from __future__ import annotations

MAX_MESSAGE_BYTES = 128 * 1024
"""API Gateway: the largest WebSocket message, in either direction (and so the largest `@connections` post)."""
MAX_FRAME_BYTES = 32 * 1024
"""API Gateway: the largest single WebSocket frame; a larger message must arrive fragmented."""
MAX_ASYNC_PAYLOAD_BYTES = 256 * 1024
"""Lambda: the largest event of an asynchronous (`InvocationType=Event`) invocation."""
IDLE_TIMEOUT_S = 10 * 60.0
"""API Gateway: a WebSocket connection silent this long is closed."""
MAX_DURATION_S = 2 * 60 * 60.0
"""API Gateway: a WebSocket connection this old is closed."""
