"""What the deployment and the Python code must agree on, read from the .tf files (no terraform run needed).

Terraform cannot import Python, so `deployment/` repeats a few facts; each test here fails when a copy drifts
from its one Python source: the route keys (`lambda_src.handlers.message`), the access-log format
(`util.local.gateway.access_log`), the handler and runtime (`lambda_src.function`) and the route selection expression.
"""

from __future__ import annotations

import json
import re

from lambda_src.config import (
    DEFAULT_FANOUT_BUDGET_PER_S,
    DEFAULT_MESSAGE_BURST,
    DEFAULT_MESSAGE_RATE_PER_S,
    MAX_FANOUT_BUDGET_PER_S,
    MAX_MESSAGE_BURST,
    MAX_MESSAGE_RATE_PER_S,
    Config,
    fanout_budget,
)
from lambda_src.function import HANDLER, RUNTIME
from lambda_src.handlers.message import ACTIONS, ROUTE_KEYS, ROUTE_SELECTION_EXPRESSION, ROUTES
from lambda_src.store.rate_limit import RateLimit
from util.dependencies import runtime_facts
from util.local.aws.names import StackNames
from util.local.gateway.access_log import ACCESS_LOG_FORMAT, access_line
from util.local.gateway.events import ConnectionFacts
from util.local.settings import DEFAULT_ASYNC_MAX_EVENT_AGE_S, DEFAULT_ASYNC_RETRY_ATTEMPTS, StackSettings

from .declarations import (
    attribute,
    blocks,
    jsonencoded_object,
    locals_attribute,
    resource,
    string_list,
    string_literal,
)
from .paths import DEPLOYMENT_DIR


def test_locals_tf_declares_exactly_the_route_keys_of_the_route_table() -> None:
    declared = string_list(locals_attribute(DEPLOYMENT_DIR / "locals.tf", "route_keys"))

    assert sorted(declared) == sorted(ROUTE_KEYS), (
        "deployment/locals.tf route_keys must list lambda_src.handlers.message"
    )
    assert len(declared) == len(set(declared))


def test_the_route_keys_are_the_reserved_routes_and_every_action() -> None:
    assert ("$connect", "$disconnect", "$default", *ACTIONS) == ROUTE_KEYS
    assert tuple(ROUTES) == ACTIONS


def test_the_local_stack_declares_the_route_table_by_default() -> None:
    assert StackSettings().routes == ROUTE_KEYS
    assert StackSettings().route_selection_expression == ROUTE_SELECTION_EXPRESSION


def test_api_tf_selects_routes_by_the_expression_the_function_reads() -> None:
    api = resource(DEPLOYMENT_DIR / "api.tf", "aws_apigatewayv2_api", "this")

    assert string_literal(attribute(api, "route_selection_expression")) == ROUTE_SELECTION_EXPRESSION


def test_api_tf_access_log_format_is_the_local_stacks_field_for_field() -> None:
    stage = resource(DEPLOYMENT_DIR / "api.tf", "aws_apigatewayv2_stage", "this")

    declared = jsonencoded_object(stage, "format")

    assert declared == dict(ACCESS_LOG_FORMAT)


def test_lambda_tf_declares_the_handler_and_runtime_of_lambda_src_function() -> None:
    function = resource(DEPLOYMENT_DIR / "lambda.tf", "aws_lambda_function", "handler")

    # The runtime comes from deployment/lambda-runtime.json, which `util lambda-build` reads too.
    assert attribute(function, "runtime") == "local.lambda_runtime.runtime"
    assert runtime_facts(DEPLOYMENT_DIR).runtime == RUNTIME
    assert string_literal(attribute(function, "handler")) == HANDLER


def test_a_local_access_log_line_has_exactly_the_stages_fields() -> None:
    facts = ConnectionFacts("api1", "live", "127.0.0.1:3001", "conn-1=", 1_700_000_000_000, "127.0.0.1", None)

    line = json.loads(
        access_line(
            facts,
            request_id="req-1",
            epoch_ms=1_700_000_000_123,
            event_type="MESSAGE",
            route_key="send",
            status=500,
            integration_status=200,
            integration_latency_ms=12,
            message_id="msg-1",
            error="Internal server error",
            integration_error="boom",
        )
    )

    assert list(line) == list(ACCESS_LOG_FORMAT)
    assert line == {
        "requestId": "req-1",
        "requestTimeEpoch": 1_700_000_000_123,
        "connectionId": "conn-1=",
        "eventType": "MESSAGE",
        "routeKey": "send",
        "messageId": "msg-1",
        "status": 500,
        "sourceIp": "127.0.0.1",
        "integrationLatency": 12,
        "integrationStatus": 200,
        "error": "Internal server error",
        "integrationError": "boom",
    }


def test_the_local_stacks_event_invoke_config_is_the_deployments_by_default() -> None:
    variables = blocks(DEPLOYMENT_DIR / "variables.tf", "variable")
    settings = StackSettings()

    assert attribute(variables["async_max_retry_attempts"], "default") == str(DEFAULT_ASYNC_RETRY_ATTEMPTS)
    assert attribute(variables["async_max_event_age_s"], "default") == str(DEFAULT_ASYNC_MAX_EVENT_AGE_S)
    assert (settings.async_max_retry_attempts, settings.async_max_event_age_s) == (
        DEFAULT_ASYNC_RETRY_ATTEMPTS,
        DEFAULT_ASYNC_MAX_EVENT_AGE_S,
    )


