"""The stack applied for real against a moto server, in a fresh workspace, checked, then destroyed.

One apply for the whole module (~70 s, most of it the provider settling the bucket's lifecycle
configuration): every test here reads the same applied workspace. Then `util outputs` and
`util lambda-deploy` run against it as a user would, and a second plan shows that Terraform leaves
the deployed code alone.
"""

from __future__ import annotations

import base64
import hashlib
import json
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from lambda_src.handlers.message import ROUTE_KEYS
from util.environments import (
    LOCAL_OUTPUT_NAMES,
    NULLABLE_OUTPUT_NAMES,
    OUTPUT_NAMES,
    WEB_HOSTING_OUTPUT_NAMES,
    WEB_OUTPUT_NAMES,
)

from .moto_clients import MOTO_ACCOUNT_ID, MOTO_REGION, moto_client
from .placeholder import PLACEHOLDER_ZIP
from .workdir import BackgroundRun, Workdir, prepare

WORKSPACE = "ci"
APPLY_TIMEOUT_S = 240.0
PLAN_TIMEOUT_S = 90.0
DESTROY_TIMEOUT_S = 300.0
"""Destroying the web variant's CloudFront distribution means disabling it and waiting until that is deployed."""
UTIL_TIMEOUT_S = 60.0
ACCOUNT_ID = MOTO_ACCOUNT_ID
REGION = MOTO_REGION
NAME = f"wspush-{WORKSPACE}"
APPLIED_OUTPUT_NAMES = (set(OUTPUT_NAMES) - set(NULLABLE_OUTPUT_NAMES)) | {"connections_bucket"}
"""What `terraform output` names for this workspace (S3 store, auth none): the null outputs are left out."""
FORCE_DESTROY = ("-var", "force_destroy=true")
WEB_HOSTING = ("-var", "web_hosting=true")
WEB_MOTO_OVERRIDE_FILE = "web_moto_override.tf"
WEB_MOTO_OVERRIDE = """\
# Written by tests/terraform: moto (5.2) has no CloudFront response headers policies, so this copy leaves
# the policy out (the distribution then names none). deployment/tests/web.tftest.hcl specifies it.
resource "aws_cloudfront_response_headers_policy" "web" {
  count = 0
}
"""

# Fixture setup (the apply) counts toward the first test's timeout.
pytestmark = pytest.mark.timeout(APPLY_TIMEOUT_S + DESTROY_TIMEOUT_S + 60)


@dataclass(frozen=True)
class AppliedWorkspace:
    """A workspace of a copy of `deployment/` applied against moto.

    `workdir.env` is the environment terraform needs there (TF_CLI_CONFIG_FILE for offline init,
    no TF_WORKSPACE: pass the workspace per command).
    """

    workdir: Workdir
    workspace: str
    moto_endpoint: str
    outputs: dict[str, Any]
    function_after_apply: dict[str, Any]
    """The function's configuration right after the apply, before any test deploys code."""

    @property
    def directory(self) -> Path:
        return self.workdir.directory


@pytest.fixture(scope="module")
def applied_workspace(
    tmp_path_factory: pytest.TempPathFactory,
    terraform_cli_config: Path,
    moto_endpoint: str,
    moto_terraform_test: BackgroundRun,
) -> Iterator[AppliedWorkspace]:
    """Apply in workspace `ci` against moto, yield it, destroy it (and check that nothing is left).

    Requesting `moto_terraform_test` starts that run in the background now, to overlap this apply.
    """
    workdir = prepare(tmp_path_factory.mktemp("applied") / "deployment", terraform_cli_config, moto_endpoint)
    workdir.run("workspace", "new", WORKSPACE)
    try:
        workdir.run("apply", "-auto-approve", *FORCE_DESTROY, workspace=WORKSPACE, timeout_s=APPLY_TIMEOUT_S)
        outputs = workdir.outputs(workspace=WORKSPACE)
        function = moto_client("lambda", moto_endpoint).get_function(FunctionName=outputs["lambda_function_name"])
        yield AppliedWorkspace(workdir, WORKSPACE, moto_endpoint, outputs, function["Configuration"])
    finally:
        workdir.run("destroy", "-auto-approve", *FORCE_DESTROY, workspace=WORKSPACE, timeout_s=DESTROY_TIMEOUT_S)
        functions = moto_client("lambda", moto_endpoint).list_functions()["Functions"]
        assert f"{NAME}-handler" not in [f["FunctionName"] for f in functions], "destroy left the function"


