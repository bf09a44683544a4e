"""The local stack reads the function's EMF lines as CloudWatch does (util/local/aws/cloudwatch.py), and `util stats`
renders what it reads back (util/stats.py).

Specification: https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from lambda_src.observability.metrics import NAMESPACE, Metric, emf_record
from util.local.aws.cloudwatch import emf_metric_data
from util.stats import period_for, sparkline, stat_for


def test_the_functions_emf_line_becomes_one_datum_per_metric_with_its_dimensions_and_time() -> None:
    line = json.dumps(emf_record({Metric.DELIVERED: 15, Metric.GONE: 5}, {"Source": "broadcast"}, 1_700_000_000_000))

    data = emf_metric_data(line)

    moment = datetime.fromtimestamp(1_700_000_000, UTC)
    dimensions = [{"Name": "Source", "Value": "broadcast"}]
    assert data == [
        (
            NAMESPACE,
            {"MetricName": "Delivered", "Dimensions": dimensions, "Timestamp": moment, "Unit": "Count", "Value": 15.0},
        ),
        (
            NAMESPACE,
            {"MetricName": "Gone", "Dimensions": dimensions, "Timestamp": moment, "Unit": "Count", "Value": 5.0},
        ),
    ]


def test_every_dimension_set_of_a_directive_gets_its_own_datum_and_a_list_is_several_values() -> None:
    line = json.dumps(
        {
            "_aws": {
                "Timestamp": 0,
                "CloudWatchMetrics": [{"Namespace": "n", "Dimensions": [["A"], []], "Metrics": [{"Name": "M"}]}],
            },
            "A": "x",
            "M": [1, 2.5],
        }
    )

    data = emf_metric_data(line)

    assert [(ns, d["Dimensions"], d.get("Values")) for ns, d in data] == [
        ("n", [{"Name": "A", "Value": "x"}], [1.0, 2.5]),
        ("n", [], [1.0, 2.5]),
    ]


def directive(dimension_set: list[str]) -> dict[str, object]:
    return {
        "Timestamp": 0,
        "CloudWatchMetrics": [{"Namespace": "n", "Dimensions": [dimension_set], "Metrics": [{"Name": "M"}]}],
    }


@pytest.mark.parametrize(
    "line",
    [
        '{"level": "INFO", "message": "fanout", "delivered": 3}',
        "not json at all, though it mentions _aws",
        json.dumps({"_aws": directive(["Missing"]), "M": 1}),  # a dimension without its value
        json.dumps({"_aws": directive([]), "M": "1"}),  # a value that is not a number
        '{"_aws": {"CloudWatchMetrics": []}}',
    ],
)
def test_a_line_that_is_not_valid_emf_yields_no_metric(line: str) -> None:
    assert emf_metric_data(line) == []


def test_stats_sums_counts_and_averages_durations() -> None:
    assert stat_for(Metric.DELIVERED.value) == "Sum"
    assert stat_for(Metric.FANOUT_MS.value) == "Average"


def test_stats_picks_whole_minutes_for_about_thirty_points() -> None:
    assert period_for(15 * 60) == 60
    assert period_for(24 * 3600) == 48 * 60


def test_a_sparkline_scales_between_the_lowest_and_highest_value() -> None:
    assert sparkline([0, 7, 14]) == "▁▅█"
    assert sparkline([3, 3]) == "▅▅"
    assert sparkline([0, 0]) == "▁▁"
    assert sparkline([]) == ""
