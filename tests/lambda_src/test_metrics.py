"""The function's EMF metrics: the record's shape (CloudWatch's specification), and what each event emits.

Specification: https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from lambda_src.observability import metrics
from lambda_src.observability.metrics import NAMESPACE, Metric, Source
from lambda_src.services import Services

from .conftest import add_connections, connect_event, disconnect_event, invoke, message_event
from .connections_server import ConnectionsServer


def emf_lines(output: str) -> list[dict[str, Any]]:
    records = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    return [record for record in records if "_aws" in record]


def test_an_emf_record_declares_its_metrics_dimensions_and_values_as_the_specification_says() -> None:
    record = metrics.emf_record({Metric.DELIVERED: 15, Metric.FANOUT_MS: 7}, {"Source": "push"}, 1_700_000_000_123)

    assert record == {
        "_aws": {
            "Timestamp": 1_700_000_000_123,
            "CloudWatchMetrics": [
                {
                    "Namespace": NAMESPACE,
                    "Dimensions": [["Source"]],
                    "Metrics": [
                        {"Name": "Delivered", "Unit": "Count"},
                        {"Name": "FanoutDuration", "Unit": "Milliseconds"},
                    ],
                }
            ],
        },
        "Source": "push",
        "Delivered": 15,
        "FanoutDuration": 7,
    }


def test_emit_writes_one_compact_json_line(capsys: pytest.CaptureFixture[str]) -> None:
    metrics.connected()

    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 1
    record = json.loads(lines[0])
    assert record["Connects"] == 1
    assert record["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [[]]


def test_a_broadcast_emits_its_fanout_summary_by_source_without_connection_ids(
    services: Services, connections_server: ConnectionsServer, capsys: pytest.CaptureFixture[str]
) -> None:
    add_connections(services, ["alice", "bob", "carol"])
    connections_server.gone = {"carol"}
    capsys.readouterr()

    invoke(services, message_event("alice", {"action": "broadcast", "message": "hi"}))

    (record,) = [r for r in emf_lines(capsys.readouterr().out) if "Recipients" in r]
    assert record["Source"] == Source.BROADCAST.value
    assert (record["Recipients"], record["Delivered"], record["Gone"], record["Failed"]) == (3, 2, 1, 0)
    dimension_names = {name for d in record["_aws"]["CloudWatchMetrics"][0]["Dimensions"] for name in d}
    assert dimension_names == {"Source"}


def test_a_broadcast_that_meets_the_quota_publishes_its_429s_as_throttled(
    services: Services, connections_server: ConnectionsServer, capsys: pytest.CaptureFixture[str]
) -> None:
    add_connections(services, ["alice", "bob", "carol"])
    connections_server.scripted = {"bob": [429, 429], "carol": [429]}
    capsys.readouterr()

    invoke(services, message_event("alice", {"action": "broadcast", "message": "hi"}))

    (record,) = [r for r in emf_lines(capsys.readouterr().out) if "Recipients" in r]
    assert (record["Recipients"], record["Delivered"], record["Failed"], record["Throttled"]) == (3, 3, 0, 3)
    declared = {m["Name"]: m["Unit"] for m in record["_aws"]["CloudWatchMetrics"][0]["Metrics"]}
    assert declared[Metric.THROTTLED.value] == "Count"


def test_connects_refusals_disconnects_and_error_frames_are_counted(
    services: Services, capsys: pytest.CaptureFixture[str]
) -> None:
    invoke(services, connect_event("alice"))
    invoke(services, connect_event("bob", {"name": "x" * 65}))
    invoke(services, message_event("alice", {"action": "shout"}))
    invoke(services, disconnect_event("alice"))

    records = emf_lines(capsys.readouterr().out)
    counted = [
        (name, r.get("Code"))
        for r in records
        for name in (m["Name"] for m in r["_aws"]["CloudWatchMetrics"][0]["Metrics"])
    ]
    assert counted == [
        ("Connects", None),
        ("RefusedConnects", "name_too_long"),
        ("ErrorFrames", "unknown_action"),
        ("Disconnects", None),
    ]
