"""Where the local stack must behave as API Gateway and Lambda do (issue 14); docs/local-stack.md's parity table
names the AWS page behind each test.

Every test talks to a real stack through real clients: websockets' client, its sans-I/O `ClientProtocol` over a
plain TCP socket where the frames themselves are the subject, and boto3.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

import boto3
import pytest
from botocore.config import Config as BotoConfig
from botocore.exceptions import ClientError
from websockets.client import ClientProtocol
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.frames import Frame, Opcode
from websockets.uri import parse_uri

from tests import strict_json
from util.local.settings import INTEGRATION_TIMEOUT_S, StackSettings
from util.local.stack import StackThread

from .conftest import EventLog, open_socket, recv_json, run, running_stack, stack_settings

if TYPE_CHECKING:
    from util.local.runtime.pool import FailedEvent

pytestmark = [pytest.mark.stack, pytest.mark.timeout(180)]


def signed(stack: StackThread, method: str, url: str, body: bytes | None = None) -> dict[str, str]:
    """SigV4 headers for a raw request with the stack's own credentials (it accepts no others)."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    own = stack.credentials
    request = AWSRequest(method=method, url=url, data=body)
    SigV4Auth(
        Credentials(own.access_key_id, own.secret_access_key, own.session_token), "execute-api", "us-east-1"
    ).add_auth(request)
    return dict(request.headers.items())


@pytest.fixture(scope="module")
def event_log(tmp_path_factory: pytest.TempPathFactory) -> EventLog:
    return EventLog(tmp_path_factory.mktemp("fidelity") / "events.jsonl")


@pytest.fixture(scope="module")
def fidelity_stack(event_log: EventLog) -> Iterator[StackThread]:
    """The `gateway` test handler with a numeric route `5`; short limits where a test needs them it starts its own."""
    settings = stack_settings(
        routes=("$connect", "$disconnect", "echo", "slow", "5", "true"),
        function_environment={"EVENT_LOG": str(event_log.path)},
    )
    with running_stack(settings) as thread:
        yield thread


def management(stack: StackThread, max_attempts: int = 3) -> Any:
    return boto3.client(
        "apigatewaymanagementapi",
        endpoint_url=stack.outputs["connections_url"],
        region_name="us-east-1",
        **stack.credentials.client_kwargs(),
        config=BotoConfig(retries={"mode": "standard", "max_attempts": max_attempts}, max_pool_connections=16),
    )


async def connection_id_of(socket: Any) -> str:
    await socket.send('{"action": "echo"}')
    return str((await recv_json(socket))["event"]["requestContext"]["connectionId"])


async def closed_with(socket: Any, timeout_s: float = 10.0) -> tuple[int, str]:
    with pytest.raises(ConnectionClosed) as closed:
        while True:
            await asyncio.wait_for(socket.recv(), timeout_s)
    assert closed.value.rcvd is not None, "the server sent no close frame"
    return closed.value.rcvd.code, closed.value.rcvd.reason


# -- 1. idle timeout and maximum duration: pings neither hold off the maximum duration nor (by default) idling --


def test_a_pinging_client_is_closed_at_the_maximum_duration_with_1001() -> None:
    """Connection duration 2 h, no exceptions (WebSocket API quotas): pings every 0.2 s do not keep it open."""
    with running_stack(stack_settings(idle_timeout_s=60.0, max_duration_s=1.5, workers=1)) as stack:

        async def main() -> None:
            socket = await open_socket(stack.outputs["websocket_url"], ping_interval=None)
            started = time.monotonic()

            async def keep_pinging() -> None:
                while True:
                    await (await socket.ping())
                    await asyncio.sleep(0.2)

            pinger = asyncio.create_task(keep_pinging())
            try:
                assert await closed_with(socket) == (1001, "Going away")
            finally:
                pinger.cancel()
            assert time.monotonic() - started >= 1.4

        run(main(), timeout_s=30)


