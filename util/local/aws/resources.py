"""The embedded moto server and the resources the deployment would create in it, by the contract's names.

Everything here blocks (boto3, a child process): the stack calls it from a thread. Each stack starts its own
moto, so it starts empty; creation is idempotent all the same, and the SNS delivery queue is the stack's own
and removed on stop.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import select
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config as BotoConfig

from lambda_src.config import STORE_NAME_VARIABLES, STORE_VARIABLE
from lambda_src.store.contract import ConnectionStore
from lambda_src.store.dynamodb import PARTITION_KEY, SORT_KEY, TTL_ATTRIBUTE
from lambda_src.store.open import StoreKind, open_store
from util.local.aws.credentials import CHILD_VARIABLES, STATE_KEY, LocalCredentials
from util.local.aws.names import StackNames

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_s3.type_defs import ObjectIdentifierTypeDef

LOGGER = logging.getLogger("wspush.local.aws")
MOTO_START_TIMEOUT_S = 60.0
MOTO_STOP_TIMEOUT_S = 10.0
DEAD_LETTER_RETENTION_S = 14 * 24 * 60 * 60
"""SQS's longest retention: failed events wait two weeks for `util dead-letters --replay` (as deployed)."""


@dataclass(frozen=True)
class MotoEndpoint:
    """The stack's embedded moto: where it listens, and the region and credentials its requests are signed with
    (the stack's own: its moto serves no others, and never the user's real keys)."""

    url: str
    region: str
    credentials: LocalCredentials

    def client(self, service: str) -> Any:
        return self.session().client(service, config=BotoConfig(retries={"mode": "standard"}))

    def session(self) -> EndpointSession:
        """A session whose clients all go to this moto (what `open_store` takes)."""
        return EndpointSession(
            boto3.session.Session(**self.credentials.client_kwargs(), region_name=self.region), self.url
        )


