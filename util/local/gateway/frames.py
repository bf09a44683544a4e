"""API Gateway's 32 KB WebSocket frame limit, both ways, through public APIs only.

aiohttp limits whole messages only, and sends every message as one frame. Two pieces fill the gap:

- `FrameSizeGuard`, a sans-I/O scanner of the client's byte stream: it reads each frame header, drops a data
  frame whose payload is over the limit (header and payload, so the parser behind it stays at a frame boundary
  and the close handshake still works) and reports it.
- `GuardedProtocol`, an asyncio protocol wrapped around aiohttp's own `RequestHandler` (aiohttp documents
  `web.Server` as a protocol factory for `loop.create_server`). It passes HTTP through untouched, and once a
  connection's first request is a WebSocket upgrade, it feeds every later byte through a `FrameSizeGuard`. It
  also writes messages over the limit as fragments of at most 32 KB (`write_fragmented`), the way API Gateway
  delivers a large `@connections` post.

`serve_guarded` starts the server with it; the gateway refuses a handshake on a connection without a guard, so
no WebSocket connection ever runs without the limit.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable
from typing import Any

from aiohttp import web
from websockets.frames import Frame, Opcode

_DATA_OPCODES = frozenset({0x0, 0x1, 0x2})
"""Continuation, text and binary frames: the ones API Gateway's frame limit applies to."""
_HEAD_END = b"\r\n\r\n"
MAX_HEAD_BYTES = 64 * 1024
"""A request head longer than this is left to aiohttp (which refuses it); the guard stops looking."""


class FrameGuardUnavailable(RuntimeError):
    """The server cannot be started with the frame guard in front of it."""


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


def _is_websocket_upgrade(head: bytes) -> bool:
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"upgrade" and value.strip().lower() == b"websocket":
            return True
    return False


def fragment(data: bytes, *, text: bool, max_frame_bytes: int) -> bytes:
    """One message as unmasked server frames of at most `max_frame_bytes` payload each, ready to write."""
    chunks = [data[i : i + max_frame_bytes] for i in range(0, len(data), max_frame_bytes)] or [b""]
    first = Opcode.TEXT if text else Opcode.BINARY
    return b"".join(
        Frame(first if i == 0 else Opcode.CONT, chunk, fin=i == len(chunks) - 1).serialize(mask=False)
        for i, chunk in enumerate(chunks)
    )