def test_pings_do_not_reset_the_idle_timeout_by_default_and_do_with_the_option() -> None:
    """Idle: "no messages" for 10 minutes (hotsock.io's measurements, subscriptionless#3: control frames do not
    count). `--pings-reset-idle` keeps the other behaviour: then only the maximum duration closes it."""

    async def pinging_client_lifetime(stack: StackThread) -> tuple[float, tuple[int, str]]:
        socket = await open_socket(stack.outputs["websocket_url"], ping_interval=None)
        started = time.monotonic()

        async def keep_pinging() -> None:
            while True:
                await (await socket.ping())  # every ping is answered, either way
                await asyncio.sleep(0.2)

        pinger = asyncio.create_task(keep_pinging())
        try:
            close = await closed_with(socket)
        finally:
            pinger.cancel()
        return time.monotonic() - started, close

    with running_stack(stack_settings(idle_timeout_s=1.0, max_duration_s=3.0, workers=1)) as stack:
        lifetime, close = run(pinging_client_lifetime(stack), timeout_s=30)
        assert close == (1001, "Going away")
        assert 0.9 <= lifetime < 2.5  # the idle timeout, well before the maximum duration

    settings = stack_settings(idle_timeout_s=1.0, max_duration_s=3.0, workers=1, pings_reset_idle=True)
    with running_stack(settings) as stack:
        lifetime, close = run(pinging_client_lifetime(stack), timeout_s=30)
        assert close == (1001, "Going away")
        assert lifetime >= 2.9  # pings kept it past three idle timeouts: the maximum duration closed it


# -- 2. binary frames ---------------------------------------------------------------------------------------


def test_a_binary_frame_closes_the_connection_with_1003_and_never_reaches_the_function(
    fidelity_stack: StackThread, event_log: EventLog
) -> None:
    async def main() -> None:
        socket = await open_socket(fidelity_stack.outputs["websocket_url"])
        connection_id = await connection_id_of(socket)
        await socket.send(b'{"action": "echo"}')
        code, _ = await closed_with(socket)
        assert code == 1003
        disconnect = await event_log.wait_for(connection_id, "$disconnect")
        assert disconnect["requestContext"]["disconnectStatusCode"] == 1003
        messages = [
            e
            for e in event_log.events()
            if e["requestContext"]["connectionId"] == connection_id and e["requestContext"]["eventType"] == "MESSAGE"
        ]
        assert len(messages) == 1  # only the text frame of connection_id_of
        assert messages[0]["isBase64Encoded"] is False

    run(main())


# -- 3. a non-string selection value is stringified ----------------------------------------------------------


def test_a_numeric_or_boolean_action_reaches_the_route_of_its_string(fidelity_stack: StackThread) -> None:
    async def main() -> None:
        async with await open_socket(fidelity_stack.outputs["websocket_url"]) as socket:
            await socket.send('{"action": 5}')
            assert (await recv_json(socket))["route"] == "5"
            await socket.send('{"action": true}')
            assert (await recv_json(socket))["route"] == "true"

    run(main())


# -- 4. the 410 of a post to a gone connection ---------------------------------------------------------------


def test_a_post_to_a_gone_connection_answers_410_with_no_body_and_boto3_raises_gone(
    fidelity_stack: StackThread,
) -> None:
    url = f"{fidelity_stack.outputs['connections_url']}/@connections/{quote('AAAAAAAAAAAAAAA=', safe='')}"
    request = urllib.request.Request(
        url, data=b"hello", method="POST", headers=signed(fidelity_stack, "POST", url, b"hello")
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=10)
    assert refused.value.code == 410
    assert refused.value.headers["x-amzn-ErrorType"] == "GoneException"
    assert refused.value.read() == b""

    with pytest.raises(ClientError) as gone:
        management(fidelity_stack).post_to_connection(ConnectionId="AAAAAAAAAAAAAAA=", Data=b"hello")
    assert gone.value.response["Error"]["Code"] == "GoneException"
    assert gone.value.response["ResponseMetadata"]["HTTPStatusCode"] == 410


# -- 5. the CONNECT event's headers ------------------------------------------------------------------------


def test_the_connect_event_has_no_connection_or_upgrade_header(
    fidelity_stack: StackThread, event_log: EventLog
) -> None:
    async def main() -> None:
        async with await open_socket(fidelity_stack.outputs["websocket_url"]) as socket:
            connection_id = await connection_id_of(socket)
        connect = await event_log.wait_for(connection_id, "$connect")
        names = {name.lower() for name in connect["headers"]}
        assert "connection" not in names and "upgrade" not in names
        assert {name.lower() for name in connect["multiValueHeaders"]} == names
        assert {"host", "sec-websocket-key", "sec-websocket-version", "x-forwarded-for"} <= names

    run(main())


