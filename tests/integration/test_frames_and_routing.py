"""The sans-I/O pieces of the gateway: the 32 KB frame guard both ways, route selection, the throttle, limits."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import struct
from typing import Any

import pytest
from aiohttp import web
from websockets.frames import Frame
from websockets.streams import StreamReader

from util.errors import InputError
from util.local.gateway.frames import (
    FrameGuards,
    FrameGuardUnavailable,
    FrameSizeGuard,
    GuardedProtocol,
    fragment,
    serve_guarded,
)
from util.local.gateway.routing import RouteSelector, stringify
from util.local.gateway.server import error_frame
from util.local.gateway.throttle import TokenBucket
from util.local.runtime.pool import AsyncPolicy
from util.local.settings import StackSettings


def frame(opcode: int, payload: bytes, *, fin: bool = True) -> bytes:
    """A masked client frame (RFC 6455), payload left unmasked-equivalent: the guard never reads it."""
    first = (0x80 if fin else 0) | opcode
    length = len(payload)
    if length < 126:
        header = struct.pack("!BB", first, 0x80 | length)
    elif length < 65536:
        header = struct.pack("!BBH", first, 0x80 | 126, length)
    else:
        header = struct.pack("!BBQ", first, 0x80 | 127, length)
    return header + os.urandom(4) + payload


def feed_in_pieces(guard: FrameSizeGuard, data: bytes, piece: int) -> bytes:
    return b"".join(guard.feed(data[i : i + piece]) for i in range(0, len(data), piece))


@pytest.mark.parametrize("piece", [1, 3, 7, 1000, 100_000])
def test_frame_guard_passes_frames_within_the_limit_byte_for_byte(piece: int) -> None:
    oversized: list[int] = []
    stream = frame(0x1, b"a" * 125) + frame(0x2, b"b" * 300, fin=False) + frame(0x0, b"c" * 70_000) + frame(0x9, b"")
    guard = FrameSizeGuard(100_000, oversized.append)
    assert feed_in_pieces(guard, stream, piece) == stream
    assert oversized == []


@pytest.mark.parametrize("piece", [1, 5, 4096])
def test_frame_guard_drops_an_oversized_data_frame_and_keeps_the_next_frame_intact(piece: int) -> None:
    oversized: list[int] = []
    close = frame(0x8, struct.pack("!H", 1000))
    stream = frame(0x1, b"x" * 40_000) + close
    guard = FrameSizeGuard(32 * 1024, oversized.append)
    assert feed_in_pieces(guard, stream, piece) == close
    assert oversized == [40_000]


def test_frame_guard_allows_exactly_the_limit() -> None:
    oversized: list[int] = []
    data = frame(0x1, b"x" * 32 * 1024)
    assert FrameSizeGuard(32 * 1024, oversized.append).feed(data) == data
    assert oversized == []


@pytest.mark.parametrize(
    ("body", "route"),
    [
        ('{"action": "send"}', "send"),
        ('{"action": "unknown"}', "$default"),
        ('{"action": "$connect"}', "$default"),
        ('{"action": 3}', "$default"),
        ("not json", "$default"),
        ("[1, 2]", "$default"),
        (b'{"action": "send"}', "$default"),
    ],
)
def test_route_selection_by_action_falls_back_to_default(body: str | bytes, route: str) -> None:
    selector = RouteSelector("$request.body.action", ["$connect", "$disconnect", "$default", "send"])
    assert selector.select(body) == route


def test_route_selection_follows_a_nested_path_and_returns_none_without_default() -> None:
    selector = RouteSelector("${request.body.meta.kind}", ["$connect", "$disconnect", "ping"])
    assert selector.select('{"meta": {"kind": "ping"}}') == "ping"
    assert selector.select('{"meta": {"kind": "pong"}}') is None
    assert selector.select('{"meta": "ping"}') is None


@pytest.mark.parametrize("expression", ["$request.header.x", "action", "$request.body.", "$request.body.a b"])
def test_unsupported_route_selection_expressions_are_refused(expression: str) -> None:
    with pytest.raises(InputError, match="unsupported route selection expression"):
        RouteSelector(expression, ["$connect"])


@pytest.mark.parametrize(
    ("value", "key"),
    [(5, "5"), (5.5, "5.5"), (True, "true"), (False, "false"), ("send", "send"), (["a", 1], "[a, 1]")],
)
def test_route_selection_stringifies_the_selected_value_as_api_gateway_does(value: object, key: str) -> None:
    selector = RouteSelector("$request.body.action", ["$connect", "$disconnect", "$default", key])
    assert stringify(value) == key
    assert selector.select(json.dumps({"action": value})) == key


def test_route_selection_sends_a_null_action_to_default() -> None:
    selector = RouteSelector("$request.body.action", ["$connect", "$disconnect", "$default", "null"])
    assert selector.select('{"action": null}') == "$default"


def parse_server_frames(data: bytes) -> list[tuple[int, bool, bytes]]:
    """(opcode, fin, payload) of unmasked frames, with websockets' own parser."""
    reader = StreamReader()
    reader.feed_data(data)
    reader.feed_eof()
    frames = []
    while reader.buffer:
        parser = Frame.parse(reader.read_exact, mask=False)
        with pytest.raises(StopIteration) as done:
            next(parser)
        parsed: Frame = done.value.value
        frames.append((int(parsed.opcode), parsed.fin, bytes(parsed.data)))
    return frames