class GuardedProtocol(asyncio.Protocol):
    """aiohttp's protocol for one TCP connection, with the frame guard on its input once it is a WebSocket."""

    def __init__(self, inner: asyncio.Protocol, guards: FrameGuards) -> None:
        self._inner = inner
        self._guards = guards
        self._transport: asyncio.Transport | None = None
        self._head = bytearray()
        self._mode = "head"  # "head" (first request's head), "frames" (a WebSocket), "http" (plain HTTP)
        self._guard: FrameSizeGuard | None = None
        self._oversized: Callable[[int], None] | None = None
        self._pending_oversized: int | None = None
        self._paused = False
        self._drained: asyncio.Future[None] | None = None

    # -- what the gateway uses -------------------------------------------------------------------

    @property
    def is_websocket(self) -> bool:
        return self._mode == "frames"

    def on_oversized(self, callback: Callable[[int], None]) -> None:
        """Call `callback(size)` for each oversized frame (at once for one that came before this call)."""
        self._oversized = callback
        if self._pending_oversized is not None:
            size, self._pending_oversized = self._pending_oversized, None
            callback(size)

    def write_fragmented(self, data: bytes, *, text: bool, max_frame_bytes: int) -> None:
        """Write one message as fragments, in one write: no other frame of this loop can land between them."""
        if self._transport is None or self._transport.is_closing():
            raise ConnectionResetError("the connection is closed")
        self._transport.write(fragment(data, text=text, max_frame_bytes=max_frame_bytes))

    async def drain(self) -> None:
        """Wait until the transport takes more output (as a stream writer's `drain`)."""
        if self._transport is None or self._transport.is_closing():
            raise ConnectionResetError("the connection is closed")
        if not self._paused:
            return
        if self._drained is None or self._drained.done():
            self._drained = asyncio.get_running_loop().create_future()
        await asyncio.shield(self._drained)

    # -- asyncio.Protocol ------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        self._guards.add(transport, self)
        self._inner.connection_made(transport)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._transport is not None:
            self._guards.discard(self._transport)
        self._wake_drainer()
        self._inner.connection_lost(exc)

    def pause_writing(self) -> None:
        self._paused = True
        self._inner.pause_writing()

    def resume_writing(self) -> None:
        self._paused = False
        self._wake_drainer()
        self._inner.resume_writing()

    def eof_received(self) -> bool | None:
        return self._inner.eof_received()

    def data_received(self, data: bytes) -> None:
        if self._mode == "http":
            self._inner.data_received(data)
        elif self._mode == "frames":
            assert self._guard is not None
            passed = self._guard.feed(data)
            if passed:
                self._inner.data_received(passed)
        else:
            self._scan_head(data)

    # -- internals -------------------------------------------------------------------------------

    def _scan_head(self, data: bytes) -> None:
        searched_from = max(0, len(self._head) - len(_HEAD_END) + 1)
        self._head += data
        end = self._head.find(_HEAD_END, searched_from)
        if end < 0:
            if len(self._head) > MAX_HEAD_BYTES:
                self._mode = "http"
                self._head.clear()
            self._inner.data_received(data)
            return
        head_length = end + len(_HEAD_END)
        head_in_data = len(data) - (len(self._head) - head_length)
        if _is_websocket_upgrade(bytes(self._head[:head_length])):
            # Every byte after an upgrade request's head is a WebSocket frame (a client may not send any before
            # the 101, and a refused upgrade closes the connection).
            self._mode = "frames"
            self._guard = FrameSizeGuard(self._guards.max_frame_bytes, self._report_oversized)
            self._inner.data_received(data[:head_in_data])
            rest = data[head_in_data:]
            if rest:
                self.data_received(rest)
        else:
            self._mode = "http"
            self._inner.data_received(data)
        self._head.clear()

    def _report_oversized(self, size: int) -> None:
        if self._oversized is not None:
            self._oversized(size)
        elif self._pending_oversized is None:
            self._pending_oversized = size

    def _wake_drainer(self) -> None:
        if self._drained is not None and not self._drained.done():
            self._drained.set_result(None)


class FrameGuards:
    """The guarded connections of one server, by transport (the gateway finds its own by `request.transport`)."""

    def __init__(self, max_frame_bytes: int) -> None:
        self.max_frame_bytes = max_frame_bytes
        self._by_transport: dict[asyncio.BaseTransport, GuardedProtocol] = {}

    def add(self, transport: asyncio.BaseTransport, protocol: GuardedProtocol) -> None:
        self._by_transport[transport] = protocol

    def discard(self, transport: asyncio.BaseTransport) -> None:
        self._by_transport.pop(transport, None)

    def of(self, request: web.BaseRequest) -> GuardedProtocol | None:
        """The guard of a WebSocket upgrade request's connection; None if it has none (never serve it then)."""
        transport = request.transport
        guarded = self._by_transport.get(transport) if transport is not None else None
        return guarded if guarded is not None and guarded.is_websocket else None

    def __len__(self) -> int:
        return len(self._by_transport)


async def serve_guarded(runner: web.BaseRunner, sock: socket.socket, guards: FrameGuards) -> asyncio.AbstractServer:
    """Serve `runner`'s application on `sock` with every connection behind a `GuardedProtocol`."""
    factory: Any = runner.server
    if factory is None or not callable(factory):
        raise FrameGuardUnavailable("the web runner has no protocol factory: call setup() first")
    loop = asyncio.get_running_loop()
    return await loop.create_server(lambda: GuardedProtocol(factory(), guards), sock=sock)
