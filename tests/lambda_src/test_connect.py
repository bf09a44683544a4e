"""$connect: names, the optional token, and what is stored."""

from __future__ import annotations

import logging
from dataclasses import replace

import pytest

from lambda_src.services import Services
from tests.strict_json import loads

from .conftest import connect_event, invoke, message_event
from .connections_server import ConnectionsServer
from .names import REFUSED_NAMES


def test_connect_stores_the_connection_with_its_name(services: Services) -> None:
    assert invoke(services, connect_event("a", {"name": "ada"})) == {"statusCode": 200}

    record = services.store.get("a")
    assert record is not None
    assert (record.name, record.source_ip, record.connected_at_ms, record.rooms) == (
        "ada",
        "127.0.0.1",
        1_700_000_000_000,
        (),
    )


def test_connect_without_name_is_anonymous(services: Services) -> None:
    invoke(services, connect_event("a"))

    record = services.store.get("a")
    assert record is not None and record.name == "anonymous"


def test_connect_with_a_name_over_64_characters_is_refused_and_nothing_stored(services: Services) -> None:
    result = invoke(services, connect_event("a", {"name": "n" * 65}))

    assert result["statusCode"] == 400
    assert loads(result["body"])["code"] == "name_too_long"
    assert services.store.get("a") is None


@pytest.mark.parametrize("query", [None, {}, {"token": "wrong"}, {"token": "s3cret-but-longer"}, {"name": "x"}])
def test_connect_without_the_right_token_gets_401_and_nothing_stored(
    services: Services, query: dict[str, str] | None
) -> None:
    services.config = replace(services.config, connect_token="s3cret")

    result = invoke(services, connect_event("a", query))

    assert result["statusCode"] == 401
    assert loads(result["body"])["code"] == "unauthorized"
    assert services.store.get("a") is None


def test_connect_with_the_right_token_is_accepted(services: Services) -> None:
    services.config = replace(services.config, connect_token="s3cret")

    assert invoke(services, connect_event("a", {"token": "s3cret"})) == {"statusCode": 200}
    assert services.store.get("a") is not None


def test_token_never_appears_in_the_logs(services: Services, capsys: pytest.CaptureFixture[str]) -> None:
    services.config = replace(services.config, connect_token="s3cret-token-value")
    capsys.readouterr()

    invoke(services, connect_event("a", {"token": "wrong-token-value"}))
    invoke(services, connect_event("b", {"token": "s3cret-token-value"}))

    out = capsys.readouterr().out
    assert out.strip(), "the handler logs its connects"
    assert "s3cret-token-value" not in out and "wrong-token-value" not in out


@pytest.mark.parametrize("name", [n for _, n in REFUSED_NAMES], ids=[case for case, _ in REFUSED_NAMES])
def test_connect_with_a_control_format_or_surrogate_character_in_the_name_is_refused_with_invalid_field(
    services: Services, caplog: pytest.LogCaptureFixture, name: str
) -> None:
    caplog.set_level(logging.INFO, logger="wspush")

    result = invoke(services, connect_event("a", {"name": name}))

    assert result["statusCode"] == 400
    body = loads(result["body"])
    assert (body["type"], body["code"]) == ("error", "invalid_field")
    assert body["error"].isprintable() and body["error"].isascii()
    assert services.store.get("a") is None
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []


@pytest.mark.parametrize(
    "name",
    [
        "Zoë",
        "José María",
        "王小明",
        "مریم",
        "\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645",
        "👩\u200d💻",
        "🇫🇷",
        "a.b-c_d e",
    ],
    ids=["latin", "spaces", "han", "arabic script", "persian zwnj", "emoji zwj sequence", "flag", "punctuation"],
)
def test_connect_keeps_names_in_any_script_and_emoji(
    services: Services, connections_server: ConnectionsServer, name: str
) -> None:
    assert invoke(services, connect_event("a", {"name": name})) == {"statusCode": 200}

    invoke(services, message_event("a", {"action": "whoami"}))

    assert connections_server.frames("a") == [{"type": "whoami", "connectionId": "a", "name": name}]


def test_connect_with_a_lone_surrogate_in_the_token_is_refused_401_not_failed(
    services: Services, caplog: pytest.LogCaptureFixture
) -> None:
    services.config = replace(services.config, connect_token="s3cret")
    caplog.set_level(logging.INFO, logger="wspush")

    result = invoke(services, connect_event("a", {"token": "s3cret\ud800"}))

    assert result["statusCode"] == 401
    assert loads(result["body"])["code"] == "unauthorized"
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []
