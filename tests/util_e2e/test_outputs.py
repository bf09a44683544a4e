"""`util outputs local` reads the running stack's state file: every output of the contract, as written."""

from __future__ import annotations

import json
from urllib.parse import urlsplit

import pytest

from tests.stack_harness import LocalUp
from util.local.aws.credentials import STATE_KEY

from .conftest import UtilRunner

pytestmark = pytest.mark.timeout(60)

CONTRACT_OUTPUTS = {
    "websocket_url",
    "connections_url",
    "api_id",
    "stage",
    "region",
    "lambda_function_name",
    "sns_topic_arn",
    "connections_bucket",
    "connections_table",
    "lambda_log_group",
    "api_log_group",
    "dead_letter_queue_url",
    "auth_mode",
    "jwt_issuer",
    "jwt_audience",
    "jwks_url",
    "user_pool_id",
    "user_pool_client_id",
}
"""Written out here, not imported from `util`: the test must notice if the code drops one."""
LOCAL_ONLY_OUTPUTS = {"aws_endpoint_url", "lambda_endpoint_url", "local_issuer_key"}
WEB_OUTPUTS = {"web_url"}
"""The browser client's page: the local stack always serves it (Terraform only with web_hosting)."""
MOTO_ACCOUNT_ID = "123456789012"


def test_outputs_local_json_equals_the_state_file_and_has_every_contract_name(
    local_up: LocalUp, util: UtilRunner
) -> None:
    result = util("outputs", "local", "--json")

    assert result.code == 0, result
    outputs = json.loads(result.stdout)
    state = json.loads(local_up.state_path.read_text(encoding="utf-8"))
    assert outputs == {name: value for name, value in state.items() if name != STATE_KEY}
    assert set(outputs) == CONTRACT_OUTPUTS | WEB_OUTPUTS | LOCAL_ONLY_OUTPUTS


def test_outputs_never_show_the_stacks_credentials(local_up: LocalUp, util: UtilRunner) -> None:
    """The state file holds them beside the outputs; neither form of `util outputs` prints them."""
    credentials = local_up.credentials
    for args in (("outputs", "local", "--json"), ("outputs", "local")):
        result = util(*args)
        assert result.code == 0, result
        for secret in (credentials.secret_access_key, credentials.session_token, credentials.access_key_id):
            assert secret not in result.stdout + result.stderr


def test_the_local_stacks_outputs_follow_the_naming_contract(local_up: LocalUp, util: UtilRunner) -> None:
    outputs = json.loads(util("outputs", "--env", "local", "--json").stdout)
    port = urlsplit(outputs["websocket_url"]).port

    hidden = ("api_id", "aws_endpoint_url", "dead_letter_queue_url")
    assert {key: value for key, value in outputs.items() if key not in hidden} == {
        "websocket_url": f"ws://127.0.0.1:{port}/live",
        "connections_url": f"http://127.0.0.1:{port}/live",
        "lambda_endpoint_url": f"http://127.0.0.1:{port}",
        "web_url": f"http://127.0.0.1:{port}/",
        "stage": "live",
        "region": "us-east-1",
        "lambda_function_name": "wspush-local-handler",
        "sns_topic_arn": f"arn:aws:sns:us-east-1:{MOTO_ACCOUNT_ID}:wspush-local-push",
        "connections_bucket": f"wspush-local-connections-{MOTO_ACCOUNT_ID}",
        "lambda_log_group": "/aws/lambda/wspush-local-handler",
        "api_log_group": "/aws/apigateway/wspush-local-api",
        # An S3 stack with auth none: the outputs that do not apply are null, as Terraform's would be.
        "connections_table": None,
        "auth_mode": "none",
        "jwt_issuer": None,
        "jwt_audience": None,
        "jwks_url": None,
        "user_pool_id": None,
        "user_pool_client_id": None,
        "local_issuer_key": None,
    }
    assert urlsplit(outputs["aws_endpoint_url"]).hostname == "127.0.0.1"
    # The stack's own queue in its moto, by the deployment's name.
    assert (
        outputs["dead_letter_queue_url"] == f"{outputs['aws_endpoint_url']}/{MOTO_ACCOUNT_ID}/wspush-local-dead-letters"
    )
    assert outputs["api_id"]