class EmbeddedMoto:
    """A moto server on a free port of 127.0.0.1, in a child process (`moto_process`) that dies with the stack.

    With `credentials` it serves only requests they signed for `region`, sent to its own Host (the stack's moto);
    with None, any request, as moto does (only the tests' shared moto, which Terraform signs with fixed keys).
    """

    def __init__(self, credentials: LocalCredentials | None, region: str, host: str = "127.0.0.1") -> None:
        self._credentials = credentials
        self._region = region
        self._host = host
        self._process: subprocess.Popen[bytes] | None = None
        self.endpoint_url = ""

    def start(self) -> str:
        environment = {
            **{name: value for name, value in os.environ.items() if name not in CHILD_VARIABLES},
            "MOTO_IAM_LOAD_MANAGED_POLICIES": "true",
            # moto's own switch: otherwise every answer allows any Origin to read it.
            "MOTO_DISABLE_GLOBAL_CORS": "true",
            **(self._credentials.child_environment() if self._credentials else {}),
        }
        process = self._process = subprocess.Popen(
            [sys.executable, "-m", "util.local.aws.moto_process", self._host, self._region],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=environment,
        )
        assert process.stdout is not None
        ready, _, _ = select.select([process.stdout], [], [], MOTO_START_TIMEOUT_S)
        line = process.stdout.readline() if ready else b""
        try:
            port = int(json.loads(line)["port"])
        except (ValueError, KeyError, TypeError):
            self.stop()
            raise RuntimeError(f"the embedded moto did not start within {MOTO_START_TIMEOUT_S:g} s") from None
        self.endpoint_url = f"http://{self._host}:{port}"
        return self.endpoint_url

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        assert process.stdin is not None and process.stdout is not None
        with contextlib.suppress(OSError):
            process.stdin.close()  # its end of input is moto's signal to stop
        try:
            process.wait(MOTO_STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        process.stdout.close()


@dataclass(frozen=True)
class Resources:
    names: StackNames
    delivery_queue_url: str
    subscription_arn: str
    dead_letter_queue_url: str
    dead_letter_queue_arn: str


def store_variables(store: str, names: StackNames) -> dict[str, str]:
    """The function's store variables, as deployment/lambda.tf sets them for this store."""
    kind = StoreKind(store)
    name = names.table if kind == StoreKind.DYNAMODB else names.bucket
    return {STORE_VARIABLE: kind.value, STORE_NAME_VARIABLES[kind]: name}


def store_outputs(store: str, names: StackNames) -> dict[str, str]:
    """The store's output: `connections_table` or `connections_bucket`, never both (Terraform drops a null one)."""
    return {"connections_table": names.table} if store == StoreKind.DYNAMODB else {"connections_bucket": names.bucket}


def account_id(moto: MotoEndpoint) -> str:
    return str(moto.client("sts").get_caller_identity()["Account"])


def provision(moto: MotoEndpoint, names: StackNames, delivery_queue: str, store: str = StoreKind.S3) -> Resources:
    """Create the store (bucket or table), topic and log groups as Terraform names them, and the SNS delivery queue."""
    if store == StoreKind.DYNAMODB:
        create_connections_table(moto.client("dynamodb"), names.table)
    else:
        s3: S3Client = moto.client("s3")
        s3.create_bucket(Bucket=names.bucket)  # us-east-1 answers 200 for a bucket one already owns
        empty_bucket(s3, names.bucket)
    sns = moto.client("sns")
    topic_arn = sns.create_topic(Name=names.topic)["TopicArn"]
    logs = moto.client("logs")
    for group in (names.lambda_log_group, names.api_log_group):
        with contextlib.suppress(logs.exceptions.ResourceAlreadyExistsException):
            logs.create_log_group(logGroupName=group)
    sqs = moto.client("sqs")
    queue_url = sqs.create_queue(QueueName=delivery_queue)["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    # Not raw delivery: the SNS envelope is what carries the message attributes.
    subscription = sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn, ReturnSubscriptionArn=True)
    # As deployment/dead_letters.tf: SQS-managed encryption, records kept 14 days (SQS's maximum).
    dead_letters_url = sqs.create_queue(
        QueueName=names.dead_letter_queue,
        Attributes={"SqsManagedSseEnabled": "true", "MessageRetentionPeriod": str(DEAD_LETTER_RETENTION_S)},
    )["QueueUrl"]
    dead_letters_arn = sqs.get_queue_attributes(QueueUrl=dead_letters_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    return Resources(names, queue_url, subscription["SubscriptionArn"], dead_letters_url, dead_letters_arn)


def create_connections_table(dynamodb: DynamoDBClient, table: str) -> None:
    """The DynamoDB store's table as deployment/dynamodb.tf creates it: keys `pk`/`sk`, on demand, TTL on `expiresAt`.

    A table left by an older stack in this moto is deleted first: a fresh stack starts with no connections.
    """
    with contextlib.suppress(dynamodb.exceptions.ResourceNotFoundException):
        dynamodb.delete_table(TableName=table)
        dynamodb.get_waiter("table_not_exists").wait(TableName=table, WaiterConfig={"Delay": 1})
    dynamodb.create_table(
        TableName=table,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[
            {"AttributeName": PARTITION_KEY, "AttributeType": "S"},
            {"AttributeName": SORT_KEY, "AttributeType": "S"},
        ],
        KeySchema=[
            {"AttributeName": PARTITION_KEY, "KeyType": "HASH"},
            {"AttributeName": SORT_KEY, "KeyType": "RANGE"},
        ],
        SSESpecification={"Enabled": True},
    )
    dynamodb.get_waiter("table_exists").wait(TableName=table, WaiterConfig={"Delay": 1})
    dynamodb.update_time_to_live(
        TableName=table, TimeToLiveSpecification={"Enabled": True, "AttributeName": TTL_ATTRIBUTE}
    )


def moto_of(outputs: Mapping[str, Any], credentials: LocalCredentials | None = None) -> MotoEndpoint:
    """The embedded moto of a stack, from its outputs, signed with `credentials` or else with those its state
    file holds beside the outputs (`STATE_KEY`: a state file's whole document carries them)."""
    credentials = credentials or LocalCredentials.from_state(outputs.get(STATE_KEY))
    if credentials is None:
        raise ValueError("no credentials for the stack's moto: pass the stack's, or its state file's document")
    return MotoEndpoint(str(outputs["aws_endpoint_url"]), str(outputs["region"]), credentials)


def store_for_outputs(outputs: Mapping[str, Any], credentials: LocalCredentials | None = None) -> ConnectionStore:
    """The connection store a local stack's outputs name (its bucket or its table), on its embedded moto
    (`credentials` as `moto_of` takes them).

    Tests and benchmarks read and seed the store through this, never through S3 keys or DynamoDB items.
    """
    table = outputs.get("connections_table")
    kind, name = (StoreKind.DYNAMODB, table) if table else (StoreKind.S3, outputs["connections_bucket"])
    return open_store(kind, str(name), moto_of(outputs, credentials).session())


class EndpointSession:
    """A boto3 session whose clients all go to one endpoint (the embedded moto)."""

    def __init__(self, session: boto3.session.Session, endpoint_url: str) -> None:
        self._session = session
        self._endpoint_url = endpoint_url

    def client(self, service: str, **options: Any) -> Any:
        return self._session.client(service, endpoint_url=self._endpoint_url, **options)  # type: ignore[call-overload]


def empty_bucket(s3: S3Client, bucket: str) -> None:
    """A fresh stack starts with no connections, even if this process's moto kept an older stack's."""
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        keys: list[ObjectIdentifierTypeDef] = [{"Key": item["Key"]} for item in page.get("Contents", [])]
        if keys:
            s3.delete_objects(Bucket=bucket, Delete={"Objects": keys, "Quiet": True})


def teardown(moto: MotoEndpoint, resources: Resources) -> None:
    with contextlib.suppress(Exception):
        moto.client("sns").unsubscribe(SubscriptionArn=resources.subscription_arn)
    with contextlib.suppress(Exception):
        moto.client("sqs").delete_queue(QueueUrl=resources.delivery_queue_url)


def fetch_object(moto: MotoEndpoint, bucket: str, key: str, version: str | None) -> bytes:
    s3: S3Client = moto.client("s3")
    extra = {"VersionId": version} if version else {}
    return s3.get_object(Bucket=bucket, Key=key, **extra)["Body"].read()  # type: ignore[arg-type]
