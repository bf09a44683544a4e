"""A Lambda REQUEST authorizer on `$connect`, run as API Gateway runs one for a WebSocket API.

- An identity source missing from the request (or empty) answers 401 without invoking anything.
- Otherwise the function gets the REQUEST event (`type`, `methodArn`, headers, query, `requestContext`); a
  failed invocation or an answer API Gateway cannot read (no principalId, a nested context value) answers 500,
  a policy that does not allow `execute-api:Invoke` on the method ARN 403.
- An Allow's `principalId` and `context` become `requestContext.authorizer` of every later event of the
  connection, context values turned into strings as API Gateway passes them.
- Answers are cached per identity-source value for the TTL (0: never).

https://docs.aws.amazon.com/apigateway/latest/developerguide/apigateway-websocket-api-lambda-auth.html
https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-lambda-authorizer-output.html
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any, Protocol

from util.local.runtime.pool import InvocationResult, RuntimeStopped

QUERY_SOURCE_PREFIX = "route.request.querystring."
HEADER_SOURCE_PREFIX = "route.request.header."
DEFAULT_IDENTITY_SOURCE = "route.request.querystring.token"
"""As deployment/auth.tf declares it: browsers cannot set headers on a WebSocket, so the token is in the query."""
UNAUTHORIZED = 401
FORBIDDEN = 403
CONFIGURATION_ERROR = 500


class Invoker(Protocol):
    async def invoke(self, event: Any, *, request_id: str | None = None) -> InvocationResult: ...


@dataclass(frozen=True)
class Authorization:
    """The gateway's verdict: `status` 200 lets the connect go on to `$connect`, with `context` for its events."""

    status: int
    context: dict[str, str] | None = None
    """`requestContext.authorizer`: principalId and the context's values, as strings."""
    invoked: bool = False

    @property
    def allowed(self) -> bool:
        return self.status == 200


def identity_values(event: Mapping[str, Any], sources: tuple[str, ...]) -> tuple[str, ...] | None:
    """The value of each identity source in the connect request, or None if one is missing or empty."""
    query = event.get("queryStringParameters") or {}
    headers = {name.lower(): value for name, value in (event.get("headers") or {}).items()}
    values: list[str] = []
    for source in sources:
        if source.startswith(QUERY_SOURCE_PREFIX):
            value = query.get(source[len(QUERY_SOURCE_PREFIX) :])
        elif source.startswith(HEADER_SOURCE_PREFIX):
            value = headers.get(source[len(HEADER_SOURCE_PREFIX) :].lower())
        else:
            raise ValueError(f"unsupported identity source {source!r}")
        if not isinstance(value, str) or not value:
            return None
        values.append(value)
    return tuple(values)


def request_event(connect_event: Mapping[str, Any], method_arn: str) -> dict[str, Any]:
    """The REQUEST authorizer's event: the connect request's parts plus `type` and `methodArn`."""
    event: dict[str, Any] = {"type": "REQUEST", "methodArn": method_arn}
    for key in ("headers", "multiValueHeaders", "queryStringParameters", "multiValueQueryStringParameters"):
        if key in connect_event:
            event[key] = connect_event[key]
    event["stageVariables"] = {}
    event["requestContext"] = connect_event["requestContext"]
    return event


def _as_list(value: object) -> list[object]:
    return value if isinstance(value, list) else [value]


def _statement_matches(statement: Mapping[str, Any], method_arn: str) -> bool:
    actions = [a for a in _as_list(statement.get("Action")) if isinstance(a, str)]
    resources = [r for r in _as_list(statement.get("Resource")) if isinstance(r, str)]
    action_ok = any(fnmatchcase("execute-api:Invoke", action) for action in actions)
    return action_ok and any(fnmatchcase(method_arn, resource) for resource in resources)


def _context_string(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float | str):
        return str(value)
    raise TypeError("context values must be strings, numbers or booleans")


def evaluate(answer: object, method_arn: str) -> Authorization:
    """API Gateway's reading of the authorizer's answer."""
    if not isinstance(answer, Mapping):
        return Authorization(CONFIGURATION_ERROR, invoked=True)
    principal = answer.get("principalId")
    document = answer.get("policyDocument")
    statements = document.get("Statement") if isinstance(document, Mapping) else None
    if not isinstance(principal, str) or not isinstance(statements, list | Mapping):
        return Authorization(CONFIGURATION_ERROR, invoked=True)
    matching = [s for s in _as_list(statements) if isinstance(s, Mapping) and _statement_matches(s, method_arn)]
    effects = {s.get("Effect") for s in matching}
    if "Deny" in effects or "Allow" not in effects:
        return Authorization(FORBIDDEN, invoked=True)
    raw_context = answer.get("context") or {}
    if not isinstance(raw_context, Mapping):
        return Authorization(CONFIGURATION_ERROR, invoked=True)
    try:
        context = {str(key): _context_string(value) for key, value in raw_context.items()}
    except TypeError:
        return Authorization(CONFIGURATION_ERROR, invoked=True)
    return Authorization(200, {"principalId": principal, **context}, invoked=True)


class LocalAuthorizer:
    """The authorizer of one API's `$connect`: `authorize(connect_event)` gives the verdict."""

    def __init__(
        self,
        invoker: Invoker,
        *,
        method_arn: str,
        ttl_s: float = 0.0,
        identity_sources: tuple[str, ...] = (DEFAULT_IDENTITY_SOURCE,),
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._invoker = invoker
        self.method_arn = method_arn
        self._ttl_s = ttl_s
        self._sources = identity_sources
        self._clock = clock
        self._cache: dict[tuple[str, ...], tuple[float, Authorization]] = {}
        self.invocations = 0

    async def authorize(self, connect_event: Mapping[str, Any]) -> Authorization:
        values = identity_values(connect_event, self._sources)
        if values is None:
            return Authorization(UNAUTHORIZED)
        now = self._clock()
        cached = self._cache.get(values)
        if cached is not None and cached[0] > now:
            return Authorization(cached[1].status, cached[1].context, invoked=False)
        self.invocations += 1
        try:
            result = await self._invoker.invoke(request_event(connect_event, self.method_arn))
        except RuntimeStopped:
            return Authorization(CONFIGURATION_ERROR)
        if not result.ok:
            return Authorization(CONFIGURATION_ERROR, invoked=True)
        verdict = evaluate(result.payload, self.method_arn)
        if self._ttl_s > 0 and verdict.status in (200, FORBIDDEN):
            self._cache = {key: entry for key, entry in self._cache.items() if entry[0] > now}
            self._cache[values] = (now + self._ttl_s, verdict)
        return verdict
