"""The local REQUEST authorizer as API Gateway runs it: identity sources, policy reading, context, caching.

The function is stood in for by a recorder of the events it gets (the end-to-end tests in test_identity.py
run the real one); each test names the API Gateway behaviour it holds the emulator to.
"""

from __future__ import annotations

import asyncio
from typing import Any

from util.local.gateway.authorizer import LocalAuthorizer, evaluate
from util.local.runtime.pool import InvocationResult

METHOD_ARN = "arn:aws:execute-api:us-east-1:123456789012:abc123/live/$connect"


def allow(context: dict[str, Any] | None = None, resource: str = METHOD_ARN, effect: str = "Allow") -> dict[str, Any]:
    answer: dict[str, Any] = {
        "principalId": "alice",
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [{"Action": "execute-api:Invoke", "Effect": effect, "Resource": resource}],
        },
    }
    if context is not None:
        answer["context"] = context
    return answer


class Function:
    def __init__(self, answer: Any, error: str | None = None) -> None:
        self.answer = answer
        self.error = error
        self.events: list[dict[str, Any]] = []

    async def invoke(self, event: Any, *, request_id: str | None = None) -> InvocationResult:
        self.events.append(event)
        return InvocationResult("req", self.answer, self.error)


def connect_event(query: dict[str, str] | None = None, headers: dict[str, str] | None = None) -> dict[str, Any]:
    event: dict[str, Any] = {"headers": headers or {"Host": "h"}, "multiValueHeaders": {}}
    if query is not None:
        event["queryStringParameters"] = query
    event["requestContext"] = {"routeKey": "$connect", "eventType": "CONNECT", "connectionId": "c1"}
    return event


class Clock:
    now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_missing_or_empty_identity_source_answers_401_without_invoking() -> None:
    function = Function(allow())
    authorizer = LocalAuthorizer(function, method_arn=METHOD_ARN)
    for event in (connect_event(), connect_event({"name": "x"}), connect_event({"token": ""})):
        assert asyncio.run(authorizer.authorize(event)).status == 401
    assert function.events == []


def test_the_function_gets_the_request_event_with_type_and_method_arn() -> None:
    function = Function(allow())
    verdict = asyncio.run(LocalAuthorizer(function, method_arn=METHOD_ARN).authorize(connect_event({"token": "t"})))
    assert verdict.status == 200
    (event,) = function.events
    assert event["type"] == "REQUEST" and event["methodArn"] == METHOD_ARN
    assert event["queryStringParameters"] == {"token": "t"}
    assert event["requestContext"]["connectionId"] == "c1"
    assert event["stageVariables"] == {}


def test_context_values_reach_later_events_as_strings() -> None:
    verdict = evaluate(allow({"name": "Alice", "level": 3, "ratio": 0.5, "admin": True, "guest": False}), METHOD_ARN)
    assert verdict.status == 200
    assert verdict.context == {
        "principalId": "alice",
        "name": "Alice",
        "level": "3",
        "ratio": "0.5",
        "admin": "true",
        "guest": "false",
    }


def test_a_nested_context_value_or_an_unreadable_answer_is_a_500() -> None:
    assert evaluate(allow({"rooms": ["a", "b"]}), METHOD_ARN).status == 500
    assert evaluate(allow({"user": {"id": 1}}), METHOD_ARN).status == 500
    assert evaluate({"policyDocument": allow()["policyDocument"]}, METHOD_ARN).status == 500
    assert evaluate("Allow", METHOD_ARN).status == 500


def test_deny_or_an_allow_for_another_resource_is_a_403_and_wildcards_match() -> None:
    assert evaluate(allow(effect="Deny"), METHOD_ARN).status == 403
    assert evaluate(allow(resource=METHOD_ARN.replace("abc123", "other")), METHOD_ARN).status == 403
    assert evaluate(allow(resource="arn:aws:execute-api:us-east-1:123456789012:abc123/*"), METHOD_ARN).status == 200
    both = allow()
    both["policyDocument"]["Statement"].append({"Action": "*", "Effect": "Deny", "Resource": "*"})
    assert evaluate(both, METHOD_ARN).status == 403, "an explicit Deny wins"


def test_a_failed_invocation_is_a_500() -> None:
    function = Function({"errorMessage": "boom"}, error="Unhandled")
    verdict = asyncio.run(LocalAuthorizer(function, method_arn=METHOD_ARN).authorize(connect_event({"token": "t"})))
    assert verdict.status == 500


def test_answers_are_cached_per_identity_source_value_for_the_ttl() -> None:
    clock = Clock()
    function = Function(allow({"name": "Alice"}))
    authorizer = LocalAuthorizer(function, method_arn=METHOD_ARN, ttl_s=60, clock=clock)

    def ask(token: str) -> int:
        return asyncio.run(authorizer.authorize(connect_event({"token": token}))).status

    assert [ask("a"), ask("a"), ask("b"), ask("a")] == [200, 200, 200, 200]
    assert len(function.events) == 2, "one invocation per distinct token within the TTL"
    function.answer = allow(effect="Deny")
    assert ask("a") == 200, "still cached"
    clock.now += 61
    assert ask("a") == 403
    assert len(function.events) == 3


def test_without_a_ttl_every_connect_invokes() -> None:
    function = Function(allow())
    authorizer = LocalAuthorizer(function, method_arn=METHOD_ARN)
    for _ in range(3):
        asyncio.run(authorizer.authorize(connect_event({"token": "a"})))
    assert len(function.events) == 3


def test_a_header_identity_source_is_matched_case_insensitively() -> None:
    function = Function(allow())
    authorizer = LocalAuthorizer(
        function, method_arn=METHOD_ARN, identity_sources=("route.request.header.Authorization",)
    )
    assert asyncio.run(authorizer.authorize(connect_event(headers={"authorization": "Bearer x"}))).status == 200
    assert asyncio.run(authorizer.authorize(connect_event({"token": "x"}))).status == 401
