"""`moto_process.SignedOnly`, the guard in front of the embedded moto, request by request (werkzeug's test client,
no server): what passes reaches moto's application with its body intact; nothing else reaches it at all.

The attacks as a browser sends them, against a running stack: tests/integration/test_moto_security.py.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any

import pytest
from botocore.auth import S3SigV4Auth, SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from werkzeug.test import Client

from util.local.aws.api_guard import allowed_hosts
from util.local.aws.credentials import LocalCredentials
from util.local.aws.moto_process import SignedOnly
from util.local.aws.sigv4 import SigV4Verifier

REGION = "us-east-1"
PORT = 4566
OWN = LocalCredentials.generate()
S3_KEY_PATH = "/wspush-local-connections/connections/L0SM9cOF%2BvHcC%2FIhw%3D"
"""A connection id's key as the S3 store writes it: `+`, `/` and `=` percent-encoded, which S3 signs as sent."""


class Inner:
    """Stands where moto's application stands: records what reached it."""

    def __init__(self) -> None:
        self.bodies: list[bytes] = []

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        self.bodies.append(environ["wsgi.input"].read(int(environ["CONTENT_LENGTH"] or 0)))
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"moto"]


def guarded() -> tuple[Client, Inner]:
    inner = Inner()
    guard = SignedOnly(inner, SigV4Verifier(OWN, REGION))
    guard.hosts = allowed_hosts("127.0.0.1", PORT)
    return Client(guard), inner


def signed_headers(
    method: str, path: str, body: bytes, service: str, credentials: LocalCredentials = OWN, host: str = ""
) -> dict[str, str]:
    request = AWSRequest(method=method, url=f"http://{host or f'127.0.0.1:{PORT}'}{path}", data=body)
    signer = S3SigV4Auth if service == "s3" else SigV4Auth
    signer(
        Credentials(credentials.access_key_id, credentials.secret_access_key, credentials.session_token),
        service,
        REGION,
    ).add_auth(request)
    return dict(request.headers.items())


def send(
    client: Client, method: str, path: str, body: bytes, headers: dict[str, str], host: str = ""
) -> tuple[int, dict[str, str], bytes]:
    response = client.open(
        path, method=method, data=body, headers=headers, base_url=f"http://{host or f'127.0.0.1:{PORT}'}"
    )
    return response.status_code, {k.lower(): v for k, v in response.headers.items()}, response.get_data()


def test_an_s3_put_signed_with_the_stacks_credentials_reaches_moto_with_its_body() -> None:
    client, inner = guarded()
    body = b'{"connectionId": "L0SM9cOF+vHcC/Ihw="}'
    status, _, answer = send(client, "PUT", S3_KEY_PATH, body, signed_headers("PUT", S3_KEY_PATH, body, "s3"))
    assert (status, answer, inner.bodies) == (200, b"moto", [body])


def test_a_dynamodb_call_signed_with_the_stacks_credentials_reaches_moto() -> None:
    """Any service the scope names: moto serves them all on one port."""
    client, inner = guarded()
    body = json.dumps({"TableName": "wspush-local-connections"}).encode()
    request = AWSRequest(
        method="POST",
        url=f"http://127.0.0.1:{PORT}/",
        data=body,
        headers={"X-Amz-Target": "DynamoDB_20120810.DescribeTable"},
    )
    SigV4Auth(Credentials(OWN.access_key_id, OWN.secret_access_key, OWN.session_token), "dynamodb", REGION).add_auth(
        request
    )
    assert send(client, "POST", "/", body, dict(request.headers.items()))[0] == 200
    assert inner.bodies == [body]


@pytest.mark.parametrize(
    ("headers", "error_type"),
    [
        ({}, "MissingAuthenticationTokenException"),
        ({"Authorization": "AWS4-HMAC-SHA256 x"}, "IncompleteSignatureException"),
    ],
)
def test_a_request_without_a_signature_never_reaches_moto(headers: dict[str, str], error_type: str) -> None:
    client, inner = guarded()
    status, answer_headers, _ = send(client, "PUT", S3_KEY_PATH, b"forged", headers)
    assert (status, answer_headers.get("x-amzn-errortype")) == (403, error_type)
    assert inner.bodies == []


def test_a_request_signed_with_other_credentials_never_reaches_moto() -> None:
    client, inner = guarded()
    headers = signed_headers("PUT", S3_KEY_PATH, b"forged", "s3", credentials=LocalCredentials.generate())
    assert send(client, "PUT", S3_KEY_PATH, b"forged", headers)[1].get("x-amzn-errortype") == (
        "UnrecognizedClientException"
    )
    assert inner.bodies == []


def test_a_body_other_than_the_signed_one_never_reaches_moto() -> None:
    client, inner = guarded()
    headers = signed_headers("PUT", S3_KEY_PATH, b"signed", "s3")
    assert send(client, "PUT", S3_KEY_PATH, b"swapped", headers)[0] == 403
    assert inner.bodies == []


def test_a_foreign_host_is_misdirected_even_when_signed_for_it() -> None:
    client, inner = guarded()
    host = f"evil.example:{PORT}"
    headers = signed_headers("PUT", S3_KEY_PATH, b"x", "s3", host=host)
    assert send(client, "PUT", S3_KEY_PATH, b"x", headers, host=host)[0] == 421
    assert inner.bodies == []


@pytest.mark.parametrize("path", ["/moto-api/data.json", "/moto-api/reset", "/moto-api/"])
def test_moto_api_never_reaches_moto_even_signed(path: str) -> None:
    client, inner = guarded()
    status, headers, _ = send(client, "POST", path, b"", signed_headers("POST", path, b"", "s3"))
    assert (status, headers.get("x-amzn-errortype")) == (403, "AccessDeniedException")
    assert inner.bodies == []
