"""The subset of the AWS Lambda REST API that boto3's `lambda` client needs for the stack's one function.

GetFunction, GetFunctionConfiguration, UpdateFunctionCode (ZipFile, or S3Bucket/S3Key from the embedded
moto), Invoke (RequestResponse, Event, DryRun) and the event-invoke config (Put/Get/Update/Delete
FunctionEventInvokeConfig: the retries and maximum event age of asynchronous invocations), on the gateway's own
origin, so `util lambda-deploy local` runs the same boto3 calls as against AWS, with `endpoint_url` = the
stack's `lambda_endpoint_url`.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import itertools
import json
import logging
import shutil
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from aiohttp import web

from lambda_src.function import RUNTIME
from lambda_src.limits import MAX_ASYNC_PAYLOAD_BYTES
from util.local.aws.api_guard import SMALL_BODY_BYTES, ApiGuard
from util.local.aws.names import StackNames
from util.local.runtime.destinations import SqsDestinations, invocation_record
from util.local.runtime.function_code import CodeVersion, InvalidCode, extract_zip
from util.local.runtime.pool import FailedEvent, Runtime, RuntimeStopped, log_failed_event
from util.local.settings import ASYNC_MAX_EVENT_AGE_S, ASYNC_MAX_RETRY_ATTEMPTS, ASYNC_MIN_EVENT_AGE_S, StackSettings

LOGGER = logging.getLogger("wspush.local.lambda")

API_VERSION_PREFIX = "/2015-03-31/functions"
EVENT_INVOKE_PREFIX = "/2019-09-25/functions"
SIGNING_SERVICE = "lambda"
MAX_CODE_REQUEST_BYTES = 69_905_067
"""Lambda's own limit on an UpdateFunctionCode request: a 50 MB zip, base64-encoded in JSON (its 413 names it)."""
MAX_SYNC_INVOKE_BYTES = 6 * 1024 * 1024
"""Lambda's limit on a synchronous (RequestResponse) invocation's payload."""

S3Fetcher = Callable[[str, str, str | None], bytes]
"""(bucket, key, version) -> the object's bytes; blocking, run in a thread."""


def aws_error(status: int, error_type: str, message: str) -> web.Response:
    return web.json_response(
        {"Type": "User", "Message": message, "message": message},
        status=status,
        headers={"x-amzn-ErrorType": error_type},
    )


def invoke_limit(request: web.Request) -> int:
    """Lambda's payload limit for the invocation type the request asks for."""
    if request.headers.get("X-Amz-Invocation-Type") == "Event":
        return MAX_ASYNC_PAYLOAD_BYTES
    return MAX_SYNC_INVOKE_BYTES


def _limit(max_body_bytes: int | Callable[[web.Request], int], operation: str) -> dict[str, Any]:
    def too_large(request: web.Request, limit: int) -> web.Response:
        message = f"Request must be smaller than {limit} bytes for the {operation} operation"
        return web.json_response(
            {"Type": "User", "message": message},
            status=413,
            headers={"x-amzn-ErrorType": "RequestEntityTooLargeException"},
        )

    return {"service": SIGNING_SERVICE, "max_body_bytes": max_body_bytes, "too_large": too_large}


