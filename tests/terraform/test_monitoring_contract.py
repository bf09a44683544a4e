"""deployment/monitoring.tf names the function's metrics: namespace, metric names and fan-out sources must be
those of `lambda_src.observability.metrics`, or the dashboard charts and the alarms watch metrics nobody emits."""

from __future__ import annotations

import re

from lambda_src.observability.metrics import NAMESPACE, Metric, Source
from lambda_src.store.rate_limit import Spender

from .declarations import locals_attribute, resource, string_list, string_literal
from .paths import DEPLOYMENT_DIR

MONITORING_TF = DEPLOYMENT_DIR / "monitoring.tf"


def our_metric_names(text: str) -> set[str]:
    """Every metric of our namespace that monitoring.tf names, however it names it."""
    named = set(re.findall(r'local\.metrics_namespace,\s*"(\w+)"', text))
    named |= set(re.findall(r'MetricName=\\"(\w+)\\"', text))
    for listed in re.findall(r"setproduct\((\[[^\]]*\])", text):
        named |= set(string_list(listed))
    return named


def test_monitoring_tf_uses_the_functions_namespace_and_fanout_sources() -> None:
    assert string_literal(locals_attribute(MONITORING_TF, "metrics_namespace")) == NAMESPACE
    assert string_list(locals_attribute(MONITORING_TF, "fanout_sources")) == [source.value for source in Source]
    assert string_list(locals_attribute(MONITORING_TF, "budget_spenders")) == [spender.value for spender in Spender]


def test_every_metric_monitoring_tf_names_is_one_the_function_emits() -> None:
    named = our_metric_names(MONITORING_TF.read_text(encoding="utf-8"))

    assert named <= {metric.value for metric in Metric}
    # What the dashboard and alarms must cover (docs/operations.md).
    expected = {"Delivered", "Gone", "Failed", "Throttled", "Connects", "Disconnects", "RefusedConnects", "ErrorFrames"}
    expected |= {"BudgetRefused", "BudgetRefusedPosts"}
    assert named >= expected


def test_the_failed_deliveries_alarm_watches_the_failed_metric() -> None:
    body = resource(MONITORING_TF, "aws_cloudwatch_metric_alarm", "failed_deliveries")

    assert re.search(rf'metric_name\s*=\s*"{Metric.FAILED.value}"', body)
    assert "namespace   = local.metrics_namespace" in body
