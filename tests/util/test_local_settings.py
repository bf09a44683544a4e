"""`util local up`'s per-connection message limit and fan-out budget options: what the function gets, and what is
refused."""

from __future__ import annotations

import pytest

from util.errors import InputError
from util.local.settings import StackSettings


def test_by_default_the_stack_leaves_the_functions_own_message_limit() -> None:
    assert StackSettings().validate().message_rate_variables() == {}


def test_message_rate_and_burst_become_the_functions_variables() -> None:
    settings = StackSettings(message_rate_per_s=0.5, message_burst=3).validate()

    assert settings.message_rate_variables() == {"MESSAGE_RATE_PER_S": "0.5", "MESSAGE_BURST": "3"}


def test_the_fanout_budget_becomes_the_functions_variable_and_0_is_passed_on_as_off() -> None:
    assert StackSettings(fanout_budget_per_s=250.0).validate().message_rate_variables() == {
        "FANOUT_BUDGET_PER_S": "250"
    }
    assert StackSettings(fanout_budget_per_s=0.0).validate().message_rate_variables() == {"FANOUT_BUDGET_PER_S": "0"}


def test_a_message_rate_of_0_is_passed_on_as_off() -> None:
    assert StackSettings(message_rate_per_s=0.0).validate().message_rate_variables() == {"MESSAGE_RATE_PER_S": "0"}


@pytest.mark.parametrize(
    ("settings", "option"),
    [
        (StackSettings(message_rate_per_s=-1.0), "--message-rate"),
        (StackSettings(message_rate_per_s=1001.0), "--message-rate"),
        (StackSettings(message_burst=0), "--message-burst"),
        (StackSettings(message_burst=10_001), "--message-burst"),
        (StackSettings(fanout_budget_per_s=-1.0), "--fanout-budget"),
        (StackSettings(fanout_budget_per_s=100_001.0), "--fanout-budget"),
    ],
)
def test_a_limit_the_function_would_refuse_is_one_input_error_naming_the_option(
    settings: StackSettings, option: str
) -> None:
    with pytest.raises(InputError, match=option):
        settings.validate()
