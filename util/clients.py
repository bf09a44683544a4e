"""boto3 clients for an environment, made from its outputs: region and endpoints in one place.

On AWS the outputs carry no endpoint, so boto3 resolves it as usual (including its own
`AWS_ENDPOINT_URL*` variables). The local stack's outputs carry `aws_endpoint_url` (its embedded moto)
and `lambda_endpoint_url` (its own Lambda API, which runs the code for real; moto cannot).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .environments import Outputs
from .errors import MissingOutputs

if TYPE_CHECKING:
    import boto3
    from mypy_boto3_apigatewaymanagementapi.client import ApiGatewayManagementApiClient
    from mypy_boto3_cloudfront.client import CloudFrontClient
    from mypy_boto3_cloudwatch.client import CloudWatchClient
    from mypy_boto3_lambda.client import LambdaClient
    from mypy_boto3_logs.client import CloudWatchLogsClient
    from mypy_boto3_s3.client import S3Client
    from mypy_boto3_sns.client import SNSClient
    from mypy_boto3_sqs.client import SQSClient

    from lambda_src.store.contract import ConnectionStore

CONNECT_TIMEOUT_S = 5
READ_TIMEOUT_S = 60
MAX_ATTEMPTS = 4


def sns_client(outputs: Outputs) -> SNSClient:
    return _session(outputs).client("sns", endpoint_url=outputs.get("aws_endpoint_url"), config=_config())


def sqs_client(outputs: Outputs) -> SQSClient:
    """SQS of the environment (the dead-letter queue: `util dead-letters`)."""
    return _session(outputs).client("sqs", endpoint_url=outputs.get("aws_endpoint_url"), config=_config())


def logs_client(outputs: Outputs) -> CloudWatchLogsClient:
    return _session(outputs).client("logs", endpoint_url=outputs.get("aws_endpoint_url"), config=_config())


def s3_client(outputs: Outputs) -> S3Client:
    return _session(outputs).client("s3", endpoint_url=outputs.get("aws_endpoint_url"), config=_config())


def cloudwatch_client(outputs: Outputs) -> CloudWatchClient:
    return _session(outputs).client("cloudwatch", endpoint_url=outputs.get("aws_endpoint_url"), config=_config())


def management_client(outputs: Outputs) -> ApiGatewayManagementApiClient:
    """`@connections` of the environment's stage (the local stack's gateway serves it, signed alike)."""
    return _session(outputs).client(
        "apigatewaymanagementapi", endpoint_url=outputs.require("connections_url"), config=_config()
    )


def lambda_client(outputs: Outputs) -> LambdaClient:
    endpoint = outputs.get("lambda_endpoint_url") or outputs.get("aws_endpoint_url")
    return _session(outputs).client("lambda", endpoint_url=endpoint, config=_config())


def cloudfront_client(outputs: Outputs) -> CloudFrontClient:
    return _session(outputs).client("cloudfront", endpoint_url=outputs.get("aws_endpoint_url"), config=_config())


def connection_store(outputs: Outputs) -> ConnectionStore:
    """The environment's connection store, as the function builds it: its table if it has one, else its bucket."""
    from lambda_src.store.open import StoreKind, open_store

    table = outputs.get("connections_table")
    kind, name = (StoreKind.DYNAMODB, table) if table else (StoreKind.S3, outputs.require("connections_bucket"))
    return open_store(kind, name, _EndpointSession(_session(outputs), outputs.get("aws_endpoint_url")))


class _EndpointSession:
    """A session whose clients go to the environment's endpoint (the local stack's moto; AWS's own: None)."""

    def __init__(self, session: boto3.Session, endpoint_url: str | None) -> None:
        self._session = session
        self._endpoint_url = endpoint_url

    def client(self, service: str, **options: Any) -> Any:
        return self._session.client(service, endpoint_url=self._endpoint_url, **options)  # type: ignore[call-overload]


def _config() -> Any:
    from botocore.config import Config

    return Config(
        connect_timeout=CONNECT_TIMEOUT_S,
        read_timeout=READ_TIMEOUT_S,
        retries={"mode": "standard", "max_attempts": MAX_ATTEMPTS},
    )


def _session(outputs: Outputs) -> boto3.Session:
    # Imported here, not at the top: boto3 takes ~0.1 s to import and `util --help` or `connect` need none of it.
    import boto3

    region = outputs.require("region")
    if outputs.is_local:
        # The stack's own credentials, never the user's real keys: its Lambda API accepts no others.
        if outputs.credentials is None:
            raise MissingOutputs(
                f"environment {outputs.env!r} has no credentials in its state file: "
                "restart the local stack (`util local up`)"
            )
        return boto3.Session(**outputs.credentials.client_kwargs(), region_name=region)
    return boto3.Session(region_name=region)