def client(applied: AppliedWorkspace, service: str) -> Any:
    return moto_client(service, applied.moto_endpoint)


def test_outputs_are_exactly_the_contract_names(applied_workspace: AppliedWorkspace) -> None:
    # Terraform leaves null outputs out of `terraform output`: the table (an S3 workspace) and, without jwt and a
    # user pool, those outputs are absent.
    assert sorted(applied_workspace.outputs) == sorted(APPLIED_OUTPUT_NAMES)


def test_outputs_name_this_workspaces_resources(applied_workspace: AppliedWorkspace) -> None:
    api_id = applied_workspace.outputs["api_id"]
    host = f"{api_id}.execute-api.{REGION}.amazonaws.com"

    assert isinstance(api_id, str)
    assert api_id.isalnum()
    outputs = dict(applied_workspace.outputs)
    # moto answers with a URL on its own endpoint; AWS's is https://sqs.REGION.amazonaws.com/ACCOUNT/NAME.
    assert str(outputs.pop("dead_letter_queue_url")).endswith(f"/{ACCOUNT_ID}/{NAME}-dead-letters")
    assert outputs == {
        "websocket_url": f"wss://{host}/live",
        "connections_url": f"https://{host}/live",
        "api_id": api_id,
        "stage": "live",
        "region": REGION,
        "lambda_function_name": f"{NAME}-handler",
        "sns_topic_arn": f"arn:aws:sns:{REGION}:{ACCOUNT_ID}:{NAME}-push",
        "connections_bucket": f"{NAME}-connections-{ACCOUNT_ID}",
        "lambda_log_group": f"/aws/lambda/{NAME}-handler",
        "api_log_group": f"/aws/apigateway/{NAME}-api",
        "auth_mode": "none",
    }


def test_function_runs_the_placeholder_with_the_stacks_environment(applied_workspace: AppliedWorkspace) -> None:
    outputs = applied_workspace.outputs
    placeholder_sha256 = base64.b64encode(hashlib.sha256(PLACEHOLDER_ZIP.read_bytes()).digest()).decode()

    configuration = applied_workspace.function_after_apply

    assert configuration["Handler"] == "lambda_src.app.handler"
    assert configuration["Runtime"] == "python3.12"
    assert configuration["CodeSha256"] == placeholder_sha256
    assert configuration["Role"] == f"arn:aws:iam::{ACCOUNT_ID}:role/{NAME}-handler"
    assert configuration["TracingConfig"] == {"Mode": "Active"}
    assert configuration["Environment"]["Variables"] == {
        "CONNECTION_STORE": "s3",
        "CONNECTIONS_BUCKET": outputs["connections_bucket"],
        "CONNECTIONS_URL": outputs["connections_url"],
        "FANOUT_BUDGET_PER_S": "1000",
        "FANOUT_CONCURRENCY": "64",
        "HISTORY_PAGE_LIMIT": "100",
        "HISTORY_RETENTION_HOURS": "24",
        "HISTORY_SIZE": "100",
        "LOG_LEVEL": "INFO",
        "MESSAGE_BURST": "20",
        "MESSAGE_RATE_PER_S": "5",
        "PRESENCE_MAX_MEMBERS": "100",
        "SHARD_SIZE": "1000",
        "AUTH_MODE": "none",
    }


