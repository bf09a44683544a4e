"""API Gateway's 32 KB limit on a single WebSocket frame, enforced in front of aiohttp's frame parser.

aiohttp limits whole messages only. `FrameSizeGuard` is a sans-I/O scanner of the client's byte stream: it
reads each frame header, drops a data frame whose payload is over the limit (header and payload, so the
parser behind it stays at a frame boundary and the close handshake still works) and reports it.
`guard_connection` puts it between aiohttp's protocol and its WebSocket parser.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

LOGGER = logging.getLogger("wspush.local.gateway")

_DATA_OPCODES = frozenset({0x0, 0x1, 0x2})
"""Continuation, text and binary frames: the ones API Gateway's frame limit applies to."""


class FrameSizeGuard:
    """Feed it the client's bytes; it returns the bytes to pass on and counts oversized data frames."""

    def __init__(self, max_frame_bytes: int, on_oversized: Callable[[int], None]) -> None:
        self._max = max_frame_bytes
        self._on_oversized = on_oversized
        self._header = bytearray()
        self._payload_left = 0
        self._dropping = False

    def _header_length(self) -> int | None:
        """Bytes of the current header once its first two are known."""
        if len(self._header) < 2:
            return None
        length_code = self._header[1] & 0x7F
        masked = self._header[1] & 0x80
        extended = 2 if length_code == 126 else 8 if length_code == 127 else 0
        return 2 + extended + (4 if masked else 0)

    def _payload_length(self) -> int:
        length_code = self._header[1] & 0x7F
        if length_code == 126:
            return int.from_bytes(self._header[2:4], "big")
        if length_code == 127:
            return int.from_bytes(self._header[2:10], "big")
        return length_code

    def feed(self, data: bytes) -> bytes:
        passed = bytearray()
        position = 0
        while position < len(data):
            if self._payload_left:
                take = min(self._payload_left, len(data) - position)
                if not self._dropping:
                    passed += data[position : position + take]
                self._payload_left -= take
                position += take
                continue
            needed = self._header_length()
            if needed is None or len(self._header) < needed:
                self._header.append(data[position])
                position += 1
                needed = self._header_length()
                if needed is None or len(self._header) < needed:
                    continue
            payload_length = self._payload_length()
            opcode = self._header[0] & 0x0F
            self._dropping = opcode in _DATA_OPCODES and payload_length > self._max
            if self._dropping:
                self._on_oversized(payload_length)
            else:
                passed += self._header
            self._header.clear()
            self._payload_left = payload_length
        return bytes(passed)


class _GuardedParser:
    """Stands in for aiohttp's WebSocket parser (`feed_data`/`feed_eof`), filtering through the guard."""

    def __init__(self, parser: Any, guard: FrameSizeGuard) -> None:
        self._parser = parser
        self._guard = guard

    def feed_data(self, data: bytes) -> tuple[bool, bytes]:
        passed = self._guard.feed(bytes(data))
        if not passed:
            return False, b""
        result: tuple[bool, bytes] = self._parser.feed_data(passed)
        return result

    def feed_eof(self) -> None:
        self._parser.feed_eof()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._parser, name)


def guard_connection(protocol: Any, max_frame_bytes: int, on_oversized: Callable[[int], None]) -> bool:
    """Install the guard on a prepared aiohttp WebSocket connection; False if this aiohttp has no such hook."""
    parser = getattr(protocol, "_payload_parser", None)
    if parser is None or not hasattr(parser, "feed_data"):
        LOGGER.warning(
            "this aiohttp version offers no frame hook: the %d-byte frame limit is not enforced", max_frame_bytes
        )
        return False
    protocol._payload_parser = _GuardedParser(parser, FrameSizeGuard(max_frame_bytes, on_oversized))
    return True