# -- 6. posts over 32 KB reach the client in frames of at most 32 KB -----------------------------------------


class FrameClient:
    """A WebSocket client that shows the frames themselves: websockets' sans-I/O protocol over a TCP stream."""

    def __init__(self, url: str) -> None:
        self._uri = parse_uri(url)
        self._protocol = ClientProtocol(self._uri, max_size=None)
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._frames: list[Frame] = []

    async def __aenter__(self) -> FrameClient:
        self._reader, self._writer = await asyncio.open_connection(self._uri.host, self._uri.port)
        self._protocol.send_request(self._protocol.connect())
        await self._flush()
        while self._protocol.handshake_exc is None and self._protocol.state.name == "CONNECTING":
            await self._read()
        assert self._protocol.state.name == "OPEN", self._protocol.handshake_exc
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        assert self._writer is not None
        self._writer.close()

    async def _flush(self) -> None:
        assert self._writer is not None
        for data in self._protocol.data_to_send():
            if data:
                self._writer.write(data)
        await self._writer.drain()

    async def _read(self) -> None:
        assert self._reader is not None
        data = await asyncio.wait_for(self._reader.read(65536), 10)
        assert data, "the server closed the TCP connection"
        self._protocol.receive_data(data)
        for event in self._protocol.events_received():
            if isinstance(event, Frame):
                self._frames.append(event)
        await self._flush()

    async def send_text(self, text: str) -> None:
        self._protocol.send_text(text.encode())
        await self._flush()

    async def message_frames(self) -> list[Frame]:
        """The frames of the next whole data message (control frames skipped)."""
        while True:
            data_frames = [f for f in self._frames if f.opcode in (Opcode.TEXT, Opcode.BINARY, Opcode.CONT)]
            ends = [i for i, f in enumerate(data_frames) if f.fin]
            if ends:
                message = data_frames[: ends[0] + 1]
                for frame in message:
                    self._frames.remove(frame)
                return message
            await self._read()


def test_a_post_over_32_kb_reaches_the_client_in_frames_of_at_most_32_kb(fidelity_stack: StackThread) -> None:
    async def main() -> None:
        async with FrameClient(fidelity_stack.outputs["websocket_url"]) as client:
            await client.send_text('{"action": "echo"}')
            reply = strict_json.loads(b"".join(bytes(f.data) for f in await client.message_frames()))
            connection_id = reply["event"]["requestContext"]["connectionId"]

            text = "é" + "x" * (100 * 1024) + "é"  # multi-byte characters at both ends
            await asyncio.to_thread(
                management(fidelity_stack).post_to_connection, ConnectionId=connection_id, Data=text.encode()
            )
            frames = await client.message_frames()
            assert [f.opcode for f in frames] == [Opcode.TEXT, Opcode.CONT, Opcode.CONT, Opcode.CONT]
            assert [f.fin for f in frames] == [False, False, False, True]
            assert all(len(f.data) <= 32 * 1024 for f in frames)
            assert b"".join(bytes(f.data) for f in frames).decode() == text

            small = b'{"small": true}'
            await asyncio.to_thread(
                management(fidelity_stack).post_to_connection, ConnectionId=connection_id, Data=small
            )
            frames = await client.message_frames()
            assert [(f.opcode, f.fin, bytes(f.data)) for f in frames] == [(Opcode.TEXT, True, small)]

    run(main())


# -- 7. the 29-second integration timeout ----------------------------------------------------------------------


