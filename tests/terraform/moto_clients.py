"""boto3 clients for the moto server the Terraform tests apply against.

Credentials and region are explicit: module-scoped fixtures tear down after the per-test
fake-credential environment of tests/conftest.py is gone.
"""

from __future__ import annotations

from typing import Any

import boto3

MOTO_REGION = "us-east-1"
MOTO_ACCOUNT_ID = "123456789012"
"""moto's fixed account id."""
MOTO_CREDENTIAL = "test"


def moto_client(service: str, endpoint: str) -> Any:
    """A boto3 client of `service` on the moto server at `endpoint`."""
    return boto3.client(  # type: ignore[call-overload]
        service,
        endpoint_url=endpoint,
        region_name=MOTO_REGION,
        aws_access_key_id=MOTO_CREDENTIAL,
        aws_secret_access_key=MOTO_CREDENTIAL,
    )
