"""The local stack as a security boundary: its Lambda API and `@connections` serve only requests SigV4-signed
with the credentials it generated, addressed to its own Host, with bodies within each route's limit.

Every refused call is followed by proof that it changed nothing: the code is the same, the client received
nothing (its next frame is the reply to its own `whoami`), the connection is still open.
"""

from __future__ import annotations

import asyncio
import base64
import http.client
import json
import stat
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import boto3
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from websockets.asyncio.client import ClientConnection

from util.local.aws.credentials import CONNECT_TOKEN_KEY, STATE_KEY, LocalCredentials
from util.local.aws.resources import moto_of
from util.local.aws.sns import sns_event
from util.local.stack import StackThread

from .conftest import open_socket, recv_json, run, running_stack, stack_settings
from .test_runtime import package_of_sleepy_v2

pytestmark = [pytest.mark.stack, pytest.mark.timeout(180)]

TOKEN = "connect-token-that-must-not-leak"
REGION = "us-east-1"
QUIET_S = 0.5
BAD_AUTHORIZATIONS = ("unsigned", "bogus header", "unknown key", "wrong secret", "wrong region")
"""Each way a caller without the stack's credentials may try, and the error AWS answers it with:"""
EXPECTED_ERROR = {
    "unsigned": "MissingAuthenticationTokenException",
    "bogus header": "IncompleteSignatureException",
    "unknown key": "UnrecognizedClientException",
    "wrong secret": "InvalidSignatureException",
    "wrong region": "InvalidSignatureException",
}


@pytest.fixture(scope="module")
def state_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("state") / "local-stack.json"


@pytest.fixture(scope="module")
def stack(state_path: Path) -> Iterator[StackThread]:
    settings = stack_settings(
        handler="lambda_src.app.handler", code_dir=None, token=TOKEN, workers=2, state_path=state_path
    )
    with running_stack(settings) as thread:
        yield thread


# -- talking to the stack over plain HTTP ---------------------------------------------------------------------


def port_of(stack: StackThread) -> int:
    port = urlsplit(stack.outputs["lambda_endpoint_url"]).port
    assert port is not None
    return port


def sign(
    credentials: LocalCredentials, service: str, method: str, url: str, body: bytes, region: str = REGION
) -> dict[str, str]:
    request = AWSRequest(method=method, url=url, data=body)
    SigV4Auth(
        Credentials(credentials.access_key_id, credentials.secret_access_key, credentials.session_token),
        service,
        region,
    ).add_auth(request)
    # botocore signs the URL's host but leaves sending the header to its HTTP layer: send the same.
    return {"Host": urlsplit(url).netloc, **dict(request.headers.items())}


def authorization(kind: str, stack: StackThread, service: str, method: str, url: str, body: bytes) -> dict[str, str]:
    """Headers of a caller who does not have the stack's credentials (`kind` says how it tries)."""
    if kind == "unsigned":
        return {}
    if kind == "bogus header":
        return {"Authorization": "AWS4-HMAC-SHA256 x"}  # what the stack used to accept
    if kind == "unknown key":
        return sign(LocalCredentials.generate(), service, method, url, body)
    if kind == "wrong secret":
        return sign(replace(stack.credentials, secret_access_key="not-the-secret"), service, method, url, body)
    if kind == "wrong region":
        return sign(stack.credentials, service, method, url, body, region="eu-west-1")
    raise AssertionError(kind)


