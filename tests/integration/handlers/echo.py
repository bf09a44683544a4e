"""Test handlers for the runtime and the gateway: small, deterministic, each showing one behaviour.

They run inside worker processes, so they use only the standard library (and botocore's signer, as the real
function does) and speak through their return value, their log lines and the `@connections` URL in their
environment.
"""

from __future__ import annotations

import json
import os
import sys
import time
import urllib.request
from typing import Any

SUMMARY_OVER_CHARS = 4096
_invocations = 0
"""Module state: lives as long as the worker, as on Lambda."""


def handler(event: Any, context: Any) -> dict[str, Any]:
    """Echo the event and what the context says; counts invocations per worker."""
    global _invocations  # noqa: PLW0603 -- per-worker state is what the tests observe
    _invocations += 1
    print(f"echo handler invoked {_invocations}")
    return {
        "statusCode": 200,
        "event": event,
        "invocations": _invocations,
        "pid": os.getpid(),
        "context": {
            "aws_request_id": context.aws_request_id,
            "function_name": context.function_name,
            "function_version": context.function_version,
            "invoked_function_arn": context.invoked_function_arn,
            "memory_limit_in_mb": context.memory_limit_in_mb,
            "log_group_name": context.log_group_name,
            "log_stream_name": context.log_stream_name,
            "remaining_ms": context.get_remaining_time_in_millis(),
        },
        "env": {name: os.environ.get(name) for name in ("MARKER", "AWS_LAMBDA_FUNCTION_NAME", "TZ")},
        "cwd": os.getcwd(),
    }


def sleepy(event: Any, context: Any) -> dict[str, Any]:
    """Sleep `event["sleep_s"]` seconds: the timeout test's handler."""
    time.sleep(float(event.get("sleep_s", 0)))
    return {"slept": event.get("sleep_s", 0), "pid": os.getpid()}


def crash(event: Any, context: Any) -> dict[str, Any]:
    """Kill its own process when asked: a segfault-like death, not an exception."""
    if event.get("crash"):
        sys.stdout.flush()
        os._exit(3)
    return {"pid": os.getpid()}


def fail(event: Any, context: Any) -> dict[str, Any]:
    """Raise: an unhandled exception."""
    raise ValueError(f"bad input {event.get('value')!r}")


def fail_recorded(event: Any, context: Any) -> dict[str, Any]:
    """Record the attempt (event and request id) in `$EVENT_LOG`, then raise: the async retry tests' handler. An
    event with `answer` returns that instead (`{"statusCode": 500}`, say: still a success to Lambda)."""
    path = os.environ["EVENT_LOG"]
    with open(path, "a", encoding="utf-8") as log:
        log.write(json.dumps({"event": event, "requestId": context.aws_request_id}) + "\n")
    if "answer" in event:
        return dict(event["answer"])
    raise RuntimeError(f"attempt failed on purpose: {event.get('marker')!r}")


def gateway(event: Any, context: Any) -> dict[str, Any]:
    """A WebSocket backend for gateway tests: records every event, answers per route.

    - `$connect`: `?status=NNN` answers with that status; `?fail=1` raises (500 expected); `?sleep=S` sleeps first.
    - a message `{"action": "echo", ...}` posts the event back to the sender through `@connections`.
    - `{"action": "slow", "sleep_s": S}` sleeps then echoes (ordering tests).
    """
    context_ = event["requestContext"]
    route = context_["routeKey"]
    print(json.dumps({"route": route, "connectionId": context_["connectionId"]}))
    _record(event)
    if route == "$connect":
        query = event.get("queryStringParameters") or {}
        time.sleep(float(query.get("sleep", 0)))
        if query.get("fail"):
            raise RuntimeError("connect failed on purpose")
        return {"statusCode": int(query.get("status", "200")), "body": "refused" if "status" in query else ""}
    if route == "$disconnect":
        return {"statusCode": 200}
    body = json.loads(event["body"]) if event.get("body") and not event.get("isBase64Encoded") else {}
    if body.get("action") == "slow":
        time.sleep(float(body.get("sleep_s", 0)))
    if body.get("action") == "boom":
        raise RuntimeError("message handler failed on purpose")
    if len(event.get("body") or "") > SUMMARY_OVER_CHARS:
        # Echoing a large body whole would exceed the 128 KB post limit: report its size instead.
        event = {**event, "body": None, "bodyLength": len(event["body"])}
    _post(context_["connectionId"], json.dumps({"route": route, "event": event}).encode())
    return {"statusCode": 200}


def _post(connection_id: str, data: bytes) -> None:
    # Signed with the credentials the stack gave the function, as `@connections` on AWS requires.
    from urllib.parse import quote

    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    url = f"{os.environ['CONNECTIONS_URL']}/@connections/{quote(connection_id, safe='')}"
    signed = AWSRequest(method="POST", url=url, data=data)
    credentials = Credentials(
        os.environ["AWS_ACCESS_KEY_ID"], os.environ["AWS_SECRET_ACCESS_KEY"], os.environ["AWS_SESSION_TOKEN"]
    )
    SigV4Auth(credentials, "execute-api", os.environ["AWS_REGION"]).add_auth(signed)
    request = urllib.request.Request(url, data=data, method="POST", headers=dict(signed.headers.items()))
    with urllib.request.urlopen(request, timeout=5) as response:
        response.read()


def _record(event: Any) -> None:
    """CONNECT and DISCONNECT events cannot be answered to the client: the tests read every event from a file."""
    path = os.environ.get("EVENT_LOG")
    if path:
        with open(path, "a", encoding="utf-8") as log:
            log.write(json.dumps(event) + "\n")
