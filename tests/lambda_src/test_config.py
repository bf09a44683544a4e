"""The configuration read from the environment: the room cap (`MAX_ROOMS_PER_CONNECTION`)."""

from __future__ import annotations

import pytest

from lambda_src.config import Config, ConfigError

BASE = {"CONNECTIONS_BUCKET": "b", "CONNECTIONS_URL": "http://127.0.0.1:1/stage"}


def test_max_rooms_per_connection_defaults_to_50() -> None:
    assert Config.from_env(BASE).max_rooms_per_connection == 50


def test_max_rooms_per_connection_is_read_from_the_environment() -> None:
    assert Config.from_env({**BASE, "MAX_ROOMS_PER_CONNECTION": "7"}).max_rooms_per_connection == 7


@pytest.mark.parametrize("raw", ["0", "1001", "-1", "many", "5.5"])
def test_max_rooms_per_connection_outside_1_to_1000_is_a_config_error_naming_it(raw: str) -> None:
    with pytest.raises(ConfigError, match="MAX_ROOMS_PER_CONNECTION"):
        Config.from_env({**BASE, "MAX_ROOMS_PER_CONNECTION": raw})