class LambdaApi:
    def __init__(
        self,
        settings: StackSettings,
        names: StackNames,
        runtime: Runtime,
        *,
        code: CodeVersion,
        environment: Mapping[str, str],
        work_dir: Path,
        fetch_s3: S3Fetcher,
        destinations: SqsDestinations | None = None,
    ) -> None:
        self._settings = settings
        self._names = names
        self._runtime = runtime
        self.code = code
        self._environment = dict(environment)
        self._work_dir = work_dir
        self._fetch_s3 = fetch_s3
        self._uploads = itertools.count(1)
        self._update_lock = asyncio.Lock()
        self._event_invoke_config: dict[str, Any] | None = None
        self._destinations = destinations
        self._sending: set[asyncio.Task[bool]] = set()
        runtime.on_failed_event = self.on_failed_event

    def add_routes(self, app: web.Application, guard: ApiGuard) -> None:
        base = API_VERSION_PREFIX + "/{function}"
        app.router.add_get(base, guard.protect(self.get_function, **_limit(SMALL_BODY_BYTES, "GetFunction")))
        app.router.add_get(
            base + "/configuration",
            guard.protect(self.get_configuration, **_limit(SMALL_BODY_BYTES, "GetFunctionConfiguration")),
        )
        app.router.add_put(
            base + "/code", guard.protect(self.update_code, **_limit(MAX_CODE_REQUEST_BYTES, "UpdateFunctionCode"))
        )
        app.router.add_post(base + "/invocations", guard.protect(self.invoke, **_limit(invoke_limit, "InvokeFunction")))
        config = EVENT_INVOKE_PREFIX + "/{function}/event-invoke-config"
        app.router.add_put(
            config,
            guard.protect(self.put_event_invoke_config, **_limit(SMALL_BODY_BYTES, "PutFunctionEventInvokeConfig")),
        )
        app.router.add_post(
            config,
            guard.protect(
                self.update_event_invoke_config, **_limit(SMALL_BODY_BYTES, "UpdateFunctionEventInvokeConfig")
            ),
        )
        app.router.add_get(
            config,
            guard.protect(self.get_event_invoke_config, **_limit(SMALL_BODY_BYTES, "GetFunctionEventInvokeConfig")),
        )
        app.router.add_delete(
            config,
            guard.protect(
                self.delete_event_invoke_config, **_limit(SMALL_BODY_BYTES, "DeleteFunctionEventInvokeConfig")
            ),
        )

    def _is_ours(self, request: web.Request) -> bool:
        name = request.match_info["function"]
        qualifier = request.rel_url.query.get("Qualifier")
        if qualifier not in (None, "$LATEST"):
            return False
        if name.endswith(":$LATEST"):
            name = name.removesuffix(":$LATEST")
        return name in (self._names.function, self._names.function_arn) or name.endswith(
            f":function:{self._names.function}"
        )

    def _not_found(self, request: web.Request) -> web.Response:
        return aws_error(
            404,
            "ResourceNotFoundException",
            f"Function not found: {self._names.function_arn.rsplit(':', 1)[0]}:{request.match_info['function']}",
        )

    def configuration(self) -> dict[str, Any]:
        names = self._names
        return {
            "FunctionName": names.function,
            "FunctionArn": names.function_arn,
            "Runtime": RUNTIME,
            "Role": names.role_arn,
            "Handler": self._settings.handler,
            "CodeSize": self.code.size,
            "Description": "",
            "Timeout": int(self._settings.timeout_s),
            "MemorySize": self._settings.memory_mb,
            "LastModified": self.code.last_modified,
            "CodeSha256": self.code.sha256,
            "Version": "$LATEST",
            "Environment": {"Variables": dict(self._environment)},
            "TracingConfig": {"Mode": "PassThrough"},
            "State": "Active",
            "LastUpdateStatus": "Successful",
            "PackageType": "Zip",
            "Architectures": ["x86_64"],
            "EphemeralStorage": {"Size": 512},
            "LoggingConfig": {"LogFormat": "Text", "LogGroup": names.lambda_log_group},
        }

    async def get_function(self, request: web.Request) -> web.Response:
        if not self._is_ours(request):
            return self._not_found(request)
        return web.json_response({"Configuration": self.configuration(), "Tags": {}})

    async def get_configuration(self, request: web.Request) -> web.Response:
        if not self._is_ours(request):
            return self._not_found(request)
        return web.json_response(self.configuration())

    async def update_code(self, request: web.Request) -> web.Response:
        if not self._is_ours(request):
            return self._not_found(request)
        body = await _json_object(request)
        if isinstance(body, web.Response):
            return body
        try:
            data = await self._zip_of(body)
        except InvalidCode as error:
            return aws_error(400, "InvalidParameterValueException", str(error))
        if body.get("DryRun"):
            return web.json_response(self.configuration())
        async with self._update_lock:
            target = self._work_dir / f"code-{next(self._uploads)}"
            try:
                version = await asyncio.to_thread(extract_zip, data, target)
            except InvalidCode as error:
                shutil.rmtree(target, ignore_errors=True)
                return aws_error(400, "InvalidParameterValueException", str(error))
            previous = self.code
            try:
                await self._runtime.update_code(version.directory)
            except RuntimeStopped:
                return aws_error(503, "ServiceException", "the local stack is stopping")
            self.code = version
            if previous.directory.is_relative_to(self._work_dir):
                shutil.rmtree(previous.directory, ignore_errors=True)
            LOGGER.info("new code deployed: CodeSha256 %s (%d bytes)", version.sha256, version.size)
        return web.json_response(self.configuration())

    async def _zip_of(self, body: dict[str, Any]) -> bytes:
        if isinstance(body.get("ZipFile"), str):
            try:
                return base64.b64decode(body["ZipFile"], validate=True)
            except binascii.Error:
                raise InvalidCode("ZipFile is not valid base64") from None
        bucket, key = body.get("S3Bucket"), body.get("S3Key")
        if isinstance(bucket, str) and isinstance(key, str):
            version = body.get("S3ObjectVersion")
            try:
                return await asyncio.to_thread(
                    self._fetch_s3, bucket, key, version if isinstance(version, str) else None
                )
            except Exception as error:
                raise InvalidCode(f"Error occurred while GetObject. S3 Error Code: {type(error).__name__}") from None
        raise InvalidCode("Please provide a source for function code: ZipFile, or S3Bucket and S3Key")

    async def invoke(self, request: web.Request) -> web.Response:
        if not self._is_ours(request):
            return self._not_found(request)
        invocation_type = request.headers.get("X-Amz-Invocation-Type", "RequestResponse")
        raw = await request.read()
        try:
            event = json.loads(raw) if raw.strip() else {}
        except (ValueError, UnicodeDecodeError):
            return aws_error(400, "InvalidRequestContentException", "Could not parse request body into json")
        if invocation_type == "DryRun":
            return web.Response(status=204)
        try:
            if invocation_type == "Event":
                self._runtime.invoke_event(event)
                return web.Response(status=202)
            if invocation_type != "RequestResponse":
                return aws_error(
                    400, "InvalidParameterValueException", f"Unsupported invocation type {invocation_type!r}"
                )
            result = await self._runtime.invoke(event)
        except RuntimeStopped:
            return aws_error(503, "ServiceException", "the local stack is stopping")
        headers = {"X-Amz-Executed-Version": "$LATEST", "x-amzn-RequestId": result.request_id}
        if not result.ok:
            headers["X-Amz-Function-Error"] = "Unhandled"
        return web.Response(
            status=200,
            body=json.dumps(result.payload).encode("utf-8"),
            content_type="application/json",
            headers=headers,
        )

    # -- event-invoke config (asynchronous invocations) ------------------------------------------

    async def put_event_invoke_config(self, request: web.Request) -> web.Response:
        """Put replaces the whole config: a setting left out goes back to its default."""
        return await self._set_event_invoke_config(request, merge=False)

    async def update_event_invoke_config(self, request: web.Request) -> web.Response:
        """Update changes only the settings given."""
        return await self._set_event_invoke_config(request, merge=True)

    async def _set_event_invoke_config(self, request: web.Request, *, merge: bool) -> web.Response:
        if not self._is_ours(request):
            return self._not_found(request)
        body = await _json_object(request)
        if isinstance(body, web.Response):
            return body
        if merge and self._event_invoke_config is None:
            return self._no_event_invoke_config()
        current = dict(self._event_invoke_config or {}) if merge else {}
        retries = body.get("MaximumRetryAttempts", current.get("MaximumRetryAttempts"))
        age = body.get("MaximumEventAgeInSeconds", current.get("MaximumEventAgeInSeconds"))
        if retries is not None and (type(retries) is not int or not 0 <= retries <= ASYNC_MAX_RETRY_ATTEMPTS):
            return aws_error(
                400,
                "InvalidParameterValueException",
                f"MaximumRetryAttempts must be between 0 and {ASYNC_MAX_RETRY_ATTEMPTS}",
            )
        if age is not None and (type(age) is not int or not ASYNC_MIN_EVENT_AGE_S <= age <= ASYNC_MAX_EVENT_AGE_S):
            return aws_error(
                400,
                "InvalidParameterValueException",
                f"MaximumEventAgeInSeconds must be between {ASYNC_MIN_EVENT_AGE_S:g} and {ASYNC_MAX_EVENT_AGE_S:g}",
            )
        destinations = body.get("DestinationConfig", current.get("DestinationConfig", {}))
        return web.json_response(
            self.configure_event_invoke(retries, age, destinations if isinstance(destinations, dict) else {})
        )

    def configure_event_invoke(
        self, retries: int | None, age: float | None, destinations: dict[str, Any]
    ) -> dict[str, Any]:
        """Set the event-invoke config (the stack's start does it as Terraform would); returns it as Lambda shows it.

        Only the on-failure destination is delivered to (the deployment declares no other): a discarded event's
        invocation record goes to it, if it names an SQS queue of the stack's moto.
        """
        config: dict[str, Any] = {
            "LastModified": time.time(),
            "FunctionArn": f"{self._names.function_arn}:$LATEST",
            "DestinationConfig": destinations,
        }
        if retries is not None:
            config["MaximumRetryAttempts"] = retries
        if age is not None:
            config["MaximumEventAgeInSeconds"] = round(age)
        self._event_invoke_config = config
        self._runtime.configure_async(retries, None if age is None else float(age))
        return config

    def on_failure_destination(self) -> str | None:
        """The ARN failed events go to now; None without an event-invoke config or its on-failure destination."""
        config = self._event_invoke_config or {}
        on_failure = config.get("DestinationConfig", {}).get("OnFailure")
        destination = on_failure.get("Destination") if isinstance(on_failure, dict) else None
        return destination if isinstance(destination, str) and destination else None

    def on_failed_event(self, failed: FailedEvent) -> None:
        """The runtime's hook for a discarded event: logged, and its record sent to the on-failure destination."""
        log_failed_event(failed)
        destination = self.on_failure_destination()
        if destination is None or self._destinations is None:
            return
        record = invocation_record(failed, self._names.function_arn)
        task = asyncio.get_running_loop().create_task(asyncio.to_thread(self._destinations.send, destination, record))
        self._sending.add(task)
        task.add_done_callback(self._sending.discard)

    async def flush_destinations(self) -> None:
        """Wait until the records being sent are sent (the stack's stop, a test)."""
        if self._sending:
            await asyncio.gather(*self._sending, return_exceptions=True)

    async def get_event_invoke_config(self, request: web.Request) -> web.Response:
        if not self._is_ours(request):
            return self._not_found(request)
        if self._event_invoke_config is None:
            return self._no_event_invoke_config()
        return web.json_response(self._event_invoke_config)

    async def delete_event_invoke_config(self, request: web.Request) -> web.Response:
        if not self._is_ours(request):
            return self._not_found(request)
        if self._event_invoke_config is None:
            return self._no_event_invoke_config()
        self._event_invoke_config = None
        self._runtime.configure_async()
        return web.Response(status=204)

    def _no_event_invoke_config(self) -> web.Response:
        return aws_error(
            404,
            "ResourceNotFoundException",
            f"The function {self._names.function_arn} doesn't have an EventInvokeConfig",
        )


async def _json_object(request: web.Request) -> dict[str, Any] | web.Response:
    """The request's body as a JSON object, or Lambda's 400 for anything else."""
    try:
        body = await request.json()
    except (ValueError, UnicodeDecodeError):
        body = None
    if not isinstance(body, dict):
        return aws_error(400, "InvalidRequestContentException", "Could not parse request body into json")
    return body