def test_handler_policy_names_only_this_stacks_resources(applied_workspace: AppliedWorkspace) -> None:
    outputs = applied_workspace.outputs
    iam = client(applied_workspace, "iam")
    bucket_arn = f"arn:aws:s3:::{outputs['connections_bucket']}"

    document = iam.get_role_policy(RoleName=f"{NAME}-handler", PolicyName=f"{NAME}-handler-access")["PolicyDocument"]
    document = json.loads(document) if isinstance(document, str) else document
    attached = iam.list_attached_role_policies(RoleName=f"{NAME}-handler")["AttachedPolicies"]

    resources = {
        statement["Sid"]: sorted(
            [statement["Resource"]] if isinstance(statement["Resource"], str) else statement["Resource"]
        )
        for statement in document["Statement"]
    }
    assert resources == {
        "ReadWriteConnectionRecords": [
            f"{bucket_arn}/claims/*",
            f"{bucket_arn}/connections/*",
            f"{bucket_arn}/rates/*",
            f"{bucket_arn}/rooms/*",
        ],
        "ReadWriteRoomHistory": [f"{bucket_arn}/history/*"],
        "ListConnectionStore": [bucket_arn],
        "PostToOwnConnections": [
            f"arn:aws:execute-api:{REGION}:{ACCOUNT_ID}:{outputs['api_id']}/live/POST/@connections/*"
        ],
        "InvokeItselfForShards": [f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:{outputs['lambda_function_name']}"],
        "SendFailedEventsToDeadLetters": [f"arn:aws:sqs:{REGION}:{ACCOUNT_ID}:{NAME}-dead-letters"],
        "WriteOwnLogGroup": [f"arn:aws:logs:{REGION}:{ACCOUNT_ID}:log-group:{outputs['lambda_log_group']}:*"],
    }
    assert {statement["Effect"] for statement in document["Statement"]} == {"Allow"}
    assert [policy["PolicyName"] for policy in attached] == ["AWSXRayDaemonWriteAccess"]


def test_failed_asynchronous_events_and_undeliverable_pushes_go_to_the_encrypted_dead_letter_queue(
    applied_workspace: AppliedWorkspace,
) -> None:
    outputs = applied_workspace.outputs
    queue_arn = f"arn:aws:sqs:{REGION}:{ACCOUNT_ID}:{NAME}-dead-letters"

    config = client(applied_workspace, "lambda").get_function_event_invoke_config(
        FunctionName=outputs["lambda_function_name"]
    )
    attributes = client(applied_workspace, "sqs").get_queue_attributes(
        QueueUrl=outputs["dead_letter_queue_url"], AttributeNames=["All"]
    )["Attributes"]
    [subscription] = client(applied_workspace, "sns").list_subscriptions_by_topic(TopicArn=outputs["sns_topic_arn"])[
        "Subscriptions"
    ]
    subscription_attributes = client(applied_workspace, "sns").get_subscription_attributes(
        SubscriptionArn=subscription["SubscriptionArn"]
    )["Attributes"]

    assert (config["MaximumRetryAttempts"], config["MaximumEventAgeInSeconds"]) == (2, 600)
    assert config["DestinationConfig"]["OnFailure"]["Destination"] == queue_arn
    assert (attributes["QueueArn"], attributes["SqsManagedSseEnabled"]) == (queue_arn, "true")
    assert attributes["MessageRetentionPeriod"] == "1209600"
    assert json.loads(subscription_attributes["RedrivePolicy"]) == {"deadLetterTargetArn": queue_arn}
    [sns_may_send, tls_only] = json.loads(attributes["Policy"])["Statement"]
    assert sns_may_send["Principal"] == {"Service": "sns.amazonaws.com"}
    assert sns_may_send["Condition"] == {"ArnEquals": {"aws:SourceArn": outputs["sns_topic_arn"]}}
    assert (tls_only["Effect"], tls_only["Condition"]) == ("Deny", {"Bool": {"aws:SecureTransport": "false"}})


def test_every_route_targets_the_one_lambda_integration(applied_workspace: AppliedWorkspace) -> None:
    api = client(applied_workspace, "apigatewayv2")
    api_id = applied_workspace.outputs["api_id"]

    integrations = api.get_integrations(ApiId=api_id)["Items"]
    routes = api.get_routes(ApiId=api_id)["Items"]

    assert len(integrations) == 1
    integration = integrations[0]
    assert integration["IntegrationType"] == "AWS_PROXY"
    assert integration["IntegrationUri"].endswith(
        f":function:{applied_workspace.outputs['lambda_function_name']}/invocations"
    )
    assert sorted(route["RouteKey"] for route in routes) == sorted(ROUTE_KEYS)
    assert {route["Target"] for route in routes} == {f"integrations/{integration['IntegrationId']}"}


def test_api_selects_routes_by_action(applied_workspace: AppliedWorkspace) -> None:
    api = client(applied_workspace, "apigatewayv2").get_api(ApiId=applied_workspace.outputs["api_id"])

    assert api["ProtocolType"] == "WEBSOCKET"
    assert api["RouteSelectionExpression"] == "$request.body.action"
    assert api["Name"] == f"{NAME}-api"


def test_the_stage_throttles_broadcast_on_its_own_and_the_function_reserves_its_concurrency(
    applied_workspace: AppliedWorkspace,
) -> None:
    outputs = applied_workspace.outputs
    stage = client(applied_workspace, "apigatewayv2").get_stage(ApiId=outputs["api_id"], StageName=outputs["stage"])
    concurrency = client(applied_workspace, "lambda").get_function_concurrency(
        FunctionName=outputs["lambda_function_name"]
    )

    throttles = {
        key: (settings.get("ThrottlingBurstLimit"), settings.get("ThrottlingRateLimit"))
        for key, settings in stage.get("RouteSettings", {}).items()
    }
    assert throttles == {"broadcast": (20, 10.0)}
    assert concurrency["ReservedConcurrentExecutions"] == 100


def test_bucket_is_private_encrypted_tls_only_and_expires_store_records(applied_workspace: AppliedWorkspace) -> None:
    s3 = client(applied_workspace, "s3")
    bucket = applied_workspace.outputs["connections_bucket"]

    public_access = s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
    encryption = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"]
    policy = json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"])
    rules = s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]

    assert public_access == {
        "BlockPublicAcls": True,
        "IgnorePublicAcls": True,
        "BlockPublicPolicy": True,
        "RestrictPublicBuckets": True,
    }
    assert [rule["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] for rule in encryption] == ["AES256"]
    assert [(s["Effect"], s["Condition"]) for s in policy["Statement"]] == [
        ("Deny", {"Bool": {"aws:SecureTransport": "false"}})
    ]
    expiring = {rule["Filter"].get("Prefix"): rule["Expiration"]["Days"] for rule in rules if "Expiration" in rule}
    assert expiring == {"connections/": 1, "rooms/": 1, "history/": 1, "rates/": 1, "claims/": 1}
    assert [
        rule["AbortIncompleteMultipartUpload"]["DaysAfterInitiation"]
        for rule in rules
        if "AbortIncompleteMultipartUpload" in rule
    ] == [1]


def test_topic_delivers_to_the_handler(applied_workspace: AppliedWorkspace) -> None:
    subscriptions = client(applied_workspace, "sns").list_subscriptions_by_topic(
        TopicArn=applied_workspace.outputs["sns_topic_arn"]
    )["Subscriptions"]

    assert [(s["Protocol"], s["Endpoint"]) for s in subscriptions] == [
        ("lambda", f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:{NAME}-handler")
    ]


def test_log_groups_keep_logs_fourteen_days(applied_workspace: AppliedWorkspace) -> None:
    logs = client(applied_workspace, "logs")
    names = [applied_workspace.outputs["lambda_log_group"], applied_workspace.outputs["api_log_group"]]

    retention = {
        group["logGroupName"]: group.get("retentionInDays")
        for name in names
        for group in logs.describe_log_groups(logGroupNamePrefix=name)["logGroups"]
    }

    assert retention == dict.fromkeys(names, 14)


def test_api_gateway_account_settings_are_left_alone_by_default(applied_workspace: AppliedWorkspace) -> None:
    state = applied_workspace.workdir.run("state", "list", workspace=WORKSPACE).stdout.split()

    assert "aws_api_gateway_account.this[0]" not in state
    assert "aws_iam_role.api_gateway_logging[0]" not in state
    assert len(state) >= 25


# ---------------------------------------------------------------------------------------------------
# `util` against the applied workspace: the same commands a user runs after `terraform apply`.
# (LEAD: the place for further `util` checks against this workspace.) They run util in a subprocess
# with: WSPUSH_DEPLOYMENT_DIR = the applied copy, TF_CLI_CONFIG_FILE from workdir.env (offline
# terraform), AWS_ENDPOINT_URL = moto (util's boto3 clients on a workspace carry no endpoint).
# ---------------------------------------------------------------------------------------------------


def run_util(applied: AppliedWorkspace, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **applied.workdir.env,
        "WSPUSH_DEPLOYMENT_DIR": str(applied.directory),
        "AWS_ENDPOINT_URL": applied.moto_endpoint,
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_DEFAULT_REGION": REGION,
    }
    return subprocess.run(
        [sys.executable, "-c", "from util.cli import app; app()", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=UTIL_TIMEOUT_S,
        check=False,
    )


def test_util_outputs_reads_the_applied_workspace(applied_workspace: AppliedWorkspace) -> None:
    result = run_util(applied_workspace, "outputs", WORKSPACE, "--json")

    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == applied_workspace.outputs


def test_util_lambda_deploy_replaces_the_placeholder_code(applied_workspace: AppliedWorkspace) -> None:
    function_name = applied_workspace.outputs["lambda_function_name"]
    functions = client(applied_workspace, "lambda")
    before = functions.get_function(FunctionName=function_name)["Configuration"]["CodeSha256"]

    result = run_util(applied_workspace, "lambda-deploy", WORKSPACE)

    after = functions.get_function(FunctionName=function_name)["Configuration"]["CodeSha256"]
    assert result.returncode == 0, result.stderr
    assert after != before
    assert f"CodeSha256: {after}" in result.stdout


def test_util_web_deploy_without_web_hosting_is_one_line(applied_workspace: AppliedWorkspace) -> None:
    result = run_util(applied_workspace, "web-deploy", WORKSPACE)

    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines() == [
        f"error: environment {WORKSPACE!r} does not host the page: set web_hosting = true in its workspace "
        "and run `terraform apply`"
    ]


def test_second_plan_changes_nothing_but_the_logging_config_moto_drops(
    applied_workspace: AppliedWorkspace, tmp_path: Path
) -> None:
    # Last in the module on purpose: after `util lambda-deploy` above, Terraform must not want the
    # placeholder code back (ignore_changes on the function's code).
    plan_file = tmp_path / "second.tfplan"
    workdir = applied_workspace.workdir
    workdir.run("plan", *FORCE_DESTROY, f"-out={plan_file}", workspace=WORKSPACE, timeout_s=PLAN_TIMEOUT_S)
    plan = json.loads(
        workdir.run("show", "-json", str(plan_file), workspace=WORKSPACE, timeout_s=PLAN_TIMEOUT_S).stdout
    )

    changes = {
        change["address"]: change["change"]
        for change in plan.get("resource_changes", [])
        if change["change"]["actions"] != ["no-op"]
    }

    # moto does not store a function's logging_config, so a plan always wants to set it again.
    assert list(changes) == ["aws_lambda_function.handler"]
    change = changes["aws_lambda_function.handler"]
    assert change["actions"] == ["update"]
    differing = sorted(key for key in change["after"] if change["before"].get(key) != change["after"][key])
    assert differing == ["logging_config"]


# ---------------------------------------------------------------------------------------------------
# The web variant: the same workspace applied again with web_hosting = true (after every test above,
# which specify the default), then `util web-deploy` into it. The module's destroy removes it all.
# ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class WebHostedWorkspace:
    applied: AppliedWorkspace
    outputs: dict[str, Any]


@pytest.fixture(scope="module")
def web_hosted(applied_workspace: AppliedWorkspace) -> WebHostedWorkspace:
    workdir = applied_workspace.workdir
    (workdir.directory / WEB_MOTO_OVERRIDE_FILE).write_text(WEB_MOTO_OVERRIDE, encoding="utf-8")
    workdir.run("apply", "-auto-approve", *FORCE_DESTROY, *WEB_HOSTING, workspace=WORKSPACE, timeout_s=APPLY_TIMEOUT_S)
    return WebHostedWorkspace(applied_workspace, workdir.outputs(workspace=WORKSPACE))


def test_web_hosting_adds_the_web_outputs_and_changes_no_other(web_hosted: WebHostedWorkspace) -> None:
    outputs = web_hosted.outputs

    assert sorted(outputs) == sorted({*APPLIED_OUTPUT_NAMES, *WEB_OUTPUT_NAMES, *WEB_HOSTING_OUTPUT_NAMES})
    assert {name: outputs[name] for name in APPLIED_OUTPUT_NAMES} == web_hosted.applied.outputs
    assert outputs["web_bucket"] == f"{NAME}-web-{ACCOUNT_ID}"
    distribution = client(web_hosted.applied, "cloudfront").get_distribution(Id=outputs["web_distribution_id"])
    assert outputs["web_url"] == f"https://{distribution['Distribution']['DomainName']}/"


def test_web_bucket_is_private_encrypted_tls_only_and_readable_by_the_distribution_alone(
    web_hosted: WebHostedWorkspace,
) -> None:
    s3 = client(web_hosted.applied, "s3")
    bucket = web_hosted.outputs["web_bucket"]
    distribution = client(web_hosted.applied, "cloudfront").get_distribution(
        Id=web_hosted.outputs["web_distribution_id"]
    )

    public_access = s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
    encryption = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"]
    statements = json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"])["Statement"]

    assert set(public_access.values()) == {True} and len(public_access) == 4
    assert [rule["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] for rule in encryption] == ["AES256"]
    assert [(s["Sid"], s["Effect"], s["Principal"], s["Condition"]) for s in statements] == [
        (
            "CloudFrontReadsThePage",
            "Allow",
            {"Service": "cloudfront.amazonaws.com"},
            {"StringEquals": {"AWS:SourceArn": distribution["Distribution"]["ARN"]}},
        ),
        ("DenyInsecureTransport", "Deny", "*", {"Bool": {"aws:SecureTransport": "false"}}),
    ]
    assert statements[0]["Action"] == "s3:GetObject"
    assert statements[0]["Resource"] == f"arn:aws:s3:::{bucket}/*"


def test_distribution_reads_the_bucket_through_origin_access_control_over_https_only(
    web_hosted: WebHostedWorkspace,
) -> None:
    cloudfront = client(web_hosted.applied, "cloudfront")
    config = cloudfront.get_distribution(Id=web_hosted.outputs["web_distribution_id"])["Distribution"][
        "DistributionConfig"
    ]
    origins = config["Origins"]["Items"]
    controls = cloudfront.list_origin_access_controls()["OriginAccessControlList"]["Items"]
    # moto (5.2) keeps no OriginAccessControlId on an origin: that the distribution uses this control is
    # asserted by deployment/tests (mocked, and the moto run of `terraform test` on Terraform's values).
    control = next(item for item in controls if item["Name"] == f"{NAME}-web")

    assert len(origins) == 1
    assert origins[0]["DomainName"].startswith(f"{web_hosted.outputs['web_bucket']}.s3.")
    assert "CustomOriginConfig" not in origins[0]
    assert (control["OriginAccessControlOriginType"], control["SigningBehavior"], control["SigningProtocol"]) == (
        "s3",
        "always",
        "sigv4",
    )
    assert config["DefaultRootObject"] == "index.html"
    assert config["Enabled"] is True
    assert config["DefaultCacheBehavior"]["ViewerProtocolPolicy"] == "https-only"
    assert config["ViewerCertificate"]["CloudFrontDefaultCertificate"] is True


def test_util_web_deploy_uploads_the_page_and_config_json_then_nothing(web_hosted: WebHostedWorkspace) -> None:
    from util.browser.page import page_files

    outputs = web_hosted.outputs
    s3 = client(web_hosted.applied, "s3")

    # moto (5.2) refuses every object request to a bucket whose policy has the TLS-only Deny: it does not
    # evaluate the statement's `aws:SecureTransport` condition. AWS lets an HTTPS upload through. So the
    # policy is set aside for the upload only (the test above checked it).
    policy = s3.get_bucket_policy(Bucket=outputs["web_bucket"])["Policy"]
    s3.delete_bucket_policy(Bucket=outputs["web_bucket"])
    try:
        first = run_util(web_hosted.applied, "web-deploy", WORKSPACE)
        second = run_util(web_hosted.applied, "web-deploy", WORKSPACE)
        keys = sorted(item["Key"] for item in s3.list_objects_v2(Bucket=outputs["web_bucket"]).get("Contents", []))
        config = s3.get_object(Bucket=outputs["web_bucket"], Key="config.json")["Body"].read()
    finally:
        s3.put_bucket_policy(Bucket=outputs["web_bucket"], Policy=policy)

    assert first.returncode == 0, first.stderr
    assert first.stdout.strip() == f"web_url: {outputs['web_url']}"
    assert keys == sorted([*(file.path for file in page_files()), "config.json"])
    assert json.loads(config) == {"websocket_url": outputs["websocket_url"]}
    invalidations = client(web_hosted.applied, "cloudfront").list_invalidations(
        DistributionId=outputs["web_distribution_id"]
    )["InvalidationList"]
    assert invalidations["Quantity"] == 1
    assert second.returncode == 0, second.stderr
    assert "nothing to upload" in second.stderr
    assert "uploaded" not in second.stderr


def test_terraform_outputs_and_the_local_state_file_carry_the_same_names(
    web_hosted: WebHostedWorkspace, tmp_path: Path
) -> None:
    """Every `util` command reads one outputs mapping for any environment: the applied stack (hosting the page)
    and a running local stack's state file must name the same outputs; the local stack adds its own
    endpoints, Terraform the bucket and distribution that `util web-deploy` uploads to."""
    from util.local.aws.credentials import STATE_KEY
    from util.local.settings import StackSettings
    from util.local.stack import StackThread

    state_path = tmp_path / "local-stack.json"
    with StackThread(StackSettings(port=0, workers=1, workspace="contract", state_path=state_path)):
        local_names = set(json.loads(state_path.read_text()))

    local_only = set(LOCAL_OUTPUT_NAMES)
    # The stack's credentials sit beside the outputs under their own key, which is no output.
    assert STATE_KEY in local_names and STATE_KEY not in web_hosted.outputs
    local_names.discard(STATE_KEY)
    # The state file names every output, null where it does not apply; Terraform omits the null ones, and only
    # the applied stack has the bucket and distribution that `util web-deploy` uploads to.
    assert local_names - local_only == set(OUTPUT_NAMES) | set(WEB_OUTPUT_NAMES)
    assert set(web_hosted.outputs) == APPLIED_OUTPUT_NAMES | set(WEB_OUTPUT_NAMES) | set(WEB_HOSTING_OUTPUT_NAMES)
    assert local_only <= local_names
