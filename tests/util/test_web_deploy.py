"""`util web-deploy`: the page into a bucket behind a distribution, only what changed, against moto's S3
and CloudFront (the Terraform-created pair is applied for real in tests/terraform/test_apply_moto.py)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

import pytest

from util.browser.page import CACHE_CONTROL, CONFIG_NAME, page_files
from util.web_deploy import deploy, site_files

from .conftest import StateWriter, UtilRunner, assert_one_line_error, aws_client

pytestmark = [pytest.mark.stack, pytest.mark.timeout(120)]

WEBSOCKET_URL = "wss://abc123.execute-api.us-east-1.amazonaws.com/live"


@dataclass(frozen=True)
class Hosting:
    s3: Any
    cloudfront: Any
    bucket: str
    distribution_id: str

    def invalidated_paths(self) -> list[list[str]]:
        """Paths of every invalidation of the distribution, oldest first."""
        listed = self.cloudfront.list_invalidations(DistributionId=self.distribution_id)["InvalidationList"]
        ids = [item["Id"] for item in listed.get("Items", [])]
        batches = [
            self.cloudfront.get_invalidation(DistributionId=self.distribution_id, Id=invalidation_id)["Invalidation"]
            for invalidation_id in ids
        ]
        batches.sort(key=lambda batch: batch["CreateTime"])
        return [sorted(batch["InvalidationBatch"]["Paths"].get("Items", [])) for batch in batches]


@pytest.fixture
def hosting(moto_endpoint: str) -> Iterator[Hosting]:
    s3, cloudfront = aws_client(moto_endpoint, "s3"), aws_client(moto_endpoint, "cloudfront")
    bucket = f"web-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=bucket)
    distribution = cloudfront.create_distribution(
        DistributionConfig={
            "CallerReference": bucket,
            "Comment": "web-deploy test",
            "Enabled": True,
            "DefaultRootObject": "index.html",
            "Origins": {
                "Quantity": 1,
                "Items": [
                    {
                        "Id": "page",
                        "DomainName": f"{bucket}.s3.us-east-1.amazonaws.com",
                        "S3OriginConfig": {"OriginAccessIdentity": ""},
                    }
                ],
            },
            "DefaultCacheBehavior": {
                "TargetOriginId": "page",
                "ViewerProtocolPolicy": "https-only",
                "CachePolicyId": "658327ea-f89d-4fab-a63d-7e88639e58f6",
            },
        }
    )["Distribution"]
    yield Hosting(s3, cloudfront, bucket, distribution["Id"])
    keys = [item["Key"] for item in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]
    if keys:
        s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": key} for key in keys]})
    s3.delete_bucket(Bucket=bucket)


def run_deploy(hosting: Hosting, files: Any, force: bool = False) -> Any:
    return deploy(hosting.s3, hosting.cloudfront, hosting.bucket, hosting.distribution_id, files, force=force)


def test_first_deploy_uploads_every_file_and_config_json_with_types(hosting: Hosting) -> None:
    files = site_files(WEBSOCKET_URL)

    result = run_deploy(hosting, files)

    assert result.uploaded == [file.path for file in files]
    assert CONFIG_NAME in result.uploaded and "index.html" in result.uploaded
    assert result.deleted == []
    for file in files:
        stored = hosting.s3.get_object(Bucket=hosting.bucket, Key=file.path)
        assert stored["Body"].read() == file.data
        assert stored["ContentType"] == file.content_type
        assert stored["CacheControl"] == CACHE_CONTROL
    config = hosting.s3.get_object(Bucket=hosting.bucket, Key=CONFIG_NAME)["Body"].read()
    assert json.loads(config) == {"websocket_url": WEBSOCKET_URL}
    assert hosting.invalidated_paths() == [sorted(["/", *(f"/{file.path}" for file in files)])]


def test_an_unchanged_page_uploads_nothing_and_invalidates_nothing(hosting: Hosting) -> None:
    run_deploy(hosting, site_files(WEBSOCKET_URL))

    again = run_deploy(hosting, site_files(WEBSOCKET_URL))

    assert again.uploaded == [] and again.deleted == []
    assert again.invalidation_id is None
    assert len(hosting.invalidated_paths()) == 1


def test_only_changed_and_removed_files_are_touched_and_invalidated(hosting: Hosting) -> None:
    run_deploy(hosting, site_files(WEBSOCKET_URL))
    hosting.s3.put_object(Bucket=hosting.bucket, Key="old.js", Body=b"// from an older page")
    changed = [
        replace(file, data=file.data + b"\n/* edited */\n") if file.path == "app.js" else file
        for file in site_files("wss://other.example/live")
    ]

    result = run_deploy(hosting, changed)

    assert result.uploaded == ["app.js", CONFIG_NAME]
    assert result.deleted == ["old.js"]
    assert hosting.invalidated_paths()[-1] == ["/app.js", f"/{CONFIG_NAME}", "/old.js"]
    keys = sorted(item["Key"] for item in hosting.s3.list_objects_v2(Bucket=hosting.bucket)["Contents"])
    assert keys == sorted(file.path for file in changed)


def test_force_uploads_unchanged_files(hosting: Hosting) -> None:
    files = site_files(WEBSOCKET_URL)
    run_deploy(hosting, files)

    forced = run_deploy(hosting, files, force=True)

    assert forced.uploaded == [file.path for file in files]
    assert forced.invalidation_id is not None


def test_site_files_are_deterministic_and_hold_the_whole_page() -> None:
    first, second = site_files(WEBSOCKET_URL), site_files(WEBSOCKET_URL)

    assert first == second
    assert [file.path for file in first] == sorted(file.path for file in first)
    assert {file.path for file in page_files()} == {
        "index.html",
        "style.css",
        "app.js",
        "connection.js",
        "protocol.js",
        "icon.svg",
    }


def test_web_deploy_local_uploads_nothing_and_names_the_local_page(util: UtilRunner, write_state: StateWriter) -> None:
    write_state({"websocket_url": "ws://127.0.0.1:1/live", "region": "us-east-1", "web_url": "http://127.0.0.1:1/"})

    result = util("web-deploy", "local")

    assert result.code == 0, result
    assert result.stdout.strip() == "web_url: http://127.0.0.1:1/"
    assert "serves the page" in result.stderr


def test_web_deploy_without_a_running_local_stack_is_one_line(util: UtilRunner) -> None:
    result = util("web-deploy", "local")

    assert_one_line_error(result, "the local stack is not running")
