"""The per-sender fan-out budget: a message takes the posts it causes from its connection's budget and, with an
identity, from its user's; past either it is refused with `rate_limited` before anything is posted or kept.

The algorithm's arithmetic with a cost is tested with `decide` here; the stores' side (state kept atomically,
concurrent spenders) in the contract suite, test_store_contract.py."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from lambda_src.config import Config, fanout_budget
from lambda_src.protocol.identity import Identity
from lambda_src.services import Services
from lambda_src.store.rate_limit import RateLimit, decide

from .conftest import add_connections, invoke, message_event
from .connections_server import ConnectionsServer
from .test_metrics import emf_lines

BUDGET = RateLimit(rate_per_s=10.0, burst=10)
"""10 posts at once, then one every 100 ms; the services' clock stands still, so nothing comes back."""
T0 = 1_700_000_000_000_000
OTHERS = ["b", "c", "d", "e", "f", "g"]
"""Six recipients: one room broadcast fits the budget of 10, two do not."""


@pytest.fixture
def budgeted(services: Services) -> Services:
    services.config = replace(services.config, fanout_budget=BUDGET)
    return services


def as_user(event: dict[str, Any], sub: str) -> dict[str, Any]:
    event["requestContext"]["authorizer"] = {"principalId": sub, **Identity(sub, sub).to_context()}
    return event


def say(sender: str, room: str | None = "r") -> dict[str, Any]:
    body: dict[str, Any] = {"action": "broadcast", "message": f"from {sender}", "echo": False}
    if room is not None:
        body["room"] = room
    return message_event(sender, body)


def delivered(server: ConnectionsServer, ids: list[str]) -> int:
    return sum(1 for cid in ids for frame in server.frames(cid) if frame.get("type") == "message")


def only_error(server: ConnectionsServer, connection_id: str) -> dict[str, Any]:
    frames = [frame for frame in server.frames(connection_id) if frame.get("type") == "error"]
    assert len(frames) == 1, frames
    return dict(frames[0])


def test_decide_with_a_cost_takes_that_many_tokens_and_a_full_bucket_admits_any_one_cost() -> None:
    admission, tat = decide(None, T0, BUDGET, cost=6)
    assert admission.allowed and tat == T0 + 600_000
    assert decide(tat, T0, BUDGET, cost=5)[0].retry_after_ms == 100, "5 more fit once one token is back"
    big, debt = decide(None, T0, BUDGET, cost=25)
    assert big.allowed and debt == T0 + 2_500_000, "past the burst from a full bucket: admitted, 2.5 s in debt"
    assert decide(debt, T0 + 1_500_000, BUDGET, cost=1)[0].allowed is False
    assert decide(debt, T0 + 1_600_000, BUDGET, cost=1)[0].allowed is True


def test_a_room_broadcast_past_the_connections_budget_is_refused_and_reaches_no_one(
    budgeted: Services, connections_server: ConnectionsServer
) -> None:
    add_connections(budgeted, ["a", *OTHERS], rooms={"r": ["a", *OTHERS]})

    assert invoke(budgeted, say("a")) == {"statusCode": 200}
    assert invoke(budgeted, say("a")) == {"statusCode": 400}

    assert delivered(connections_server, OTHERS) == len(OTHERS), "the first reached all six, the second no one"
    refusal = only_error(connections_server, "a")
    assert refusal["code"] == "rate_limited"
    assert refusal["error"] == (
        "too many posts: this message would reach 6 connections, and your connection may cause 10 posts a second; "
        "try again in 200 ms"
    )


def test_a_refused_room_broadcast_is_kept_in_no_history(
    budgeted: Services, connections_server: ConnectionsServer
) -> None:
    add_connections(budgeted, ["a", *OTHERS], rooms={"r": ["a", *OTHERS]})
    invoke(budgeted, say("a"))
    invoke(budgeted, say("a"))
    connections_server.reset()

    invoke(budgeted, message_event("b", {"action": "history", "room": "r"}))

    (page,) = connections_server.frames("b")
    assert [entry["frame"]["message"] for entry in page["messages"]] == ["from a"]


