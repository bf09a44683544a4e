"""The per-connection message rate limit: the algorithm (GCRA) on its own, then the route that applies it.

The stores' side (state kept atomically, concurrent messages) is in the contract suite, test_store_contract.py.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from lambda_src.services import Services
from lambda_src.store.rate_limit import Admission, RateLimit, decide

from .conftest import add_connections, invoke, message_event
from .connections_server import ConnectionsServer

LIMIT = RateLimit(rate_per_s=4.0, burst=2)
"""One token back every 250 ms (250,000 us), two at most."""
T0 = 1_700_000_000_000_000


def run(times_us: list[int], limit: RateLimit = LIMIT) -> list[bool]:
    tat: int | None = None
    answers = []
    for now in times_us:
        admission, new_tat = decide(tat, now, limit)
        answers.append(admission.allowed)
        tat = new_tat if new_tat is not None else tat
    return answers


def test_a_new_connection_gets_its_burst_then_one_message_per_interval() -> None:
    assert run([T0, T0, T0, T0 + 249_999, T0 + 250_000, T0 + 250_000]) == [True, True, False, False, True, False]


def test_tokens_come_back_at_the_rate_and_never_beyond_the_burst() -> None:
    assert run([T0, T0, T0 + 10_000_000, T0 + 10_000_000, T0 + 10_000_000]) == [True, True, True, True, False]


def test_a_sender_at_exactly_the_rate_is_never_refused() -> None:
    assert run([T0 + k * 250_000 for k in range(40)]) == [True] * 40


def test_a_refused_message_changes_nothing_and_says_when_to_retry() -> None:
    admitted, tat = decide(None, T0, LIMIT)
    admitted, tat = decide(tat, T0, LIMIT)

    refused, unchanged = decide(tat, T0 + 100_000, LIMIT)

    assert (admitted, refused, unchanged) == (Admission(True), Admission(False, 150), None)


def test_a_burst_of_one_allows_no_two_messages_within_an_interval() -> None:
    assert run([T0, T0 + 100, T0 + 1_000_000], RateLimit(rate_per_s=1.0, burst=1)) == [True, False, True]


@pytest.mark.stack
def test_messages_past_the_burst_get_one_rate_limited_frame_each_and_reach_no_one(
    services: Services, connections_server: ConnectionsServer
) -> None:
    services.config = replace(services.config, message_rate=RateLimit(rate_per_s=1.0, burst=2))
    add_connections(services, ["spammer", "listener"])
    broadcast = {"action": "broadcast", "message": "hi"}

    results = [invoke(services, message_event("spammer", broadcast)) for _ in range(4)]

    assert results == [{"statusCode": 200}] * 2 + [{"statusCode": 400}] * 2
    assert [f["message"] for f in connections_server.frames("listener")] == ["hi", "hi"]
    refusals = [f for f in connections_server.frames("spammer") if f["type"] == "error"]
    assert [f["code"] for f in refusals] == ["rate_limited", "rate_limited"]
    assert refusals[0]["error"] == "too many messages: at most 2 at once and 1 a second; try again in 1000 ms"


@pytest.mark.stack
def test_invalid_frames_take_tokens_too(services: Services, connections_server: ConnectionsServer) -> None:
    services.config = replace(services.config, message_rate=RateLimit(rate_per_s=1.0, burst=2))
    add_connections(services, ["spammer"])

    for body in ("not json", {"action": "shout"}, {"action": "whoami"}):
        invoke(services, message_event("spammer", body))

    assert [f.get("code", f["type"]) for f in connections_server.frames("spammer")] == [
        "invalid_json",
        "unknown_action",
        "rate_limited",
    ]


@pytest.mark.stack
def test_each_connection_has_its_own_bucket_and_the_clock_refills_it(
    services: Services, connections_server: ConnectionsServer
) -> None:
    services.config = replace(services.config, message_rate=RateLimit(rate_per_s=1.0, burst=1))
    now = [1_700_000_000_000]
    services.clock_ms = lambda: now[0]
    add_connections(services, ["a", "b"])
    whoami = {"action": "whoami"}

    answers = [invoke(services, message_event(cid, whoami))["statusCode"] for cid in ("a", "a", "b")]
    now[0] += 1000
    answers.append(invoke(services, message_event("a", whoami))["statusCode"])

    assert answers == [200, 400, 200, 200]