def test_the_dead_letter_queue_is_named_alike_by_terraform_and_the_local_stack() -> None:
    assert locals_attribute(DEPLOYMENT_DIR / "locals.tf", "dead_letter_queue_name") == '"${local.name}-dead-letters"'
    assert StackNames(workspace="dev").dead_letter_queue == "wspush-dev-dead-letters"


def test_the_event_invoke_config_sends_failures_to_the_dead_letter_queue_that_sns_redrives_to() -> None:
    config = resource(DEPLOYMENT_DIR / "dead_letters.tf", "aws_lambda_function_event_invoke_config", "handler")
    subscription = resource(DEPLOYMENT_DIR / "sns.tf", "aws_sns_topic_subscription", "handler")

    assert "destination = aws_sqs_queue.dead_letters.arn" in config
    assert attribute(config, "maximum_retry_attempts") == "var.async_max_retry_attempts"
    assert attribute(config, "maximum_event_age_in_seconds") == "var.async_max_event_age_s"
    assert attribute(subscription, "redrive_policy") == (
        "jsonencode({ deadLetterTargetArn = aws_sqs_queue.dead_letters.arn })"
    )


def test_the_message_rate_limit_variables_have_the_functions_defaults_and_bounds() -> None:
    declared = blocks(DEPLOYMENT_DIR / "variables.tf", "variable")
    rate, burst = declared["message_rate_per_s"], declared["message_burst"]

    assert float(attribute(rate, "default") or "nan") == DEFAULT_MESSAGE_RATE_PER_S
    assert int(attribute(burst, "default") or "-1") == DEFAULT_MESSAGE_BURST
    assert f"var.message_rate_per_s <= {MAX_MESSAGE_RATE_PER_S:g}" in rate
    assert f"var.message_burst <= {MAX_MESSAGE_BURST}" in burst


def test_the_function_gets_the_rate_limit_variables_under_the_names_it_reads() -> None:
    text = (DEPLOYMENT_DIR / "lambda.tf").read_text(encoding="utf-8")
    passed = dict(re.findall(r"^\s+(MESSAGE_\w+)\s*=\s*tostring\(var\.(\w+)\)$", text, re.MULTILINE))

    assert passed == {"MESSAGE_RATE_PER_S": "message_rate_per_s", "MESSAGE_BURST": "message_burst"}
    read = Config.from_env({"CONNECTIONS_BUCKET": "b", "CONNECTIONS_URL": "https://x", **dict.fromkeys(passed, "3")})
    assert read.message_rate == RateLimit(rate_per_s=3.0, burst=3)


FANOUT_BUDGET_VARIABLE = "FANOUT_BUDGET_PER_S"


def test_the_fanout_budget_is_one_fact_in_terraform_the_function_and_the_local_stack() -> None:
    declared = blocks(DEPLOYMENT_DIR / "variables.tf", "variable")["fanout_budget_per_s"]
    lambda_tf = (DEPLOYMENT_DIR / "lambda.tf").read_text(encoding="utf-8")
    env = {"CONNECTIONS_BUCKET": "b", "CONNECTIONS_URL": "https://x"}

    # Terraform's default and bound are the function's.
    assert float(attribute(declared, "default") or "nan") == DEFAULT_FANOUT_BUDGET_PER_S
    assert f"var.fanout_budget_per_s <= {MAX_FANOUT_BUDGET_PER_S:g}" in declared
    # Terraform passes it under the name the function reads, and the function reads it so.
    assert re.search(
        rf"^\s+{FANOUT_BUDGET_VARIABLE}\s*=\s*tostring\(var\.fanout_budget_per_s\)$", lambda_tf, re.MULTILINE
    )
    assert Config.from_env(env | {FANOUT_BUDGET_VARIABLE: "250"}).fanout_budget == fanout_budget(250.0)
    assert Config.from_env(env).fanout_budget == fanout_budget(DEFAULT_FANOUT_BUDGET_PER_S)
    # The local stack sets nothing by default (the function's default, as Terraform's is), and what it sets is the
    # function's variable, within the function's bounds.
    assert FANOUT_BUDGET_VARIABLE not in StackSettings().validate().message_rate_variables()
    local = StackSettings(fanout_budget_per_s=MAX_FANOUT_BUDGET_PER_S).validate().message_rate_variables()
    assert Config.from_env(env | local).fanout_budget == fanout_budget(MAX_FANOUT_BUDGET_PER_S)


def test_the_broadcast_route_throttle_names_a_route_of_the_table() -> None:
    assert string_literal(locals_attribute(DEPLOYMENT_DIR / "locals.tf", "broadcast_route")) in ACTIONS
    assert "route_key              = local.broadcast_route" in (DEPLOYMENT_DIR / "api.tf").read_text(encoding="utf-8")
