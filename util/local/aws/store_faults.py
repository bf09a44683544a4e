"""Store faults: a proxy between the function and the embedded moto that answers a share of its store calls the way
AWS answers a client it throttles.

`util local up --store-fault-rate P` points the function's S3 and DynamoDB clients at this proxy
(`AWS_ENDPOINT_URL_S3`, `AWS_ENDPOINT_URL_DYNAMODB`; every other service still goes to moto directly). Each call is
passed to moto, or, with probability `rate`, answered as AWS answers throttling:

- S3: `503 SlowDown` ("Please reduce your request rate."), XML as S3 writes errors
  (https://docs.aws.amazon.com/AmazonS3/latest/API/ErrorResponses.html);
- DynamoDB: `400 ProvisionedThroughputExceededException` or `400 ThrottlingException`, JSON with `__type` as
  DynamoDB writes errors (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Programming.Errors.html).

botocore's standard retry mode retries all three (they are throttling errors to it), with its backoff. `calls` keeps
every call the proxy saw, for tests to count attempts and measure the waits between them; `rate` may be changed
while the stack runs.
"""

from __future__ import annotations

import logging
import random
import socket
import time
from dataclasses import dataclass
from typing import Final

import aiohttp
from aiohttp import web
from yarl import URL

from util.local import ids
from util.local.aws.credentials import LocalCredentials

LOGGER = logging.getLogger("wspush.local.store_faults")

DYNAMODB_TARGET_PREFIX: Final = "DynamoDB_"
S3_SLOW_DOWN = (503, "SlowDown", "Please reduce your request rate.")
DYNAMODB_THROTTLES = (
    (
        400,
        "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException",
        "The level of configured provisioned throughput for the table was exceeded. Consider increasing your "
        "provisioning level with the UpdateTable API.",
    ),
    (400, "com.amazon.coral.availability#ThrottlingException", "Rate of requests exceeds the allowed throughput."),
)
HOP_BY_HOP = frozenset(
    {"connection", "keep-alive", "transfer-encoding", "content-length", "host", "content-encoding", "expect"}
)
MAX_CALLS_KEPT = 100_000
"""`calls` keeps the most recent this many (a long soak must not grow without bound)."""


@dataclass(frozen=True)
class StoreCall:
    """One call the proxy saw: when, to which service, what (DynamoDB's operation, S3's method and key), and the
    error it was answered with instead of moto's answer (None: passed through)."""

    at: float
    service: str
    operation: str
    fault: str | None


class StoreFaultProxy:
    """Serves on a loopback port of its own; `url` is the endpoint the function's store clients use."""

    def __init__(
        self,
        moto_url: str,
        rate: float,
        rng: random.Random | None = None,
        *,
        credentials: LocalCredentials | None = None,
        region: str = "us-east-1",
    ) -> None:
        self.rate = rate
        self._moto_url = moto_url.rstrip("/")
        self._credentials = credentials
        """The stack's own: a call passed on is signed again for moto's Host, which its guard requires."""
        self._region = region
        self._rng = rng or random.Random()
        self.calls: list[StoreCall] = []
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None
        self.url = ""

    async def start(self) -> str:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
        await web.SockSite(self._runner, sock).start()
        self._session = aiohttp.ClientSession(auto_decompress=False)
        self.url = f"http://127.0.0.1:{port}"
        return self.url

    async def stop(self) -> None:
        if self._session is not None:
            await self._session.close()
        if self._runner is not None:
            await self._runner.cleanup()

    def faults(self) -> list[StoreCall]:
        return [call for call in self.calls if call.fault is not None]

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        target = request.headers.get("X-Amz-Target", "")
        if target.startswith(DYNAMODB_TARGET_PREFIX):
            service, operation = "dynamodb", target.split(".", 1)[-1]
        else:
            service, operation = "s3", f"{request.method} {request.rel_url.path}"
        body = await request.read()
        fault: web.Response | None = None
        if self.rate > 0 and self._rng.random() < self.rate:
            fault = self._throttle(service)
        self._record(StoreCall(time.monotonic(), service, operation, None if fault is None else _code(fault)))
        if fault is not None:
            LOGGER.info("store fault injected: %s %s -> %s", service, operation, _code(fault))
            return fault
        return await self._forward(request, body)

    def _record(self, call: StoreCall) -> None:
        self.calls.append(call)
        if len(self.calls) > MAX_CALLS_KEPT:
            del self.calls[: len(self.calls) - MAX_CALLS_KEPT]

    def _throttle(self, service: str) -> web.Response:
        request_id = ids.lambda_request_id()
        if service == "s3":
            status, code, message = S3_SLOW_DOWN
            xml = (
                '<?xml version="1.0" encoding="UTF-8"?>\n'
                f"<Error><Code>{code}</Code><Message>{message}</Message><RequestId>{request_id}</RequestId></Error>"
            )
            return web.Response(
                status=status,
                body=xml.encode(),
                content_type="application/xml",
                headers={"x-amz-request-id": request_id},
            )
        status, kind, message = self._rng.choice(DYNAMODB_THROTTLES)
        return web.json_response(
            {"__type": kind, "message": message},
            status=status,
            content_type="application/x-amz-json-1.0",
            headers={"x-amzn-RequestId": request_id},
        )

    def _signed_for_moto(self, request: web.Request, headers: dict[str, str], body: bytes) -> dict[str, str]:
        """`headers` signed again with the stack's credentials for moto's own Host: the function signed them for this
        proxy's Host, which moto's guard refuses (`moto_process.SignedOnly`)."""
        from botocore.auth import S3SigV4Auth, SigV4Auth
        from botocore.awsrequest import AWSRequest
        from botocore.credentials import Credentials

        assert self._credentials is not None
        dynamodb = request.headers.get("X-Amz-Target", "").startswith(DYNAMODB_TARGET_PREFIX)
        resigned = {"authorization", "x-amz-date", "x-amz-security-token", "x-amz-content-sha256"}
        kept = {name: value for name, value in headers.items() if name.lower() not in resigned}
        aws_request = AWSRequest(request.method, self._moto_url + request.raw_path, data=body, headers=kept)
        keys = self._credentials
        credentials = Credentials(keys.access_key_id, keys.secret_access_key, keys.session_token)
        signer = (
            SigV4Auth(credentials, "dynamodb", self._region)
            if dynamodb
            else S3SigV4Auth(credentials, "s3", self._region)
        )
        signer.add_auth(aws_request)
        return {name: value for name, value in aws_request.headers.items() if name.lower() != "host"}

    async def _forward(self, request: web.Request, body: bytes) -> web.StreamResponse:
        assert self._session is not None
        headers = {name: value for name, value in request.headers.items() if name.lower() not in HOP_BY_HOP}
        if self._credentials is not None:
            headers = self._signed_for_moto(request, headers, body)
        async with self._session.request(
            request.method,
            # Sent exactly as signed: requoting the path (yarl's default) would change the signature's canonical URI.
            URL(self._moto_url + request.raw_path, encoded=True),
            headers=headers,
            data=body,
            allow_redirects=False,
        ) as answer:
            data = await answer.read()
            kept = {name: value for name, value in answer.headers.items() if name.lower() not in HOP_BY_HOP}
            return web.Response(status=answer.status, body=data, headers=kept)


def _code(response: web.Response) -> str:
    text = response.text or ""
    if "<Code>" in text:
        return text.split("<Code>", 1)[1].split("</Code>", 1)[0]
    return text.split('"__type": "', 1)[-1].split('"', 1)[0].rsplit("#", 1)[-1]
