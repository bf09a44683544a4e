"""`util connections`, `util kick` and `util stats` refuse bad input in one line, before reaching any environment."""

from __future__ import annotations

from .conftest import UtilRunner, assert_one_line_error


def test_connections_refuses_an_invalid_room(util: UtilRunner) -> None:
    assert_one_line_error(util("connections", "--room", "no spaces"), "invalid room 'no spaces'", code=2)


def test_kick_refuses_an_empty_id(util: UtilRunner) -> None:
    assert_one_line_error(util("kick", " "), "ID is empty", code=2)


def test_stats_refuses_a_bad_since(util: UtilRunner) -> None:
    assert_one_line_error(util("stats", "--since", "yesterday"), "invalid --since 'yesterday'", code=2)


def test_stats_refuses_a_since_in_the_future(util: UtilRunner) -> None:
    assert_one_line_error(util("stats", "--since", "2999-01-01T00:00:00"), "is not in the past", code=2)