def test_fragment_splits_a_message_into_frames_of_at_most_the_limit() -> None:
    data = bytes(range(256)) * 400  # 102,400 bytes
    frames = parse_server_frames(fragment(data, text=False, max_frame_bytes=32 * 1024))
    assert [(opcode, fin) for opcode, fin, _ in frames] == [(0x2, False), (0x0, False), (0x0, False), (0x0, True)]
    assert all(len(payload) <= 32 * 1024 for _, _, payload in frames)
    assert b"".join(payload for _, _, payload in frames) == data
    assert parse_server_frames(fragment(b"hi", text=True, max_frame_bytes=32 * 1024)) == [(0x1, True, b"hi")]


class RecordingProtocol(asyncio.Protocol):
    def __init__(self) -> None:
        self.received = bytearray()

    def data_received(self, data: bytes) -> None:
        self.received += data


class NullTransport(asyncio.Transport):
    def write(self, data: Any) -> None:
        pass


UPGRADE_HEAD = b"GET /live HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"


@pytest.mark.parametrize("piece", [1, 7, 10_000])
def test_guarded_protocol_guards_frames_after_an_upgrade_head_only(piece: int) -> None:
    oversized: list[int] = []
    guards = FrameGuards(32 * 1024)
    inner = RecordingProtocol()
    protocol = GuardedProtocol(inner, guards)
    protocol.connection_made(NullTransport())
    small, big = frame(0x1, b"a" * 10), frame(0x1, b"b" * 40_000)
    stream = UPGRADE_HEAD + small + big + small
    for i in range(0, len(stream), piece):
        protocol.data_received(stream[i : i + piece])
    protocol.on_oversized(oversized.append)  # registered late: the early report is kept for it
    assert bytes(inner.received) == UPGRADE_HEAD + small + small
    assert oversized == [40_000]
    assert protocol.is_websocket


def test_guarded_protocol_passes_plain_http_untouched_and_is_no_websocket() -> None:
    guards = FrameGuards(32 * 1024)
    inner = RecordingProtocol()
    protocol = GuardedProtocol(inner, guards)
    protocol.connection_made(NullTransport())
    body = frame(0x1, b"b" * 40_000)  # bytes that look like an oversized frame, in a POST body
    request = b"POST /live/@connections/x HTTP/1.1\r\nContent-Length: %d\r\n\r\n" % len(body) + body
    protocol.data_received(request)
    assert bytes(inner.received) == request
    assert not protocol.is_websocket
    assert len(guards) == 1
    protocol.connection_lost(None)
    assert len(guards) == 0


def test_token_bucket_allows_the_burst_then_the_rate() -> None:
    now = [0.0]
    bucket = TokenBucket.for_rate(50.0, clock=lambda: now[0])
    assert bucket.burst == 25.0
    assert sum(bucket.take() for _ in range(100)) == 25
    now[0] += 0.1  # five requests' worth
    assert sum(bucket.take() for _ in range(100)) == 5
    now[0] += 100.0  # refills to the burst, no further
    assert sum(bucket.take() for _ in range(100)) == 25


def test_error_frames_have_api_gateways_exact_bytes() -> None:
    assert error_frame("Forbidden", "Llf4ceE2NjMCF7w=", "Llf7PFSNNjMFZeA=") == (
        '{"message": "Forbidden", "connectionId":"Llf4ceE2NjMCF7w=", "requestId":"Llf7PFSNNjMFZeA="}'
    )


def test_async_policy_waits_the_given_delays_and_repeats_the_last() -> None:
    assert [AsyncPolicy().delay_before(n) for n in (1, 2)] == [60.0, 120.0]
    assert [AsyncPolicy(retry_delays_s=(0.5,)).delay_before(n) for n in (1, 2)] == [0.5, 0.5]


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"async_max_retry_attempts": 3}, "--async-retries"),
        ({"async_max_event_age_s": 59.0}, "--async-max-event-age"),
        ({"async_max_event_age_s": 21601.0}, "--async-max-event-age"),
        ({"async_retry_delays_s": ()}, "--async-retry-delays"),
        ({"connections_rate": 0.0}, "--connections-rate"),
        ({"integration_timeout_s": 30.0}, "integration timeout"),
    ],
)
def test_settings_refuse_what_aws_does_not_allow(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(InputError, match=message):
        StackSettings(**overrides).validate()


def test_the_server_is_not_started_without_the_frame_guard() -> None:
    """A runner that cannot give the guard its protocol factory stops the start (`LocalStack` turns it into one
    error line) instead of serving WebSocket connections without the 32 KB limit."""

    async def main() -> None:
        runner = web.AppRunner(web.Application())  # not set up: no protocol factory yet
        with socket.socket() as sock, pytest.raises(FrameGuardUnavailable):
            await serve_guarded(runner, sock, FrameGuards(32 * 1024))

    asyncio.run(main())