def test_a_route_past_the_integration_timeout_gets_endpoint_request_timed_out_and_the_function_runs_on() -> None:
    """API Gateway's 29 s (integration timeout 50 ms - 29 s, WebSocket API quotas) is the stack's default and its
    limit; the timer is the same at any value, so this runs it at 1 s against a route that runs 3 s. Waiting out
    the real 29 s would prove nothing more and cost half a minute of every run."""
    assert StackSettings().integration_timeout_s == INTEGRATION_TIMEOUT_S == 29.0
    timeout_s, runs_s = 1.0, 3.0
    settings = stack_settings(
        routes=("$connect", "$disconnect", "slow"),
        workers=1,
        integration_timeout_s=timeout_s,
        function_environment={},
    )
    with running_stack(settings) as stack:

        async def main() -> None:
            async with await open_socket(stack.outputs["websocket_url"]) as socket:
                started = time.monotonic()
                await socket.send(json.dumps({"action": "slow", "sleep_s": runs_s}))
                raw = str(await asyncio.wait_for(socket.recv(), runs_s + 5))
                waited = time.monotonic() - started
                assert timeout_s - 0.1 <= waited < runs_s
                frame = strict_json.loads(raw)
                assert frame["message"] == "Endpoint request timed out"
                assert set(frame) == {"message", "connectionId", "requestId"}
                assert raw.startswith('{"message": "Endpoint request timed out", "connectionId":"')
                # The function was not stopped: its own post arrives once it has run its 3 s.
                echoed = strict_json.loads(await asyncio.wait_for(socket.recv(), 10))
                assert echoed["route"] == "slow"
                assert time.monotonic() - started >= runs_s

        run(main())


def test_a_connect_past_the_integration_timeout_is_refused_with_504() -> None:
    """The same timer on `$connect`, shortened to 1 s as in the test above."""
    with running_stack(stack_settings(integration_timeout_s=1.0, workers=1)) as stack:

        async def main() -> None:
            with pytest.raises(InvalidStatus) as refused:
                await open_socket(f"{stack.outputs['websocket_url']}?sleep=2")
            assert refused.value.response.status_code == 504
            assert strict_json.loads(refused.value.response.body)["message"] == "Endpoint request timed out"

        run(main())


# -- 8. asynchronous invocations are retried as Lambda retries them -----------------------------------------------


class FailedEvents:
    """Collects what the runtime's failed-event hook receives (the stack's loop thread calls it)."""

    def __init__(self) -> None:
        self.events: list[FailedEvent] = []
        self._arrived = threading.Condition()

    def __call__(self, failed: FailedEvent) -> None:
        with self._arrived:
            self.events.append(failed)
            self._arrived.notify_all()

    def wait_for(self, marker: str, timeout_s: float = 30.0) -> FailedEvent:
        with self._arrived:
            found = self._arrived.wait_for(lambda: any(e.event.get("marker") == marker for e in self.events), timeout_s)
            assert found, f"no failed event {marker!r} within {timeout_s} s"
            return next(e for e in self.events if e.event.get("marker") == marker)


