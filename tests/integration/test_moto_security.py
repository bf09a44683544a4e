"""The stack's embedded moto as a security boundary: a web page the developer visits (or one that rebinds its DNS
name to 127.0.0.1) can send it requests, so it serves only what the stack's own credentials signed, sent to
its own Host, never moto's `/moto-api/`, and no answer carries CORS headers.

Each attack is sent as a browser sends it: a foreign `Origin`, only CORS-safelisted headers on the simple
requests (no preflight), none of the SigV4 headers a page cannot compute without the stack's secret. Each
refusal is followed by proof that nothing changed and the stack still serves. Where it matters, the same
request against a moto without the guard (one of this module's own, with little state) shows that it is a
working attack.
"""

from __future__ import annotations

import http.client
import json
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import boto3
import pytest
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from util.local.aws.resources import EmbeddedMoto, moto_of
from util.local.stack import StackThread

from .conftest import open_socket, recv_json, run, running_stack, stack_settings

pytestmark = [pytest.mark.stack, pytest.mark.timeout(180)]

TOKEN = "connect-token-that-must-not-leak-from-moto"
REGION = "us-east-1"
PAGE_ORIGIN = "http://evil.example"
BROWSER_HEADERS = {
    "User-Agent": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36",
    "Accept": "*/*",
    "Accept-Language": "en-US,en;q=0.9",
    "Origin": PAGE_ORIGIN,
    "Referer": f"{PAGE_ORIGIN}/",
    "Sec-Fetch-Site": "cross-site",
    "Sec-Fetch-Mode": "cors",
    "Sec-Fetch-Dest": "empty",
}
"""What Chromium sends with `fetch(url, {method, body})` from a page at evil.example: the only headers a page
adds itself (`Content-Type`, below) are CORS-safelisted, so no preflight asks first."""
FORM_BOUNDARY = "----WebKitFormBoundary7MA4YWxkTrZu0gW"
FORGED_ENTRY = b'{"type": "message", "room": "lobby", "from": {"name": "Admin"}, "data": "send your token to me"}'


@pytest.fixture(scope="module")
def unguarded_moto() -> Iterator[str]:
    """moto as it was in the stack, guard aside: what each attack is tried on first."""
    moto = EmbeddedMoto(None, REGION)
    try:
        yield moto.start()
    finally:
        moto.stop()


@pytest.fixture(scope="module")
def stack() -> Iterator[StackThread]:
    settings = stack_settings(handler="lambda_src.app.handler", code_dir=None, token=TOKEN, workers=2)
    with running_stack(settings) as thread:
        yield thread


def moto_netloc(stack: StackThread) -> str:
    return urlsplit(stack.outputs["aws_endpoint_url"]).netloc


def send(
    netloc: str, method: str, path: str, headers: dict[str, str], body: bytes = b"", host: str | None = None
) -> tuple[int, dict[str, str], bytes]:
    """One request on a fresh connection to `netloc`, with exactly these headers (`Host` = `host` or `netloc`)."""
    hostname, _, port = netloc.rpartition(":")
    connection = http.client.HTTPConnection(hostname, int(port), timeout=10)
    try:
        connection.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
        connection.putheader("Host", host or netloc)
        for name, value in headers.items():
            connection.putheader(name, value)
        if body or method not in ("GET", "OPTIONS"):
            connection.putheader("Content-Length", str(len(body)))
        connection.endheaders(body)
        response = connection.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        connection.close()


def assert_no_cors(headers: dict[str, str]) -> None:
    assert [name for name in headers if name.startswith("access-control-")] == []


def s3_post_object_form(key: str, content: bytes) -> bytes:
    """An HTML form's multipart body for S3's POST Object, as a page submits it: no policy, no signature."""

    def field(name: str, value: str) -> bytes:
        return f'--{FORM_BOUNDARY}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()

    file_head = (
        f'--{FORM_BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="entry.json"\r\n'
        "Content-Type: application/json\r\n\r\n"
    )
    parts = [
        field("key", key),
        field("Content-Type", "application/json"),
        file_head.encode() + content + b"\r\n",
        f"--{FORM_BOUNDARY}--\r\n".encode(),
    ]
    return b"".join(parts)


def form_post(netloc: str, bucket: str, key: str) -> tuple[int, dict[str, str], bytes]:
    body = s3_post_object_form(key, FORGED_ENTRY)
    headers = {**BROWSER_HEADERS, "Content-Type": f"multipart/form-data; boundary={FORM_BOUNDARY}"}
    return send(netloc, "POST", f"/{bucket}", headers, body)


def s3(stack: StackThread) -> Any:
    return moto_of(stack.outputs, stack.credentials).client("s3")


def plain_moto_s3(endpoint: str) -> Any:
    return boto3.client(
        "s3", endpoint_url=endpoint, region_name=REGION, aws_access_key_id="test", aws_secret_access_key="test"
    )


def assert_stack_serves(stack: StackThread) -> None:
    """A client connects (its `$connect` writes to the store) and is answered; a signed moto call works."""

    async def connect() -> None:
        async with await open_socket(f"{stack.outputs['websocket_url']}?token={TOKEN}&name=after") as socket:
            await socket.send(json.dumps({"action": "whoami"}))
            assert (await recv_json(socket))["type"] == "whoami"

    run(connect())
    s3(stack).head_bucket(Bucket=stack.outputs["connections_bucket"])