def test_a_users_budget_spans_its_connections(budgeted: Services, connections_server: ConnectionsServer) -> None:
    add_connections(budgeted, ["a1", "a2", "b1", *OTHERS], rooms={"r": ["a1", "a2", "b1", *OTHERS]})

    assert invoke(budgeted, as_user(say("a1"), "alice")) == {"statusCode": 200}
    # Another connection of the same user (a reconnect, a second tab) spends from the same budget: 8 of 10 are gone.
    assert invoke(budgeted, as_user(say("a2"), "alice")) == {"statusCode": 400}

    assert "your user may cause 10 posts a second" in only_error(connections_server, "a2")["error"]
    assert invoke(budgeted, as_user(say("b1"), "bob")) == {"statusCode": 200}, "another user's budget is its own"


def test_a_broadcast_to_everyone_spends_its_audience(budgeted: Services, connections_server: ConnectionsServer) -> None:
    add_connections(budgeted, ["a", *OTHERS])

    assert invoke(budgeted, say("a", room=None)) == {"statusCode": 200}
    assert invoke(budgeted, say("a", room=None)) == {"statusCode": 400}

    assert delivered(connections_server, OTHERS) == len(OTHERS)
    assert only_error(connections_server, "a")["code"] == "rate_limited"


def test_a_full_budget_admits_one_broadcast_larger_than_its_burst(
    budgeted: Services, connections_server: ConnectionsServer
) -> None:
    many = [f"m{i}" for i in range(15)]
    add_connections(budgeted, ["a", *many], rooms={"r": ["a", *many]})

    assert invoke(budgeted, say("a")) == {"statusCode": 200}
    assert invoke(budgeted, message_event("a", {"action": "send", "to": "m0", "message": "x"})) == {"statusCode": 400}

    assert delivered(connections_server, many) == 15
    assert "try again in 600 ms" in only_error(connections_server, "a")["error"], "15 posts of 10: 0.6 s in debt"


def test_presence_frames_of_a_join_and_sends_spend_the_budget_too(
    budgeted: Services, connections_server: ConnectionsServer
) -> None:
    add_connections(budgeted, ["a", *OTHERS], rooms={"r": OTHERS})

    assert invoke(budgeted, message_event("a", {"action": "join", "room": "r"})) == {"statusCode": 200}  # 6 posts
    for target in ("b", "c", "d", "e"):  # 4 posts: the budget of 10 is spent
        assert invoke(budgeted, message_event("a", {"action": "send", "to": target, "message": "x"})) == {
            "statusCode": 200
        }
    assert invoke(budgeted, message_event("a", {"action": "leave", "room": "r"})) == {"statusCode": 400}

    assert only_error(connections_server, "a")["code"] == "rate_limited"
    stored = budgeted.store.get("a")
    assert stored is not None and stored.rooms == ("r",), "the refused leave changed nothing"


def test_a_refusal_is_counted_by_spender_with_the_posts_it_kept_back(
    budgeted: Services, connections_server: ConnectionsServer, capsys: pytest.CaptureFixture[str]
) -> None:
    add_connections(budgeted, ["a", *OTHERS], rooms={"r": ["a", *OTHERS]})
    invoke(budgeted, as_user(say("a"), "alice"))
    capsys.readouterr()

    invoke(budgeted, as_user(say("a"), "alice"))

    (record,) = [r for r in emf_lines(capsys.readouterr().out) if "BudgetRefused" in r]
    assert (record["Spender"], record["BudgetRefused"], record["BudgetRefusedPosts"]) == ("user", 1, 6)
    assert record["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [["Spender"]]


def test_a_budget_of_0_is_off(services: Services, connections_server: ConnectionsServer) -> None:
    services.config = replace(services.config, fanout_budget=fanout_budget(0))
    add_connections(services, ["a", *OTHERS], rooms={"r": ["a", *OTHERS]})

    assert [invoke(services, say("a"))["statusCode"] for _ in range(5)] == [200] * 5
    assert delivered(connections_server, OTHERS) == 5 * len(OTHERS)


def test_the_default_budget_is_a_thousand_posts_a_second_in_bursts_of_one_second() -> None:
    env = {"CONNECTIONS_BUCKET": "b", "CONNECTIONS_URL": "https://x"}
    assert Config.from_env(env).fanout_budget == RateLimit(1000.0, 1000)
    assert Config.from_env(env | {"FANOUT_BUDGET_PER_S": "2.5"}).fanout_budget == RateLimit(2.5, 3)
    assert Config.from_env(env | {"FANOUT_BUDGET_PER_S": "0"}).fanout_budget is None
