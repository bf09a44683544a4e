"""`util web-deploy ENV`: upload the browser client to ENV's web bucket, only what changed.

Terraform (`web_hosting = true`) creates the private bucket and its CloudFront distribution; this puts
the page there, as `util lambda-deploy` ships the function's code. Deterministic: the same installation
and outputs give the same bytes (the page's files and a `config.json` naming the environment's
`websocket_url`). A file is uploaded only when its MD5 differs from the object's ETag (an SSE-S3
single-part upload's ETag is the MD5 of its bytes), objects no longer part of the page are deleted,
and CloudFront is invalidated for exactly the paths that changed.
"""

from __future__ import annotations

import base64
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated

import typer

from .browser.page import CACHE_CONTROL, INDEX, PageFile, config_file, page_files
from .clients import cloudfront_client, s3_client
from .console import out, status
from .environments import LOCAL_ENV, Outputs, load_outputs
from .errors import MissingOutputs
from .options import EnvArgument, EnvOption, resolve_env

if TYPE_CHECKING:
    from mypy_boto3_cloudfront.client import CloudFrontClient
    from mypy_boto3_s3.client import S3Client

DELETE_BATCH = 1000
"""S3's DeleteObjects takes at most this many keys a call."""


@dataclass(frozen=True)
class WebDeployResult:
    uploaded: list[str]
    unchanged: list[str]
    deleted: list[str]
    invalidation_id: str | None

    @property
    def changed_paths(self) -> list[str]:
        """The URL paths whose content changed: what CloudFront must forget (`/` serves index.html)."""
        keys = sorted({*self.uploaded, *self.deleted})
        paths = [f"/{key}" for key in keys]
        return ["/", *paths] if INDEX in keys else paths


def site_files(websocket_url: str) -> list[PageFile]:
    """The page's files and its config.json, sorted by path."""
    return sorted([*page_files(), config_file(websocket_url)], key=lambda file: file.path)


def current_etags(s3: S3Client, bucket: str) -> dict[str, str]:
    """Every object in the bucket: its key and its ETag (without the quotes S3 puts around it)."""
    etags: dict[str, str] = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for item in page.get("Contents", []):
            etags[item["Key"]] = item["ETag"].strip('"')
    return etags


def deploy(
    s3: S3Client, cloudfront: CloudFrontClient, bucket: str, distribution_id: str, files: list[PageFile], *, force: bool
) -> WebDeployResult:
    """Make the bucket hold exactly `files`, uploading only those that differ, and invalidate what changed."""
    existing = current_etags(s3, bucket)
    uploaded: list[str] = []
    unchanged: list[str] = []
    for file in files:
        if not force and existing.get(file.path) == file.md5:
            unchanged.append(file.path)
            continue
        s3.put_object(
            Bucket=bucket,
            Key=file.path,
            Body=file.data,
            ContentType=file.content_type,
            CacheControl=CACHE_CONTROL,
            ContentMD5=_base64_md5(file),
        )
        uploaded.append(file.path)
    wanted = {file.path for file in files}
    stale = sorted(key for key in existing if key not in wanted)
    for start in range(0, len(stale), DELETE_BATCH):
        batch = stale[start : start + DELETE_BATCH]
        s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": key} for key in batch], "Quiet": True})
    result = WebDeployResult(uploaded=uploaded, unchanged=unchanged, deleted=stale, invalidation_id=None)
    paths = result.changed_paths
    if not paths:
        return result
    invalidation = cloudfront.create_invalidation(
        DistributionId=distribution_id,
        InvalidationBatch={
            "Paths": {"Quantity": len(paths), "Items": paths},
            # Unique per request: CloudFront ignores a repeated reference, and a page may change back.
            "CallerReference": f"wspush-web-deploy-{time.time_ns()}",
        },
    )
    return WebDeployResult(uploaded, unchanged, stale, invalidation["Invalidation"]["Id"])


def _base64_md5(file: PageFile) -> str:
    return base64.b64encode(bytes.fromhex(file.md5)).decode("ascii")


def command(
    *,
    env_positional: EnvArgument = None,
    env: EnvOption = None,
    force: Annotated[bool, typer.Option("--force", help="Upload every file even when unchanged.")] = False,
) -> None:
    """Upload the browser client and its config.json to ENV's web bucket; only what changed, then invalidate it.

    Needs `web_hosting = true` in ENV's Terraform workspace. The local stack serves the page itself.
    """
    outputs = load_outputs(resolve_env(env, env_positional))
    if outputs.env == LOCAL_ENV:
        status("the local stack serves the page from this installation: nothing to upload")
        out.print(f"web_url: {outputs.require('web_url')}", markup=False)
        return
    bucket, distribution_id = _hosting(outputs)
    files = site_files(outputs.require("websocket_url"))
    result = deploy(s3_client(outputs), cloudfront_client(outputs), bucket, distribution_id, files, force=force)
    for key in result.uploaded:
        status(f"uploaded {key}")
    for key in result.deleted:
        status(f"deleted {key} (no longer part of the page)")
    if result.invalidation_id is None:
        status(f"{bucket} already holds this page: nothing to upload (--force uploads anyway)")
    else:
        status(f"invalidating {', '.join(result.changed_paths)} ({result.invalidation_id})")
    out.print(f"web_url: {outputs.require('web_url')}", markup=False)


def _hosting(outputs: Outputs) -> tuple[str, str]:
    bucket, distribution_id = outputs.get("web_bucket"), outputs.get("web_distribution_id")
    if bucket is None or distribution_id is None:
        raise MissingOutputs(
            f"environment {outputs.env!r} does not host the page: "
            "set web_hosting = true in its workspace and run `terraform apply`"
        )
    return bucket, distribution_id
