"""The embedded moto server and the resources the deployment would create in it, by the contract's names.

Everything here blocks (boto3, werkzeug): the stack calls it from a thread. moto keeps its state per process,
so a second stack in the same process (tests) finds the previous one's resources: creation is idempotent,
the bucket is emptied, and the SNS delivery queue is the stack's own and removed on stop.
"""

from __future__ import annotations

import contextlib
import logging
import os
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config as BotoConfig

from .names import StackNames

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_s3.type_defs import ObjectIdentifierTypeDef

LOGGER = logging.getLogger("wspush.local.aws")


def client(service: str, endpoint_url: str, region: str) -> Any:
    """A boto3 client on the embedded moto: fake credentials, never the user's real ones."""
    session = boto3.session.Session(aws_access_key_id="test", aws_secret_access_key="test", region_name=region)
    return session.client(
        service,  # type: ignore[call-overload]
        endpoint_url=endpoint_url,
        config=BotoConfig(retries={"mode": "standard"}),
    )


def _trim_moto_overheads() -> None:
    """Remove two per-request costs of moto's server that the local stack pays on the gateway's GIL.

    Profiled under the benchmarks (docs/benchmarks.md), both answers never change in a running process:
    - moto finds a request's backend by listing its own package directory (`os.listdir` plus `isdir` on ~150
      entries) on every request: about a fifth of moto's CPU per S3 call. The listing is cached.
    - moto's response serializer re-parses every timestamp it has just formatted with dateutil; a
      ListObjectsV2 page of 1,000 keys spent ~90 ms of CPU on that. ISO 8601 strings with a zone (all that
      moto formats) are parsed with `datetime.fromisoformat`; anything else still goes to moto's own parser.
    Idempotent; a moto without these names is left as it is.
    """
    from moto import backends
    from moto.core import serialize as serialize_module

    serialize: Any = serialize_module  # its parser is an import moto does not re-export
    listing = backends.list_of_moto_modules
    if not getattr(listing, "wspush_cached", False):
        modules = tuple(listing())

        def cached_listing() -> tuple[str, ...]:
            return modules

        cached_listing.wspush_cached = True  # type: ignore[attr-defined]
        backends.list_of_moto_modules = cached_listing

    parse = getattr(serialize, "parse_to_aware_datetime", None)
    if parse is not None and not getattr(parse, "wspush_fast", False):

        def fast_parse(value: Any) -> Any:
            if isinstance(value, datetime) and value.tzinfo is not None:
                return value
            if isinstance(value, str):
                try:
                    parsed = datetime.fromisoformat(value)
                except ValueError:
                    return parse(value)
                if parsed.tzinfo is not None:
                    return parsed
            return parse(value)

        fast_parse.wspush_fast = True  # type: ignore[attr-defined]
        serialize.parse_to_aware_datetime = fast_parse


class EmbeddedMoto:
    """A moto server on a free port of 127.0.0.1, in a thread of this process."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self._host = host
        self._server: Any = None
        self.endpoint_url = ""

    def start(self) -> str:
        from moto.server import ThreadedMotoServer

        _trim_moto_overheads()
        os.environ.setdefault("MOTO_IAM_LOAD_MANAGED_POLICIES", "true")
        # moto's werkzeug logs one line per request: far too loud next to the stack's own output.
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
        self._server = ThreadedMotoServer(ip_address=self._host, port=0, verbose=False)
        self._server.start()
        host, port = self._server.get_host_and_port()
        self.endpoint_url = f"http://{host}:{port}"
        return self.endpoint_url

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            # werkzeug's shutdown leaves the listening socket open; close it so the port is free at once.
            inner = getattr(self._server, "_server", None)
            if inner is not None:
                inner.server_close()
            self._server = None


@dataclass(frozen=True)
class Resources:
    names: StackNames
    delivery_queue_url: str
    subscription_arn: str


def account_id(endpoint_url: str, region: str) -> str:
    return str(client("sts", endpoint_url, region).get_caller_identity()["Account"])


def provision(endpoint_url: str, names: StackNames, delivery_queue: str) -> Resources:
    """Create bucket, topic and log groups (as Terraform names them), and the SNS delivery queue."""
    region = names.region
    s3: S3Client = client("s3", endpoint_url, region)
    s3.create_bucket(Bucket=names.bucket)  # us-east-1 answers 200 for a bucket one already owns
    empty_bucket(s3, names.bucket)
    sns = client("sns", endpoint_url, region)
    topic_arn = sns.create_topic(Name=names.topic)["TopicArn"]
    logs = client("logs", endpoint_url, region)
    for group in (names.lambda_log_group, names.api_log_group):
        with contextlib.suppress(logs.exceptions.ResourceAlreadyExistsException):
            logs.create_log_group(logGroupName=group)
    sqs = client("sqs", endpoint_url, region)
    queue_url = sqs.create_queue(QueueName=delivery_queue)["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    # Not raw delivery: the SNS envelope is what carries the message attributes.
    subscription = sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn, ReturnSubscriptionArn=True)
    return Resources(names, queue_url, subscription["SubscriptionArn"])


def empty_bucket(s3: S3Client, bucket: str) -> None:
    """A fresh stack starts with no connections, even if this process's moto kept an older stack's."""
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        keys: list[ObjectIdentifierTypeDef] = [{"Key": item["Key"]} for item in page.get("Contents", [])]
        if keys:
            s3.delete_objects(Bucket=bucket, Delete={"Objects": keys, "Quiet": True})


def teardown(endpoint_url: str, resources: Resources) -> None:
    region = resources.names.region
    with contextlib.suppress(Exception):
        client("sns", endpoint_url, region).unsubscribe(SubscriptionArn=resources.subscription_arn)
    with contextlib.suppress(Exception):
        client("sqs", endpoint_url, region).delete_queue(QueueUrl=resources.delivery_queue_url)


def fetch_object(endpoint_url: str, region: str, bucket: str, key: str, version: str | None) -> bytes:
    s3: S3Client = client("s3", endpoint_url, region)
    extra = {"VersionId": version} if version else {}
    return s3.get_object(Bucket=bucket, Key=key, **extra)["Body"].read()  # type: ignore[arg-type]