def send(
    stack: StackThread, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    """One request on a fresh connection; `headers` as given (a `Host` in them wins)."""
    connection = http.client.HTTPConnection("127.0.0.1", port_of(stack), timeout=10)
    try:
        headers = dict(headers or {})
        host = next((value for name, value in headers.items() if name.lower() == "host"), None)
        connection.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
        connection.putheader("Host", host or f"127.0.0.1:{port_of(stack)}")
        for name, value in headers.items():
            if name.lower() != "host":
                connection.putheader(name, value)
        connection.putheader("Content-Length", str(len(body)))
        connection.endheaders(body)
        response = connection.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        connection.close()


def lambda_path(stack: StackThread, suffix: str) -> str:
    return f"/2015-03-31/functions/{stack.outputs['lambda_function_name']}{suffix}"


def connections_path(stack: StackThread, connection_id: str) -> str:
    return f"/{stack.outputs['stage']}/@connections/{quote(connection_id, safe='')}"


def lambda_client(stack: StackThread) -> Any:
    return boto3.client(
        "lambda",
        endpoint_url=stack.outputs["lambda_endpoint_url"],
        region_name=REGION,
        **stack.credentials.client_kwargs(),
    )


def forged_push(message: str) -> bytes:
    return json.dumps(sns_event({"Message": message, "MessageId": "forged"}, "arn:forged")).encode()


def assert_refused(answer: tuple[int, dict[str, str], bytes], error_type: str) -> None:
    status, headers, body = answer
    assert (status, headers.get("x-amzn-errortype")) == (403, error_type), body
    assert set(json.loads(body)) == {"message"}


async def whoami(socket: ClientConnection) -> dict[str, Any]:
    await socket.send(json.dumps({"action": "whoami"}))
    reply: dict[str, Any] = await recv_json(socket)
    return reply


async def assert_nothing_received(socket: ClientConnection) -> None:
    await asyncio.sleep(QUIET_S)
    assert (await whoami(socket))["type"] == "whoami"


def ws_url(stack: StackThread) -> str:
    return f"{stack.outputs['websocket_url']}?token={TOKEN}"


# -- the Lambda API -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", BAD_AUTHORIZATIONS)
def test_update_function_code_without_the_stacks_signature_is_refused_and_the_code_stays(
    stack: StackThread, kind: str
) -> None:
    before = lambda_client(stack).get_function_configuration(FunctionName=stack.outputs["lambda_function_name"])
    path = lambda_path(stack, "/code")
    body = json.dumps({"ZipFile": base64.b64encode(package_of_sleepy_v2()).decode()}).encode()
    url = stack.outputs["lambda_endpoint_url"] + path
    headers = {"Content-Type": "application/json", **authorization(kind, stack, "lambda", "PUT", url, body)}

    assert_refused(send(stack, "PUT", path, body, headers), EXPECTED_ERROR[kind])

    after = lambda_client(stack).get_function_configuration(FunctionName=stack.outputs["lambda_function_name"])
    assert (after["CodeSha256"], after["LastModified"]) == (before["CodeSha256"], before["LastModified"])


@pytest.mark.parametrize("kind", BAD_AUTHORIZATIONS)
def test_get_function_configuration_without_the_stacks_signature_reveals_nothing(stack: StackThread, kind: str) -> None:
    path = lambda_path(stack, "/configuration")
    url = stack.outputs["lambda_endpoint_url"] + path
    answer = send(stack, "GET", path, b"", authorization(kind, stack, "lambda", "GET", url, b""))

    assert_refused(answer, EXPECTED_ERROR[kind])
    assert TOKEN.encode() not in answer[2]


@pytest.mark.parametrize("kind", BAD_AUTHORIZATIONS)
def test_a_forged_push_without_the_stacks_signature_reaches_no_client(stack: StackThread, kind: str) -> None:
    """A `text/plain` POST is what any web page may send cross-origin without a preflight."""
    path = lambda_path(stack, "/invocations")
    url = stack.outputs["lambda_endpoint_url"] + path

    async def main() -> None:
        async with await open_socket(ws_url(stack)) as client:
            await whoami(client)
            body = forged_push(f"forged-{kind}")
            headers = {"Content-Type": "text/plain", **authorization(kind, stack, "lambda", "POST", url, body)}
            assert_refused(await asyncio.to_thread(send, stack, "POST", path, body, headers), EXPECTED_ERROR[kind])
            await assert_nothing_received(client)

    run(main())


def test_correctly_signed_lambda_calls_work_the_configuration_and_a_push(stack: StackThread) -> None:
    client = lambda_client(stack)
    name = stack.outputs["lambda_function_name"]
    variables = client.get_function_configuration(FunctionName=name)["Environment"]["Variables"]
    # The token itself lives in the stack's SSM parameter, as on AWS: the configuration names the parameter only.
    assert variables["AUTH_MODE"] == "token" and variables["CONNECT_TOKEN_PARAMETER"]
    assert TOKEN not in json.dumps(variables)

    async def main() -> None:
        async with await open_socket(ws_url(stack)) as socket:
            await whoami(socket)
            response = await asyncio.to_thread(client.invoke, FunctionName=name, Payload=forged_push("signed push"))
            assert response["StatusCode"] == 200 and "FunctionError" not in response
            assert await asyncio.wait_for(socket.recv(), 10) == "signed push"

    run(main())


# -- @connections ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", BAD_AUTHORIZATIONS)
def test_connections_calls_without_the_stacks_signature_are_refused_and_change_nothing(
    stack: StackThread, kind: str
) -> None:
    async def main() -> None:
        async with await open_socket(ws_url(stack)) as client:
            connection_id = (await whoami(client))["connectionId"]
            path = connections_path(stack, connection_id)
            url = stack.outputs["connections_url"].rsplit("/", 1)[0] + path
            for method, body in (("POST", b"forged frame"), ("GET", b""), ("DELETE", b"")):
                headers = authorization(kind, stack, "execute-api", method, url, body)
                answer = await asyncio.to_thread(send, stack, method, path, body, headers)
                assert_refused(answer, EXPECTED_ERROR[kind])
                assert b"connectedAt" not in answer[2]
            await assert_nothing_received(client)  # not posted to, and not deleted: still open

    run(main())


def test_a_correctly_signed_connections_post_is_delivered(stack: StackThread) -> None:
    api = boto3.client(
        "apigatewaymanagementapi",
        endpoint_url=stack.outputs["connections_url"],
        region_name=REGION,
        **stack.credentials.client_kwargs(),
    )

    async def main() -> None:
        async with await open_socket(ws_url(stack)) as client:
            connection_id = (await whoami(client))["connectionId"]
            await asyncio.to_thread(api.post_to_connection, ConnectionId=connection_id, Data=b"signed frame")
            assert await asyncio.wait_for(client.recv(), 10) == "signed frame"

    run(main())


# -- Host ------------------------------------------------------------------------------------------------------


def test_a_foreign_host_is_refused_even_when_correctly_signed_for_it(stack: StackThread) -> None:
    """DNS rebinding: a page at evil.example resolved to 127.0.0.1 sends `Host: evil.example:PORT`."""
    port = port_of(stack)
    path = lambda_path(stack, "/configuration")

    async def main() -> None:
        async with await open_socket(ws_url(stack)) as client:
            connection_id = (await whoami(client))["connectionId"]
            for method, target, service, body in (
                ("GET", path, "lambda", b""),
                ("POST", connections_path(stack, connection_id), "execute-api", b"rebound frame"),
            ):
                headers = sign(stack.credentials, service, method, f"http://evil.example:{port}{target}", body)
                status, _, answer = await asyncio.to_thread(send, stack, method, target, body, headers)
                assert status == 421
                assert TOKEN.encode() not in answer
            await assert_nothing_received(client)

    run(main())

    localhost = sign(stack.credentials, "lambda", "GET", f"http://localhost:{port}{path}", b"")
    assert send(stack, "GET", path, b"", localhost)[0] == 200


# -- bodies ----------------------------------------------------------------------------------------------------


def test_bodies_over_a_routes_limit_are_refused_with_its_413_and_unsigned_ones_are_never_read(
    stack: StackThread,
) -> None:
    base = stack.outputs["lambda_endpoint_url"]
    configuration = lambda_path(stack, "/configuration")
    big = b"x" * (16 * 1024 + 1)
    status, headers, _ = send(
        stack, "GET", configuration, big, sign(stack.credentials, "lambda", "GET", base + configuration, big)
    )
    assert (status, headers.get("x-amzn-errortype")) == (413, "RequestEntityTooLargeException")

    invocations = lambda_path(stack, "/invocations")
    event_payload = b" " * (256 * 1024 + 1)
    signed = {
        "X-Amz-Invocation-Type": "Event",
        **sign(stack.credentials, "lambda", "POST", base + invocations, event_payload),
    }
    status, headers, body = send(stack, "POST", invocations, event_payload, signed)
    assert (status, headers.get("x-amzn-errortype")) == (413, "RequestEntityTooLargeException")
    assert b"262144 bytes for the InvokeFunction operation" in body

    async def main() -> None:
        async with await open_socket(ws_url(stack)) as client:
            connection_id = (await whoami(client))["connectionId"]
            path = connections_path(stack, connection_id)
            frame = b"y" * (128 * 1024 + 1)
            headers = sign(stack.credentials, "execute-api", "POST", base + path, frame)
            status, answer_headers, _ = await asyncio.to_thread(send, stack, "POST", path, frame, headers)
            assert (status, answer_headers.get("x-amzn-errortype")) == (413, "PayloadTooLargeException")
            await assert_nothing_received(client)

    run(main())

    # An unsigned request announcing 70 MB is answered at once: the stack does not wait for (or read) the body.
    connection = http.client.HTTPConnection("127.0.0.1", port_of(stack), timeout=10)
    try:
        connection.putrequest("PUT", lambda_path(stack, "/code"), skip_host=True)
        connection.putheader("Host", f"127.0.0.1:{port_of(stack)}")
        connection.putheader("Content-Length", str(70 * 1024 * 1024))
        connection.endheaders()
        response = connection.getresponse()
        assert (response.status, response.getheader("x-amzn-ErrorType")) == (403, "MissingAuthenticationTokenException")
    finally:
        connection.close()


# -- the state file --------------------------------------------------------------------------------------------


def test_the_state_file_is_the_users_alone_and_holds_the_credentials_beside_the_outputs(
    stack: StackThread, state_path: Path
) -> None:
    assert stat.S_IMODE(state_path.stat().st_mode) == 0o600
    state = json.loads(state_path.read_text(encoding="utf-8"))
    assert LocalCredentials.from_state(state[STATE_KEY]) == stack.credentials
    # The stack's --token sits beside the credentials, for `util connect -e local`: in this 0600 file only.
    assert stack.stack is not None
    assert state.pop(CONNECT_TOKEN_KEY) == stack.stack.settings.token
    outputs = {name: value for name, value in state.items() if name != STATE_KEY and value is not None}
    assert outputs == stack.outputs
    assert stack.credentials.access_key_id.startswith("ASIA") and len(stack.credentials.access_key_id) == 20
    assert stack.credentials.secret_access_key not in repr(stack.credentials)


# -- nothing secret in any output ------------------------------------------------------------------------------

SECRET = "SECRET-token-7f3a9c"
LOG_WAIT_S = 30.0
BAD_REQUESTS = (
    f"GET /live?token={SECRET}{'a' * 9000} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode(),  # request line too long
    f"G@T /live?token={SECRET} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode(),  # malformed method
    f"GET /live?token={SECRET} HTTP/1.1 junk\r\nHost: 127.0.0.1\r\n\r\n".encode(),  # malformed request line
    f"GET /live HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Token: {SECRET}{'b' * 9000}\r\n\r\n".encode(),  # header too long
)


def _send_raw(port: int, payload: bytes) -> bytes:
    import socket

    with socket.create_connection(("127.0.0.1", port), timeout=10) as connection:
        connection.sendall(payload)
        chunks = []
        while chunk := connection.recv(65536):
            chunks.append(chunk)
        return b"".join(chunks)


def _log_text(outputs: dict[str, Any]) -> str:
    logs = moto_of(outputs).client("logs")  # the state file's document: its credentials sign
    messages = []
    for group in (outputs["lambda_log_group"], outputs["api_log_group"]):
        for page in logs.get_paginator("filter_log_events").paginate(logGroupName=group):
            messages += [event["message"] for event in page.get("events", [])]
    return "\n".join(messages)


def test_no_token_or_credential_reaches_the_stacks_output_or_logs(tmp_path: Path) -> None:
    """Over-long and malformed requests carrying `?token=` (aiohttp used to print them whole to stderr), and a
    real connect with the token: neither the token nor the stack's secret reaches stdout, stderr or CloudWatch."""
    import subprocess
    import time

    from tests.reliability.stack_process import child_environment, up_command

    state = tmp_path / "state.json"
    stdout_path, stderr_path = tmp_path / "stdout", tmp_path / "stderr"
    with stdout_path.open("wb") as stdout, stderr_path.open("wb") as stderr:
        process = subprocess.Popen(
            up_command("--port", "0", "--workers", "1", "--verbose"),
            env=child_environment(state, token=SECRET),
            stdout=stdout,
            stderr=stderr,
        )
    try:
        deadline = time.monotonic() + 90
        while not state.exists():
            assert process.poll() is None, stderr_path.read_text()
            assert time.monotonic() < deadline, "the stack wrote no state file"
            time.sleep(0.05)
        written = json.loads(state.read_text(encoding="utf-8"))
        credentials = LocalCredentials.from_state(written[STATE_KEY])
        assert credentials is not None
        port = urlsplit(written["websocket_url"]).port
        assert port is not None

        for payload in BAD_REQUESTS:
            assert _send_raw(port, payload).startswith(b"HTTP/1.")

        async def connect() -> None:
            async with await open_socket(f"{written['websocket_url']}?name=n&token={SECRET}") as socket:
                await whoami(socket)

        run(connect())
        # The connect's log lines (START ... REPORT) and its access-log line are shipped in batches: wait for them.
        while "REPORT RequestId" not in (logs := _log_text(written)) or '"eventType":"CONNECT"' not in logs:
            assert time.monotonic() < deadline + LOG_WAIT_S, "the connect's log lines never arrived"
            time.sleep(0.2)
    finally:
        process.terminate()
        process.wait(60)

    printed = stdout_path.read_text(errors="replace") + stderr_path.read_text(errors="replace")
    assert "LineTooLong" in printed and "BadStatusLine" in printed  # the bad requests were seen, and logged
    for secret in (SECRET, credentials.secret_access_key, credentials.session_token):
        assert secret not in printed
        assert secret not in logs
