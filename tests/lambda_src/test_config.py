"""The configuration read from the environment: the room cap (`MAX_ROOMS_PER_CONNECTION`), history and presence,
the message rate limit."""

from __future__ import annotations

import pytest

from lambda_src.config import Config
from lambda_src.errors import ConfigError
from lambda_src.store.rate_limit import RateLimit

BASE = {"CONNECTIONS_BUCKET": "b", "CONNECTIONS_URL": "http://127.0.0.1:1/stage"}


def test_max_rooms_per_connection_defaults_to_50() -> None:
    assert Config.from_env(BASE).max_rooms_per_connection == 50


def test_max_rooms_per_connection_is_read_from_the_environment() -> None:
    assert Config.from_env({**BASE, "MAX_ROOMS_PER_CONNECTION": "7"}).max_rooms_per_connection == 7


@pytest.mark.parametrize("raw", ["0", "1001", "-1", "many", "5.5"])
def test_max_rooms_per_connection_outside_1_to_1000_is_a_config_error_naming_it(raw: str) -> None:
    with pytest.raises(ConfigError, match="MAX_ROOMS_PER_CONNECTION"):
        Config.from_env({**BASE, "MAX_ROOMS_PER_CONNECTION": raw})


def test_history_and_presence_settings_default_to_100_24_h_100_and_100() -> None:
    config = Config.from_env(BASE)

    assert (config.history_size, config.history_retention_hours, config.history_page_limit) == (100, 24, 100)
    assert config.presence_max_members == 100


def test_history_and_presence_settings_are_read_from_the_environment() -> None:
    env = {
        "HISTORY_SIZE": "0",
        "HISTORY_RETENTION_HOURS": "720",
        "HISTORY_PAGE_LIMIT": "1",
        "PRESENCE_MAX_MEMBERS": "0",
    }
    config = Config.from_env({**BASE, **env})

    assert (config.history_size, config.history_retention_hours, config.history_page_limit) == (0, 720, 1)
    assert config.presence_max_members == 0


def test_each_connection_may_send_5_messages_a_second_and_20_at_once_by_default() -> None:
    assert Config.from_env(BASE).message_rate == RateLimit(rate_per_s=5.0, burst=20)
    assert Config(connections_bucket="b", connections_url="http://x").message_rate == RateLimit(5.0, 20)


def test_the_message_rate_limit_is_read_from_the_environment() -> None:
    env = {**BASE, "MESSAGE_RATE_PER_S": "0.5", "MESSAGE_BURST": "3"}

    assert Config.from_env(env).message_rate == RateLimit(rate_per_s=0.5, burst=3)


def test_a_message_rate_of_0_turns_the_limit_off() -> None:
    assert Config.from_env({**BASE, "MESSAGE_RATE_PER_S": "0"}).message_rate is None


@pytest.mark.parametrize(
    ("name", "raw"),
    [
        ("HISTORY_SIZE", "1001"),
        ("HISTORY_SIZE", "-1"),
        ("HISTORY_RETENTION_HOURS", "0"),
        ("HISTORY_RETENTION_HOURS", "721"),
        ("HISTORY_PAGE_LIMIT", "0"),
        ("HISTORY_PAGE_LIMIT", "1001"),
        ("PRESENCE_MAX_MEMBERS", "100001"),
        ("PRESENCE_MAX_MEMBERS", "ten"),
        ("MESSAGE_RATE_PER_S", "-1"),
        ("MESSAGE_RATE_PER_S", "1000.5"),
        ("MESSAGE_RATE_PER_S", "nan"),
        ("MESSAGE_RATE_PER_S", "fast"),
        ("MESSAGE_BURST", "0"),
        ("MESSAGE_BURST", "10001"),
        ("MESSAGE_BURST", "2.5"),
    ],
)
def test_history_presence_and_rate_settings_out_of_range_are_a_config_error_naming_them(name: str, raw: str) -> None:
    with pytest.raises(ConfigError, match=name):
        Config.from_env({**BASE, name: raw})
