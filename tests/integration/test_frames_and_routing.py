"""The sans-I/O pieces of the gateway: the 32 KB frame guard and route selection."""

from __future__ import annotations

import os
import struct

import pytest

from util.errors import InputError
from util.local.frames import FrameSizeGuard
from util.local.routing import RouteSelector


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