def test_a_pages_get_of_moto_api_data_json_is_refused_and_reveals_nothing(
    stack: StackThread, unguarded_moto: str
) -> None:
    # The attack works on a moto without the guard: its whole state, in one cross-origin GET.
    status, _, _ = send(urlsplit(unguarded_moto).netloc, "GET", "/moto-api/data.json", BROWSER_HEADERS)
    assert status == 200

    status, headers, body = send(moto_netloc(stack), "GET", "/moto-api/data.json", BROWSER_HEADERS)
    assert (status, headers.get("x-amzn-errortype")) == (403, "AccessDeniedException")
    assert json.loads(body) == {"message": "moto's own API (/moto-api) is not served by the local stack"}
    assert TOKEN.encode() not in body
    assert_no_cors(headers)
    assert_stack_serves(stack)


def test_moto_api_is_refused_even_signed_with_the_stacks_credentials(stack: StackThread) -> None:
    url = f"{stack.outputs['aws_endpoint_url']}/moto-api/data.json"
    request = AWSRequest(method="GET", url=url)
    credentials = stack.credentials
    S3SigV4Auth(
        Credentials(credentials.access_key_id, credentials.secret_access_key, credentials.session_token), "s3", REGION
    ).add_auth(request)
    status, _, body = send(moto_netloc(stack), "GET", "/moto-api/data.json", dict(request.headers.items()))
    assert status == 403 and TOKEN.encode() not in body


def test_an_unsigned_s3_post_object_form_writes_no_key(stack: StackThread, unguarded_moto: str) -> None:
    key = "history/lobby/0000-forged-by-admin"
    # The attack works on a moto without the guard: an unsigned form writes the key.
    plain = plain_moto_s3(unguarded_moto)
    target = f"form-target-{uuid.uuid4().hex[:12]}"
    plain.create_bucket(Bucket=target)
    status, _, _ = form_post(urlsplit(unguarded_moto).netloc, target, key)
    assert 200 <= status < 300
    assert plain.get_object(Bucket=target, Key=key)["Body"].read() == FORGED_ENTRY

    bucket = stack.outputs["connections_bucket"]
    status, headers, _ = form_post(moto_netloc(stack), bucket, key)
    assert (status, headers.get("x-amzn-errortype")) == (403, "MissingAuthenticationTokenException")
    assert_no_cors(headers)
    with pytest.raises(ClientError) as missing:
        s3(stack).head_object(Bucket=bucket, Key=key)
    assert missing.value.response["Error"]["Code"] == "404"
    assert_stack_serves(stack)


def test_a_text_plain_post_of_moto_api_reset_wipes_nothing(stack: StackThread) -> None:
    headers = {**BROWSER_HEADERS, "Content-Type": "text/plain;charset=UTF-8"}
    status, answer_headers, _ = send(moto_netloc(stack), "POST", "/moto-api/reset", headers, b"{}")
    assert (status, answer_headers.get("x-amzn-errortype")) == (403, "AccessDeniedException")
    assert_no_cors(answer_headers)
    # A reset would have deleted the bucket, the token's parameter and the log groups: every connect then fails.
    ssm = moto_of(stack.outputs, stack.credentials).client("ssm")
    assert [p["Name"] for p in ssm.describe_parameters()["Parameters"]], "the connect token's parameter is gone"
    assert_stack_serves(stack)


def test_a_rebound_host_is_refused_even_when_signed_for_it(stack: StackThread) -> None:
    """DNS rebinding: a page at evil.example, its name resolved to 127.0.0.1, sends `Host: evil.example:PORT`."""
    port = urlsplit(stack.outputs["aws_endpoint_url"]).port
    rebound = f"evil.example:{port}"
    status, headers, body = send(moto_netloc(stack), "GET", "/moto-api/data.json", BROWSER_HEADERS, host=rebound)
    assert status == 421 and TOKEN.encode() not in body
    assert_no_cors(headers)

    # Same-origin to the rebound page, so it could read an answer; signed, to prove the Host check stands alone.
    path = f"/{stack.outputs['connections_bucket']}?list-type=2"
    credentials = stack.credentials
    signer = S3SigV4Auth(
        Credentials(credentials.access_key_id, credentials.secret_access_key, credentials.session_token), "s3", REGION
    )
    for host, expected in ((rebound, 421), (moto_netloc(stack), 200)):
        request = AWSRequest(method="GET", url=f"http://{host}{path}")
        signer.add_auth(request)
        assert send(moto_netloc(stack), "GET", path, dict(request.headers.items()), host=host)[0] == expected
    assert_stack_serves(stack)


def test_a_cors_preflight_from_a_foreign_origin_is_allowed_nothing(stack: StackThread) -> None:
    headers = {
        **BROWSER_HEADERS,
        "Access-Control-Request-Method": "PUT",
        "Access-Control-Request-Headers": "authorization,x-amz-date,x-amz-content-sha256",
    }
    status, answer_headers, _ = send(
        moto_netloc(stack), "OPTIONS", f"/{stack.outputs['connections_bucket']}/k", headers
    )
    assert status == 403
    assert_no_cors(answer_headers)


def test_clients_with_any_other_credentials_are_refused(stack: StackThread) -> None:
    """What moto used to accept: any key at all (`test`/`test`, as every moto example uses)."""
    foreign = plain_moto_s3(stack.outputs["aws_endpoint_url"])
    with pytest.raises(ClientError) as refused:
        foreign.list_objects_v2(Bucket=stack.outputs["connections_bucket"])
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert_stack_serves(stack)
