"""The gateway emulator with the `gateway` test handler: events, handshake, routing, limits, ordering."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus

from .conftest import GatewayStack, open_socket, recv_json, run

pytestmark = pytest.mark.timeout(120)

CONNECTION_ID = re.compile(r"[A-Za-z0-9+/]{15}=")
REQUEST_TIME = re.compile(r"\d{2}/[A-Z][a-z]{2}/\d{4}:\d{2}:\d{2}:\d{2} \+0000")


async def connection_id_of(socket: Any) -> str:
    await socket.send('{"action": "echo"}')
    reply = await recv_json(socket)
    return str(reply["event"]["requestContext"]["connectionId"])


def assert_common_context(context: dict[str, Any], stack: GatewayStack, *, route: str, event_type: str) -> None:
    outputs = stack.outputs
    assert context["routeKey"] == route
    assert context["eventType"] == event_type
    assert context["messageDirection"] == "IN"
    assert context["stage"] == "live"
    assert context["apiId"] == outputs["api_id"]
    assert context["domainName"] == outputs["websocket_url"].split("/")[2]
    assert CONNECTION_ID.fullmatch(context["connectionId"])
    assert CONNECTION_ID.fullmatch(context["requestId"])
    assert context["extendedRequestId"] == context["requestId"]
    assert REQUEST_TIME.fullmatch(context["requestTime"])
    for name in ("connectedAt", "requestTimeEpoch"):
        assert type(context[name]) is int
    assert context["requestTimeEpoch"] >= context["connectedAt"] > 1_700_000_000_000
    assert context["identity"]["sourceIp"] == "127.0.0.1"


def test_connect_message_and_disconnect_events_carry_api_gateways_fields_and_types(gateway_stack: GatewayStack) -> None:
    url = gateway_stack.outputs["websocket_url"]

    async def main() -> None:
        socket = await open_socket(f"{url}?name=a&name=b&x=1", additional_headers={"X-Custom": "yes"})
        await socket.send('{"action": "echo", "n": 1}')
        message = (await recv_json(socket))["event"]
        connection_id = message["requestContext"]["connectionId"]
        await socket.close(code=4001, reason="bye")
        connect = await gateway_stack.events.wait_for(connection_id, "$connect")
        disconnect = await gateway_stack.events.wait_for(connection_id, "$disconnect")

        assert set(connect) == {
            "headers",
            "multiValueHeaders",
            "queryStringParameters",
            "multiValueQueryStringParameters",
            "requestContext",
            "isBase64Encoded",
        }
        assert connect["queryStringParameters"] == {"name": "b", "x": "1"}
        assert connect["multiValueQueryStringParameters"] == {"name": ["a", "b"], "x": ["1"]}
        headers = connect["headers"]
        assert headers["X-Custom"] == "yes"
        assert headers["Sec-WebSocket-Version"] == "13"
        assert headers["X-Forwarded-For"] == "127.0.0.1"
        assert headers["X-Forwarded-Proto"] == "http"
        assert headers["X-Amzn-Trace-Id"].startswith("Root=1-")
        assert connect["multiValueHeaders"]["X-Custom"] == ["yes"]
        assert all(isinstance(v, str) for v in headers.values())
        assert connect["isBase64Encoded"] is False
        assert_common_context(connect["requestContext"], gateway_stack, route="$connect", event_type="CONNECT")
        assert connect["requestContext"]["identity"]["userAgent"] == headers["User-Agent"]
        assert "messageId" not in connect["requestContext"]

        assert set(message) == {"requestContext", "body", "isBase64Encoded"}
        assert message["body"] == '{"action": "echo", "n": 1}'
        assert message["isBase64Encoded"] is False
        assert_common_context(message["requestContext"], gateway_stack, route="echo", event_type="MESSAGE")
        assert CONNECTION_ID.fullmatch(message["requestContext"]["messageId"])
        assert message["requestContext"]["connectedAt"] == connect["requestContext"]["connectedAt"]

        assert set(disconnect) == {"headers", "multiValueHeaders", "requestContext", "isBase64Encoded"}
        context = disconnect["requestContext"]
        assert_common_context(context, gateway_stack, route="$disconnect", event_type="DISCONNECT")
        assert (context["disconnectStatusCode"], context["disconnectReason"]) == (4001, "bye")
        assert "messageId" not in context

    run(main())


def test_connect_without_query_has_no_query_string_fields(gateway_stack: GatewayStack) -> None:
    async def main() -> None:
        async with await open_socket(gateway_stack.outputs["websocket_url"]) as socket:
            connection_id = await connection_id_of(socket)
        connect = await gateway_stack.events.wait_for(connection_id, "$connect")
        assert "queryStringParameters" not in connect
        assert "multiValueQueryStringParameters" not in connect

    run(main())


def test_connect_is_refused_with_the_status_the_handler_returns(gateway_stack: GatewayStack) -> None:
    async def main() -> None:
        with pytest.raises(InvalidStatus) as refused:
            await open_socket(f"{gateway_stack.outputs['websocket_url']}?status=403")
        assert refused.value.response.status_code == 403
        assert refused.value.response.body == b"refused"

    run(main())


def test_connect_is_refused_with_500_when_the_handler_fails(gateway_stack: GatewayStack) -> None:
    async def main() -> None:
        with pytest.raises(InvalidStatus) as refused:
            await open_socket(f"{gateway_stack.outputs['websocket_url']}?fail=1")
        assert refused.value.response.status_code == 500

    run(main())


def test_unmatched_message_without_default_route_gets_the_forbidden_frame(gateway_stack: GatewayStack) -> None:
    async def main() -> None:
        async with await open_socket(gateway_stack.outputs["websocket_url"]) as socket:
            connection_id = await connection_id_of(socket)
            for unmatched in ('{"action": "nope"}', "not json", '{"action": 7}', '{"action": "$connect"}'):
                await socket.send(unmatched)
                frame = await recv_json(socket)
                assert set(frame) == {"message", "connectionId", "requestId"}
                assert (frame["message"], frame["connectionId"]) == ("Forbidden", connection_id)

    run(main())


def test_failed_message_integration_answers_internal_server_error(gateway_stack: GatewayStack) -> None:
    async def main() -> None:
        async with await open_socket(gateway_stack.outputs["websocket_url"]) as socket:
            connection_id = await connection_id_of(socket)
            await socket.send('{"action": "boom"}')
            frame = await recv_json(socket)
            assert frame["message"] == "Internal server error"
            assert frame["connectionId"] == connection_id
            await socket.send('{"action": "echo"}')
            assert (await recv_json(socket))["route"] == "echo"  # the connection lives on

    run(main())


def test_messages_of_one_connection_are_handled_in_order(gateway_stack: GatewayStack) -> None:
    async def main() -> None:
        async with await open_socket(gateway_stack.outputs["websocket_url"]) as socket:
            await socket.send('{"action": "slow", "sleep_s": 0.5, "n": 0}')
            for n in (1, 2, 3):
                await socket.send(f'{{"action": "echo", "n": {n}}}')
            bodies = [(await recv_json(socket))["event"]["body"] for _ in range(4)]
            assert [body[-2] for body in bodies] == ["0", "1", "2", "3"]

    run(main())


def test_a_slow_message_does_not_delay_another_connection(gateway_stack: GatewayStack) -> None:
    async def main() -> None:
        url = gateway_stack.outputs["websocket_url"]
        async with await open_socket(url) as slow, await open_socket(url) as fast:
            await slow.send('{"action": "slow", "sleep_s": 2}')
            await asyncio.sleep(0.1)
            started = asyncio.get_running_loop().time()
            await fast.send('{"action": "echo"}')
            await recv_json(fast)
            assert asyncio.get_running_loop().time() - started < 1.5
            await recv_json(slow)

    run(main())


async def expect_close(socket: Any) -> tuple[int, str]:
    with pytest.raises(ConnectionClosed) as closed:
        for _ in range(10):
            await asyncio.wait_for(socket.recv(), 10)
    received = closed.value.rcvd
    assert received is not None
    return received.code, received.reason


def test_a_message_over_128_kb_closes_the_connection_with_1009(gateway_stack: GatewayStack) -> None:
    async def main() -> None:
        socket = await open_socket(gateway_stack.outputs["websocket_url"], max_size=None)
        connection_id = await connection_id_of(socket)
        chunk = "x" * (32 * 1024)
        await socket.send([chunk, chunk, chunk, chunk, "y"])  # fragmented: every frame within 32 KB
        assert (await expect_close(socket))[0] == 1009
        disconnect = await gateway_stack.events.wait_for(connection_id, "$disconnect")
        assert disconnect["requestContext"]["disconnectStatusCode"] == 1009

    run(main())


def test_a_message_of_exactly_128_kb_in_32_kb_frames_is_accepted(gateway_stack: GatewayStack) -> None:
    async def main() -> None:
        async with await open_socket(gateway_stack.outputs["websocket_url"]) as socket:
            head = '{"action": "echo", "pad": "'
            text = head + "x" * (128 * 1024 - len(head) - 2) + '"}'
            frames = [text[i : i + 32 * 1024] for i in range(0, len(text), 32 * 1024)]
            await socket.send(frames)
            reply = await recv_json(socket)
            assert reply["event"]["bodyLength"] == 128 * 1024

    run(main())


def test_a_frame_over_32_kb_closes_the_connection_with_1009(gateway_stack: GatewayStack) -> None:
    async def main() -> None:
        socket = await open_socket(gateway_stack.outputs["websocket_url"])
        connection_id = await connection_id_of(socket)
        await socket.send('{"action": "echo", "pad": "' + "x" * (32 * 1024) + '"}')  # one frame
        assert await expect_close(socket) == (1009, "Frame size limit exceeded")
        disconnect = await gateway_stack.events.wait_for(connection_id, "$disconnect")
        context = disconnect["requestContext"]
        assert (context["disconnectStatusCode"], context["disconnectReason"]) == (1009, "Frame size limit exceeded")

    run(main())


def test_an_abrupt_client_drop_still_ends_in_one_disconnect_with_1006(gateway_stack: GatewayStack) -> None:
    async def main() -> None:
        socket = await open_socket(gateway_stack.outputs["websocket_url"])
        connection_id = await connection_id_of(socket)
        socket.transport.abort()  # no close frame: the TCP connection just goes
        disconnect = await gateway_stack.events.wait_for(connection_id, "$disconnect")
        assert disconnect["requestContext"]["disconnectStatusCode"] == 1006
        await asyncio.sleep(0.3)
        routes = [
            e["requestContext"]["routeKey"]
            for e in gateway_stack.events.events()
            if e["requestContext"]["connectionId"] == connection_id
        ]
        assert routes.count("$disconnect") == 1

    run(main())
