"""Pushes from SNS: every record delivered verbatim, attributes narrowing the recipients."""

from __future__ import annotations

from lambda_src.limits import MAX_MESSAGE_BYTES
from lambda_src.services import Services

from .conftest import add_connections, invoke, sns_record
from .connections_server import ConnectionsServer


def _raw(server: ConnectionsServer) -> dict[str, list[bytes]]:
    delivered: dict[str, list[bytes]] = {}
    for cid, data in server.posts:
        delivered.setdefault(cid, []).append(data)
    return delivered


def test_three_records_each_delivered_verbatim_to_the_right_recipients(
    services: Services, connections_server: ConnectionsServer
) -> None:
    add_connections(services, ["a", "b", "c"], rooms={"lobby": ["b"]})
    json_text = '{"price":  1.50, "sym": "ACME"}'
    event = {
        "Records": [
            sns_record(json_text, message_id="1"),
            sns_record("plain text, not JSON", message_id="2"),
            sns_record('{"only": "lobby"}', {"room": "lobby"}, message_id="3"),
        ]
    }

    result = invoke(services, event)

    assert result == {"statusCode": 200, "records": 3, "delivered": 3, "failed": 0}
    everyone = [json_text.encode(), b"plain text, not JSON"]
    assert _raw(connections_server) == {"a": everyone, "c": everyone, "b": [*everyone, b'{"only": "lobby"}']}


def test_connection_id_attribute_targets_one_connection(
    services: Services, connections_server: ConnectionsServer
) -> None:
    add_connections(services, ["a", "b"])

    invoke(services, {"Records": [sns_record("for b", {"connectionId": "b"})]})

    assert _raw(connections_server) == {"b": [b"for b"]}


def test_bad_record_is_skipped_and_the_others_delivered(
    services: Services, connections_server: ConnectionsServer
) -> None:
    add_connections(services, ["a"])
    event = {
        "Records": [
            sns_record("x" * (MAX_MESSAGE_BYTES + 1), message_id="big"),
            sns_record("to a bad room", {"room": "no/such"}, message_id="bad-room"),
            {"EventSource": "aws:sqs", "body": "not sns"},
            sns_record("fine", message_id="ok"),
        ]
    }

    result = invoke(services, event)

    assert result == {"statusCode": 500, "records": 3, "delivered": 1, "failed": 2}
    assert _raw(connections_server) == {"a": [b"fine"]}


def test_unknown_events_are_answered_not_raised(services: Services, connections_server: ConnectionsServer) -> None:
    events: list[object] = [
        None,
        [],
        "text",
        {},
        {"Records": "no"},
        {"requestContext": {"eventType": "CONNECT"}},
        {"requestContext": {"connectionId": "a", "eventType": "WHAT"}},
    ]
    for event in events:
        assert invoke(services, event) == {"statusCode": 400}
    assert connections_server.posts == []
