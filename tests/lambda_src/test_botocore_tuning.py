"""botocore's parser defaults (lambda_src/aws/botocore_tuning.py): listed keys' timestamps stay text, and a
botocore without the factory leaves the function working, only slower."""

from __future__ import annotations

import boto3
import botocore.session
import pytest

from lambda_src.aws.botocore_tuning import leave_timestamps_as_text


@pytest.mark.stack
def test_a_tuned_session_lists_last_modified_as_the_services_text(moto_endpoint: str) -> None:
    core = botocore.session.get_session()

    assert leave_timestamps_as_text(core) is True
    s3 = boto3.session.Session(botocore_session=core, region_name="us-east-1").client(
        "s3", endpoint_url=moto_endpoint, aws_access_key_id="test", aws_secret_access_key="test"
    )
    s3.create_bucket(Bucket="tuning")
    s3.put_object(Bucket="tuning", Key="k", Body=b"")
    (item,) = s3.list_objects_v2(Bucket="tuning")["Contents"]

    assert isinstance(item["LastModified"], str)
    assert item["LastModified"].endswith("Z")


def test_an_untuned_session_parses_timestamps_as_botocore_always_did() -> None:
    factory = botocore.session.get_session().get_component("response_parser_factory")

    assert factory.create_parser("rest-xml")._timestamp_parser is not str  # botocore's default: a datetime parser


class NoParserFactory:
    def get_component(self, name: str) -> object:
        raise ValueError(f"Unknown component: {name}")


def test_a_botocore_without_the_factory_is_left_as_it_is() -> None:
    assert leave_timestamps_as_text(NoParserFactory()) is False
