"""The stack with `connection_store = "dynamodb"` applied for real against moto: the table Terraform creates is
the one the function's store and the local stack expect, and the outputs name it instead of a bucket.

One apply for the module (no bucket lifecycle to settle, so far shorter than the S3 apply), then destroy.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from lambda_src.store.contract import Connection
from lambda_src.store.dynamodb import DynamoDBConnectionStore
from util.environments import LOCAL_OUTPUT_NAMES, NULLABLE_OUTPUT_NAMES, OUTPUT_NAMES, WEB_OUTPUT_NAMES

from .moto_clients import MOTO_ACCOUNT_ID, MOTO_REGION, moto_client
from .workdir import Workdir, prepare

WORKSPACE = "cidyn"
NAME = f"wspush-{WORKSPACE}"
TABLE = f"{NAME}-connections"
APPLY_TIMEOUT_S = 240.0
DESTROY_TIMEOUT_S = 180.0
"""Measured 51 s at load 10 on this 2-core machine (an idle apply and destroy take seconds): a bound, not a wait."""
DYNAMODB = ("-var", "connection_store=dynamodb")


@dataclass(frozen=True)
class AppliedTable:
    workdir: Workdir
    moto_endpoint: str
    outputs: dict[str, Any]


@pytest.fixture(scope="module")
def applied(
    tmp_path_factory: pytest.TempPathFactory, terraform_cli_config: Path, moto_endpoint: str
) -> Iterator[AppliedTable]:
    workdir = prepare(tmp_path_factory.mktemp("applied-dynamodb") / "deployment", terraform_cli_config, moto_endpoint)
    workdir.run("workspace", "new", WORKSPACE)
    try:
        workdir.run("apply", "-auto-approve", *DYNAMODB, workspace=WORKSPACE, timeout_s=APPLY_TIMEOUT_S)
        yield AppliedTable(workdir, moto_endpoint, workdir.outputs(workspace=WORKSPACE))
    finally:
        workdir.run("destroy", "-auto-approve", *DYNAMODB, workspace=WORKSPACE, timeout_s=DESTROY_TIMEOUT_S)
        assert TABLE not in moto_client("dynamodb", moto_endpoint).list_tables()["TableNames"], "destroy left the table"


pytestmark = [pytest.mark.terraform, pytest.mark.timeout(APPLY_TIMEOUT_S + DESTROY_TIMEOUT_S + 60)]


def test_outputs_name_the_table_and_no_bucket(applied: AppliedTable) -> None:
    # Terraform leaves the null outputs out: the bucket, and (auth none) the jwt and user pool ones.
    assert sorted(applied.outputs) == sorted((set(OUTPUT_NAMES) - set(NULLABLE_OUTPUT_NAMES)) | {"connections_table"})
    assert applied.outputs["connections_table"] == TABLE
    buckets = [b["Name"] for b in moto_client("s3", applied.moto_endpoint).list_buckets()["Buckets"]]
    assert f"{NAME}-connections-{MOTO_ACCOUNT_ID}" not in buckets


def test_table_is_on_demand_keyed_pk_sk_encrypted_with_ttl_on_expires_at(applied: AppliedTable) -> None:
    dynamodb = moto_client("dynamodb", applied.moto_endpoint)

    table = dynamodb.describe_table(TableName=TABLE)["Table"]
    ttl = dynamodb.describe_time_to_live(TableName=TABLE)["TimeToLiveDescription"]
    backups = dynamodb.describe_continuous_backups(TableName=TABLE)["ContinuousBackupsDescription"]

    assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    assert table["KeySchema"] == [
        {"AttributeName": "pk", "KeyType": "HASH"},
        {"AttributeName": "sk", "KeyType": "RANGE"},
    ]
    assert table.get("GlobalSecondaryIndexes", []) == [] and table.get("LocalSecondaryIndexes", []) == []
    assert table["SSEDescription"]["Status"] == "ENABLED"
    assert ttl == {"TimeToLiveStatus": "ENABLED", "AttributeName": "expiresAt"}
    assert backups["PointInTimeRecoveryDescription"]["PointInTimeRecoveryStatus"] == "DISABLED"


def test_function_is_told_the_table_and_no_bucket(applied: AppliedTable) -> None:
    function = moto_client("lambda", applied.moto_endpoint).get_function(FunctionName=f"{NAME}-handler")
    variables = function["Configuration"]["Environment"]["Variables"]

    assert variables["CONNECTION_STORE"] == "dynamodb"
    assert variables["CONNECTIONS_TABLE"] == TABLE
    assert "CONNECTIONS_BUCKET" not in variables


def test_role_may_use_only_the_table_with_the_stores_calls(applied: AppliedTable) -> None:
    iam = moto_client("iam", applied.moto_endpoint)

    document = iam.get_role_policy(RoleName=f"{NAME}-handler", PolicyName=f"{NAME}-handler-access")["PolicyDocument"]
    document = json.loads(document) if isinstance(document, str) else document
    statements = {statement["Sid"]: statement for statement in document["Statement"]}

    assert set(statements) == {
        "ReadWriteConnectionTable",
        "PostToOwnConnections",
        "InvokeItselfForShards",
        "SendFailedEventsToDeadLetters",
        "WriteOwnLogGroup",
    }
    table = statements["ReadWriteConnectionTable"]
    assert table["Resource"] == f"arn:aws:dynamodb:{MOTO_REGION}:{MOTO_ACCOUNT_ID}:table/{TABLE}"
    assert sorted(table["Action"]) == [
        "dynamodb:BatchGetItem",
        "dynamodb:BatchWriteItem",
        "dynamodb:DeleteItem",
        "dynamodb:GetItem",
        "dynamodb:PutItem",
        "dynamodb:Query",
        "dynamodb:Scan",
        "dynamodb:UpdateItem",
    ]


def test_the_function_store_works_on_the_table_terraform_made(applied: AppliedTable) -> None:
    store = DynamoDBConnectionStore(
        moto_client("dynamodb", applied.moto_endpoint), applied.outputs["connections_table"]
    )

    store.add(Connection("c1", "alice", 1_700_000_000_000))
    joined = store.join(Connection("c1", "alice", 1_700_000_000_000), "lobby")

    assert joined.rooms == ("lobby",)
    assert list(store.connection_ids()) == ["c1"]
    assert list(store.room_members("lobby")) == ["c1"]
    assert store.remove(["c1"]) == 2


def test_terraform_outputs_and_a_dynamodb_local_stacks_state_file_carry_the_same_names(
    applied: AppliedTable, tmp_path: Path
) -> None:
    from util.local.settings import StackSettings
    from util.local.stack import StackThread

    state_path = tmp_path / "local-stack.json"
    settings = StackSettings(port=0, workers=1, workspace="contract", state_path=state_path, store="dynamodb")
    with StackThread(settings):
        local_names = set(json.loads(state_path.read_text()))

    from util.local.aws.credentials import STATE_KEY

    # The state file names every output (null where it does not apply) beside the stack's credentials.
    assert local_names - set(LOCAL_OUTPUT_NAMES) - set(WEB_OUTPUT_NAMES) - {STATE_KEY} == set(OUTPUT_NAMES)
    assert set(applied.outputs) <= local_names
