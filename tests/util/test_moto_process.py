"""The embedded moto's fast timestamp path: the same text out of moto's serializer, in every format it writes."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from botocore.utils import parse_to_aware_datetime
from moto.core.serialize import TimestampSerializer

from util.local.aws.moto_process import fast_timestamps

FORMATS = ("iso8601", "iso8601_zeroed", "rfc822", "unixtimestamp")
VALUES = (
    "2026-12-02T07:45:01.000Z",  # moto's S3 LastModified text
    "2026-12-02T07:45:01Z",
    "2026-12-02T07:45:01.123456+00:00",
    "2026-12-02T09:45:01.5+02:00",
    "2026-12-02T07:45:01",  # no zone: left to botocore, which takes it as UTC
    "Wed, 02 Dec 2026 07:45:01 GMT",
    "1764661501",
    1764661501,
    1764661501.25,
)


@pytest.mark.parametrize("value", VALUES)
@pytest.mark.parametrize("timestamp_format", FORMATS)
def test_every_timestamp_serializes_exactly_as_moto_does_without_the_fast_path(
    value: object, timestamp_format: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from moto.core import serialize

    serializer = TimestampSerializer(timestamp_format)
    expected = serializer._convert_timestamp_to_str(value, timestamp_format)  # type: ignore[arg-type]
    monkeypatch.setattr(serialize, "parse_to_aware_datetime", fast_timestamps(parse_to_aware_datetime))

    assert serializer._convert_timestamp_to_str(value, timestamp_format) == expected  # type: ignore[arg-type]


def test_text_that_is_not_iso_8601_with_a_zone_goes_to_the_original_parser() -> None:
    seen: list[object] = []

    def original(value: object) -> object:
        seen.append(value)
        return parse_to_aware_datetime(value)  # type: ignore[arg-type]

    parse = fast_timestamps(original)  # type: ignore[arg-type]
    parse("2026-12-02T07:45:01.000Z")
    parse("2026-12-02T07:45:01")
    parse("Wed, 02 Dec 2026 07:45:01 GMT")
    parse(1764661501)

    assert seen == ["2026-12-02T07:45:01", "Wed, 02 Dec 2026 07:45:01 GMT", 1764661501]


@pytest.mark.stack
def test_the_embedded_moto_lists_the_time_each_object_was_written(moto_endpoint: str) -> None:
    import boto3

    s3 = boto3.client("s3", endpoint_url=moto_endpoint, region_name="us-east-1")
    s3.create_bucket(Bucket="fast-timestamps")
    before = datetime.now(UTC).replace(microsecond=0)
    s3.put_object(Bucket="fast-timestamps", Key="a", Body=b"")

    [listed] = s3.list_objects_v2(Bucket="fast-timestamps")["Contents"]
    head = s3.head_object(Bucket="fast-timestamps", Key="a")

    assert listed["LastModified"] == head["LastModified"]
    assert before <= listed["LastModified"] <= datetime.now(UTC)