def test_an_async_invocation_is_retried_only_when_it_raises_three_runs_by_default_one_with_0_retries(
    tmp_path: Path,
) -> None:
    log = tmp_path / "attempts.jsonl"
    settings = stack_settings(
        handler="tests.integration.handlers.echo.fail_recorded",
        workers=1,
        async_retry_delays_s=(0.2, 0.4),
        function_environment={"EVENT_LOG": str(log)},
    )
    with running_stack(settings) as stack:
        assert stack.stack is not None and stack.stack.runtime is not None
        failed = FailedEvents()
        stack.stack.runtime.on_failed_event = failed
        client = boto3.client(
            "lambda",
            endpoint_url=stack.outputs["lambda_endpoint_url"],
            region_name="us-east-1",
            **stack.credentials.client_kwargs(),
        )
        name = stack.outputs["lambda_function_name"]

        def attempts(marker: str) -> list[dict[str, Any]]:
            lines = log.read_text(encoding="utf-8").splitlines() if log.exists() else []
            return [entry for line in lines if (entry := json.loads(line))["event"].get("marker") == marker]

        accepted = client.invoke(FunctionName=name, InvocationType="Event", Payload=b'{"marker": "default"}')
        assert accepted["StatusCode"] == 202
        default = failed.wait_for("default")
        assert (default.condition, default.attempts) == ("RetriesExhausted", 3)
        runs = attempts("default")
        assert len(runs) == 3
        assert {run["requestId"] for run in runs} == {default.request_id}  # a retry keeps the request id

        config = client.put_function_event_invoke_config(FunctionName=name, MaximumRetryAttempts=0)
        assert config["MaximumRetryAttempts"] == 0
        assert client.get_function_event_invoke_config(FunctionName=name)["MaximumRetryAttempts"] == 0
        client.invoke(FunctionName=name, InvocationType="Event", Payload=b'{"marker": "no-retries"}')
        once = failed.wait_for("no-retries")
        assert (once.condition, once.attempts) == ("RetriesExhausted", 1)
        assert len(attempts("no-retries")) == 1

        client.delete_function_event_invoke_config(FunctionName=name)  # back to Lambda's 2 retries
        # A handler that returns is a success, whatever it returns: run once, never retried nor dead-lettered. The
        # failing event after it is the barrier: its three attempts outlast any retry of the first.
        answered = {"marker": "returns-500", "answer": {"statusCode": 500, "body": "internal error"}}
        client.invoke(FunctionName=name, InvocationType="Event", Payload=json.dumps(answered).encode())
        client.invoke(FunctionName=name, InvocationType="Event", Payload=b'{"marker": "after"}')
        assert failed.wait_for("after").attempts == 3
        assert len(attempts("returns-500")) == 1
        assert not [e for e in failed.events if e.event.get("marker") == "returns-500"]

        with pytest.raises(ClientError) as missing:
            client.get_function_event_invoke_config(FunctionName=name)
        assert missing.value.response["Error"]["Code"] == "ResourceNotFoundException"
        with pytest.raises(ClientError) as invalid:
            client.put_function_event_invoke_config(FunctionName=name, MaximumRetryAttempts=3)
        assert invalid.value.response["Error"]["Code"] == "InvalidParameterValueException"


# -- 9. the account-level throttle on @connections ---------------------------------------------------------------


def test_connections_rate_answers_the_excess_with_429_limit_exceeded_and_botocore_retries_deliver_them_all() -> None:
    with running_stack(stack_settings(connections_rate=50.0, workers=1)) as stack:
        connections_url = stack.outputs["connections_url"]

        async def main() -> None:
            async with await open_socket(stack.outputs["websocket_url"]) as socket:
                await socket.send('{"action": "echo"}')
                connection_id = (await recv_json(socket))["event"]["requestContext"]["connectionId"]

                def post_all(client: Any, prefix: str) -> list[str]:
                    def post(i: int) -> str:
                        try:
                            client.post_to_connection(ConnectionId=connection_id, Data=f"{prefix}{i}".encode())
                        except ClientError as error:
                            meta = error.response["ResponseMetadata"]
                            return f"{meta['HTTPStatusCode']} {error.response['Error']['Code']}"
                        return "200"

                    with ThreadPoolExecutor(8) as pool:
                        return list(pool.map(post, range(200)))

                started = time.monotonic()
                no_retries = await asyncio.to_thread(post_all, management(stack, max_attempts=1), "a")
                elapsed = time.monotonic() - started
                delivered = no_retries.count("200")
                assert set(no_retries) == {"200", "429 LimitExceededException"}
                # The bucket starts with its burst (25) and refills at 50 per second.
                assert 25 <= delivered <= 25 + 50 * elapsed + 1

                retried = await asyncio.to_thread(post_all, management(stack, max_attempts=10), "b")
                assert retried == ["200"] * 200

                received: set[str] = set()
                while len(received) < delivered + 200:
                    received.add(await asyncio.wait_for(socket.recv(), 10))  # type: ignore[arg-type]
                assert {m for m in received if m.startswith("b")} == {f"b{i}" for i in range(200)}

        run(main(), timeout_s=120)

        raw_url = f"{connections_url}/@connections/{quote('AAAAAAAAAAAAAAA=', safe='')}"
        raw = urllib.request.Request(raw_url, method="GET", headers=signed(stack, "GET", raw_url))
        statuses = []
        for _ in range(60):  # well past the 25-request burst
            try:
                urllib.request.urlopen(raw, timeout=10)
            except urllib.error.HTTPError as error:
                statuses.append((error.code, error.headers["x-amzn-ErrorType"], error.read()))
        assert (429, "LimitExceededException", b'{"message": "Too Many Requests"}') in statuses
        assert urlsplit(connections_url).hostname == "127.0.0.1"
