"""The client: one supervisor task that connects, reconnects and rolls connections over; one `_Link` per
WebSocket connection that reads frames, matches replies to requests and keeps the connection alive.

The protocol has no request ids: a reply is matched by its type (and room), and an error frame belongs to the
request waiting for a reply. One such request is in flight per connection at a time (`_Link.request`).
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import logging
import random
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

from ._backoff import STABLE_CONNECTION_S, Backoff
from ._codes import UNAUTHORIZED_STATUSES, Advice, CloseCode, close_advice, status_advice
from ._errors import (
    ClientError,
    ConnectionLost,
    ConnectionRefused,
    NotConnected,
    ReplyTimeout,
    ServerError,
    Unauthorized,
)
from ._protocol import (
    RATE_LIMITED,
    REPLY_TYPES,
    Action,
    ErrorFrame,
    HistoryPage,
    Incoming,
    Joined,
    Left,
    MembersPage,
    Message,
    Presence,
    Push,
    RecoveryIncomplete,
    Reply,
    Whoami,
    encode,
    entry_incoming,
    parse,
)
from ._recovery import OverlapFilter, RecoveryCheck, RoomCursor
from ._state import State, check_transition

logger = logging.getLogger("wspush_client")

IDLE_TIMEOUT_S = 600.0
"""API Gateway closes a connection after 10 minutes without a data message (pings do not count)."""
MAX_DURATION_S = 7200.0
"""API Gateway closes every connection after 2 hours."""
KEEPALIVE_FRACTION = 0.5
"""A keepalive message goes out when the client has sent nothing for this share of the idle timeout."""
ROLLOVER_FRACTIONS = (0.6, 0.8)
"""The rollover starts at a random point of this share of the maximum duration (72-96 min of 2 h), counted from the
start of the connection attempt (the server's clock starts at `$connect`, before the handshake completes): late
enough to be rare, early enough for a slow new connection (and for one retry), spread so clients connected together
do not roll over together."""
MAX_MESSAGE_BYTES = 128 * 1024
"""API Gateway's largest message, either way."""
MAX_FRAME_BYTES = 32 * 1024
"""API Gateway's largest frame: a longer message is sent in fragments."""
OPEN_TIMEOUT_S = 10.0
REQUEST_TIMEOUT_S = 10.0
CLOSE_TIMEOUT_S = 2.0
PING_INTERVAL_S = 30.0
"""WebSocket pings find a dead TCP connection; they do not keep API Gateway's idle timeout away."""
RATE_LIMIT_RETRIES = 5
SEND_ATTEMPTS = 3
"""Connections a frame without a reply is tried on, when each is found closed at the moment of sending."""
RETRY_AFTER = re.compile(r"try again in (\d+) ms")
MAX_REASON_CHARS = 200
OWN_IDS_KEPT = 16

E = TypeVar("E")
Callback = Callable[[Any], Awaitable[None] | None]
TokenSource = Callable[[], str | Awaitable[str]]


@dataclass(frozen=True)
class Limits:
    """The API's connection limits the client works within (API Gateway's by default; a local stack started
    with `--idle-timeout`/`--max-duration` has others)."""

    idle_timeout_s: float = IDLE_TIMEOUT_S
    max_duration_s: float = MAX_DURATION_S
    keepalive: bool = True
    rollover: bool = True

    @property
    def keepalive_interval_s(self) -> float:
        return self.idle_timeout_s * KEEPALIVE_FRACTION


@dataclass(frozen=True)
class StateChange:
    """A transition of the client's state machine; `error` is set when the client closed on a refusal."""

    state: State
    previous: State
    reason: str = ""
    error: ClientError | None = None


@dataclass(frozen=True)
class ConnectionOpened:
    """A new connection took over: the first one, one after a drop (`reconnect`) or a `rollover`; the
    connection id changes with each."""

    connection_id: str
    kind: str


class _Retry(Exception):
    """A connection attempt that failed in a way worth another try (network, timeout, 5xx, 429)."""


class _Link:
    """One WebSocket connection: its reader, its request slot, its keepalive."""

    def __init__(self, client: Client, websocket: ClientConnection, serial: int, started_at: float) -> None:
        self.client = client
        self.websocket = websocket
        self.serial = serial
        self.connection_id: str | None = None
        self.opened_at = started_at
        """When the attempt started (not when the handshake ended): the server's maximum duration counts from there."""
        self.last_sent = time.monotonic()
        self.lock = asyncio.Lock()
        self.pending: tuple[Callable[[Reply], bool], asyncio.Future[Reply]] | None = None
        self.rooms: set[str] = set()
        self.recovering: dict[str, list[tuple[str, Incoming]]] = {}
        """Per room being recovered on this link: its live room frames, held until history was delivered."""
        self.closed = asyncio.Event()
        self.reader = asyncio.create_task(self._read())
        self.keepalive: asyncio.Task[None] | None = None
        self.rollover_after_s: float | None = None
        self.rollover_failures = 0
        """Drawn once per connection (`ROLLOVER_FRACTIONS` of the maximum duration)."""

    async def send(self, frame: dict[str, Any]) -> None:
        text = encode(frame)
        self.last_sent = time.monotonic()
        try:
            await self.websocket.send(_fragments(text) if len(text.encode()) > MAX_FRAME_BYTES else text)
        except ConnectionClosed as error:
            raise ConnectionLost("the connection closed before the frame was sent") from error

    async def request(self, frame: dict[str, Any], accept: Callable[[Reply], bool], timeout_s: float) -> Reply:
        """Send `frame` and wait for the reply `accept` takes (or an error frame); `rate_limited` is retried after
        the wait it names."""
        async with self.lock:
            for _ in range(RATE_LIMIT_RETRIES + 1):
                future: asyncio.Future[Reply] = asyncio.get_running_loop().create_future()
                self.pending = (accept, future)
                try:
                    await self.send(frame)
                    async with asyncio.timeout(timeout_s):
                        reply = await future
                except TimeoutError:
                    raise ReplyTimeout(f"no reply to {frame.get('action')} within {timeout_s:g} s") from None
                finally:
                    self.pending = None
                if isinstance(reply, ErrorFrame) and reply.code == RATE_LIMITED:
                    match = RETRY_AFTER.search(reply.error)
                    await asyncio.sleep((int(match.group(1)) if match else 1000) / 1000 + 0.05)
                    continue
                if isinstance(reply, ErrorFrame):
                    raise ServerError(reply.code, reply.error)
                return reply
            raise ServerError(RATE_LIMITED, f"still rate limited after {RATE_LIMIT_RETRIES} retries")

    async def _read(self) -> None:
        try:
            async for data in self.websocket:
                if not isinstance(data, str):
                    continue  # wspush sends text only
                frame = parse(data)
                if self.pending is not None and not self.pending[1].done():
                    accept, future = self.pending
                    if isinstance(frame, ErrorFrame) or (isinstance(frame, REPLY_TYPES) and accept(frame)):
                        future.set_result(frame)
                        continue
                self.client._received(self, data, frame)
        except ConnectionClosed:
            pass
        finally:
            if self.pending is not None and not self.pending[1].done():
                self.pending[1].set_exception(ConnectionLost("the connection closed while waiting for a reply"))
            self.closed.set()

    async def keep_alive(self, interval_s: float, timeout_s: float) -> None:
        """A data message whenever the client has sent nothing for `interval_s`: API Gateway counts messages,
        not pings. `whoami` is the cheapest action with a reply, and a missing reply means a dead connection."""
        while not self.closed.is_set():
            wait = self.last_sent + interval_s - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
                continue
            try:
                await self.request({"action": Action.WHOAMI}, _is(Whoami), timeout_s)
            except ReplyTimeout:
                logger.warning("keepalive got no reply: closing the connection")
                await self.websocket.close(CloseCode.INTERNAL_ERROR, "keepalive timeout")
                return
            except ClientError:
                return

    @property
    def close_code(self) -> int:
        code = self.websocket.close_code
        return int(code) if code is not None else CloseCode.ABNORMAL

    async def close(self) -> None:
        if self.keepalive is not None:
            self.keepalive.cancel()
        with contextlib.suppress(Exception):
            await self.websocket.close(CloseCode.NORMAL)
        await self.reader


def _is(kind: type[Reply], room: str | None = None) -> Callable[[Reply], bool]:
    def accept(reply: Reply) -> bool:
        return isinstance(reply, kind) and (room is None or getattr(reply, "room", None) == room)

    return accept


def _fragments(text: str) -> list[str]:
    """`text` in pieces of at most `MAX_FRAME_BYTES` of UTF-8, cut between characters."""
    data = text.encode()
    pieces = []
    start = 0
    while start < len(data):
        end = min(start + MAX_FRAME_BYTES, len(data))
        while end < len(data) and (data[end] & 0xC0) == 0x80:
            end -= 1  # not inside a character's continuation bytes
        pieces.append(data[start:end].decode())
        start = end
    return pieces


def with_query(url: str, name: str | None, token: str | None) -> str:
    parts = urlsplit(url)
    query = [(key, value) for key, value in parse_qsl(parts.query) if key not in ("name", "token")]
    if name is not None:
        query.append(("name", name))
    if token is not None:
        query.append(("token", token))
    return urlunsplit(parts._replace(query=urlencode(query)))


def redacted(url: str) -> str:
    """`url` without its token, for anything logged."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(query="", fragment=""))


def _refusal_reason(body: bytes | bytearray | None) -> str:
    text = (body or b"").decode("utf-8", "replace").strip()
    with contextlib.suppress(ValueError):
        value = json.loads(text)
        if isinstance(value, dict):
            text = str(value.get("error") or value.get("message") or text)
    text = " ".join(text.split())
    return text[:MAX_REASON_CHARS]


class Client:
    """A wspush client that survives API Gateway's limits.

    `token` is called on every connection attempt (a fresh token each time) and never logged. `connect()` returns
    once the first connection is open; from then on the client reconnects by itself (backoff with full jitter),
    rejoins the rooms joined through it and delivers, per room, what it missed (from history, once each, in id
    order) before the live messages that arrived meanwhile. It stops only on `close()` or when the server
    refuses the token (401/403: `Unauthorized`).
    """

    def __init__(
        self,
        url: str,
        *,
        name: str | None = None,
        token: TokenSource | None = None,
        limits: Limits | None = None,
        backoff: Backoff | None = None,
        request_timeout_s: float = REQUEST_TIMEOUT_S,
        open_timeout_s: float = OPEN_TIMEOUT_S,
    ) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("ws", "wss") or not parts.netloc:
            raise ValueError(f"not a WebSocket URL: {redacted(url)!r} (expected ws://... or wss://...)")
        self._url = url
        self._name = name
        self._token = token
        self.limits = limits or Limits()
        self.backoff = backoff or Backoff()
        self._request_timeout_s = request_timeout_s
        self._open_timeout_s = open_timeout_s
        self._state = State.IDLE
        self._callbacks: list[tuple[type[Any], Callback]] = []
        self._queue: asyncio.Queue[Incoming | None] = asyncio.Queue()
        self._rooms: list[str] = []
        """Rooms joined through the client, in join order: rejoined on every new connection."""
        self._cursors: dict[str, RoomCursor] = {}
        self._own_ids: list[str] = []
        self._overlap = OverlapFilter()
        self._link: _Link | None = None
        self._serials = 0
        self._membership = asyncio.Lock()
        self._rolling = asyncio.Lock()
        self._closing = asyncio.Event()
        self._opened = asyncio.Event()
        self._link_ready = asyncio.Event()
        """Set whenever a connection becomes the current one (or the client closes): actions waiting wake up."""
        self._supervisor: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self.error: ClientError | None = None
        """Why the client closed by itself (a refused token), else None."""
        self.connections = 0
        """Connections opened so far (rollovers and reconnects included)."""

    # -- state ----------------------------------------------------------------------------------------------

    @property
    def state(self) -> State:
        return self._state

    @property
    def connection_id(self) -> str | None:
        """The current connection's id (it changes with every reconnect and rollover)."""
        return self._link.connection_id if self._link is not None else None

    @property
    def rooms(self) -> tuple[str, ...]:
        return tuple(self._rooms)

    def _set_state(self, state: State, reason: str = "", error: ClientError | None = None) -> None:
        if state == self._state:
            return
        check_transition(self._state, state)
        previous, self._state = self._state, state
        logger.info("state %s -> %s%s", previous, state, f" ({reason})" if reason else "")
        self._dispatch(StateChange(state, previous, reason, error))

    def on(self, kind: type[E], callback: Callable[[E], Awaitable[None] | None]) -> None:
        """Call `callback` with every event of `kind` (Message, Push, Presence, ErrorFrame, RecoveryIncomplete,
        StateChange, ConnectionOpened). A coroutine function runs as a task of its own, so it may call the client."""
        self._callbacks.append((kind, callback))

    async def wait_for(self, state: State, timeout_s: float) -> None:
        """Until the client is in `state` (raises TimeoutError after `timeout_s`)."""
        reached = asyncio.Event()

        def check(change: StateChange) -> None:
            if change.state == state:
                reached.set()

        self.on(StateChange, check)
        try:
            if self._state != state:
                async with asyncio.timeout(timeout_s):
                    await reached.wait()
        finally:
            self._callbacks.remove((StateChange, check))

    def _dispatch(self, event: Any) -> None:
        for kind, callback in list(self._callbacks):
            if isinstance(event, kind):
                try:
                    result = callback(event)
                except Exception:
                    logger.exception("a %s callback failed", type(event).__name__)
                    continue
                if inspect.isawaitable(result):
                    self._spawn(result)

    def _spawn(self, awaitable: Awaitable[Any]) -> None:
        async def run() -> None:
            try:
                await awaitable
            except Exception:
                logger.exception("a callback failed")

        task = asyncio.ensure_future(run())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _emit(self, event: Incoming) -> None:
        self._queue.put_nowait(event)
        self._dispatch(event)

    async def frames(self) -> AsyncIterator[Incoming]:
        """Every incoming frame and `RecoveryIncomplete`, in delivery order, until the client closes (then it
        raises the error the client closed on, if any). One consumer: two iterators split the frames."""
        while True:
            event = await self._queue.get()
            if event is None:
                self._queue.put_nowait(None)  # every later iterator ends too
                if self.error is not None:
                    raise self.error
                return
            yield event

    def __aiter__(self) -> AsyncIterator[Incoming]:
        return self.frames()

    # -- lifecycle ------------------------------------------------------------------------------------------

    async def connect(self) -> Client:
        """Connect (retrying with backoff) and return once open; raises `Unauthorized` or `ConnectionRefused` when
        `$connect` refuses for good. Bound it with `asyncio.timeout` to give up on an unreachable server."""
        if self._state != State.IDLE:
            raise ClientError(f"connect() is for a new client; this one is {self._state}")
        self._set_state(State.CONNECTING)
        self._supervisor = asyncio.create_task(self._supervise())
        opened = asyncio.create_task(self._opened.wait())
        try:
            await asyncio.wait({opened, self._supervisor}, return_when=asyncio.FIRST_COMPLETED)
        except asyncio.CancelledError:
            await self.close()
            raise
        finally:
            opened.cancel()
        if not self._opened.is_set():
            if self.error is not None:
                raise self.error
            raise ClientError("the client closed before it connected")
        return self

    async def close(self) -> None:
        """Stop reconnecting, let the server take every frame sent so far (a rollover in progress finishes, then
        a `whoami` round trip on the connection, bounded by the request timeout), close it (1000); the frames'
        iterator ends. Idempotent."""
        if self._state == State.CLOSED:
            return
        self._closing.set()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self._request_timeout_s):
                async with self._rolling:
                    pass
        link = self._link
        if link is not None and not link.closed.is_set():
            with contextlib.suppress(ClientError):
                await link.request({"action": Action.WHOAMI}, _is(Whoami), self._request_timeout_s)
        if self._supervisor is not None and self._supervisor is not asyncio.current_task():
            self._supervisor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._supervisor
        if self._link is not None:
            await self._link.close()
        self._finish()

    def _finish(self, error: ClientError | None = None) -> None:
        if self._state == State.CLOSED:
            return
        self.error = error
        self._set_state(State.CLOSED, str(error) if error else "closed", error)
        self._link_ready.set()
        self._queue.put_nowait(None)

    async def __aenter__(self) -> Client:
        return await self.connect()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def _open(self) -> _Link:
        started_at = time.monotonic()
        token: str | None = None
        if self._token is not None:
            value = self._token()
            token = await value if inspect.isawaitable(value) else value
        try:
            websocket = await connect(
                with_query(self._url, self._name, token),
                open_timeout=self._open_timeout_s,
                ping_interval=PING_INTERVAL_S,
                ping_timeout=PING_INTERVAL_S,
                close_timeout=CLOSE_TIMEOUT_S,
                max_size=MAX_MESSAGE_BYTES,
                compression=None,  # API Gateway does not negotiate permessage-deflate
            )
        except InvalidStatus as error:
            status = error.response.status_code
            reason = _refusal_reason(error.response.body)
            if status_advice(status) is Advice.STOP:
                refusal = Unauthorized if status in UNAUTHORIZED_STATUSES else ConnectionRefused
                raise refusal(status, reason) from None
            raise _Retry(f"HTTP {status}: {reason}") from None
        except (OSError, TimeoutError, InvalidHandshake) as error:
            raise _Retry(f"cannot connect to {redacted(self._url)}: {type(error).__name__}: {error}") from None
        self._serials += 1
        self.connections += 1
        return _Link(self, websocket, self._serials, started_at)

    async def _supervise(self) -> None:
        attempt = 0
        while not self._closing.is_set():
            reason = ""
            try:
                link = await self._open()
            except ConnectionRefused as error:
                self._finish(error)
                return
            except _Retry as error:
                reason = str(error)
            else:
                try:
                    await self._start(link)
                except (ClientError, ConnectionClosed) as error:
                    reason = f"the new connection failed while rejoining: {error}"
                    await link.close()
                else:
                    self._link = link
                    self._set_state(State.OPEN)
                    kind = "reconnect" if self._opened.is_set() else "connect"
                    self._dispatch(ConnectionOpened(str(link.connection_id), kind))
                    self._opened.set()
                    self._link_ready.set()
                    opened_at = time.monotonic()
                    reason = await self._serve(link)
                    if time.monotonic() - opened_at >= STABLE_CONNECTION_S:
                        attempt = 0
            if self._closing.is_set():
                return
            if self._opened.is_set():
                self._set_state(State.RECONNECTING, reason)
            delay = self.backoff.delay(attempt)
            attempt += 1
            logger.info("%s; reconnecting in %.2f s", reason, delay)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(delay):
                    await self._closing.wait()

    async def _serve(self, link: _Link) -> str:
        """Until the current connection closes (a rollover replaces it on the way); returns why it closed."""
        while True:
            rollover_in = link.opened_at + self._rollover_after_s(link) - time.monotonic()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(max(rollover_in, 0) if self.limits.rollover else None):
                    await link.closed.wait()
            if link.closed.is_set():
                code = link.close_code
                self._link = None
                why = link.websocket.close_reason or "no reason"
                return f"the connection closed (code {code}, {why}; {close_advice(code).value})"
            successor = await self._rollover(link)
            if successor is not None:
                link = successor
            else:
                # Try again after a backoff delay, not at once: the old connection serves meanwhile.
                link.rollover_failures += 1
                link.rollover_after_s = self._rollover_after_s(link) + self.backoff.delay(link.rollover_failures)

    def _rollover_after_s(self, link: _Link) -> float:
        if link.rollover_after_s is None:
            link.rollover_after_s = self.limits.max_duration_s * random.uniform(*ROLLOVER_FRACTIONS)
        return link.rollover_after_s

    async def _rollover(self, old: _Link) -> _Link | None:
        """Make before break: open a new connection, rejoin and recover on it, switch, then close the old one.
        Returns the new connection, or None (the old one serves on; its close is then an ordinary reconnect)."""
        async with self._rolling:
            return await self._roll(old)

    async def _roll(self, old: _Link) -> _Link | None:
        logger.info("rolling the connection over before the maximum duration")
        self._overlap.start()
        new: _Link | None = None
        try:
            new = await self._open()
            async with self._membership:
                await self._start(new, holding_membership=True)
                self._link = new
                self._link_ready.set()
                self._dispatch(ConnectionOpened(str(new.connection_id), "rollover"))
        except (ClientError, _Retry, ConnectionClosed) as error:
            logger.warning("rollover failed (%s): the old connection serves until it closes", error)
            if new is not None:
                await new.close()
            self._overlap.finish(time.monotonic())
            return None
        async with old.lock:  # a request in flight on the old connection gets its reply first
            pass
        # The server runs one connection's messages in order: a reply to a `whoami` sent now proves every frame
        # sent before it on the old connection was taken (a broadcast has no reply of its own to wait for).
        with contextlib.suppress(ClientError):
            await old.request({"action": Action.WHOAMI}, _is(Whoami), self._request_timeout_s)
        await old.close()
        self._overlap.finish(time.monotonic())
        return new

    async def _start(self, link: _Link, *, holding_membership: bool = False) -> None:
        """A new connection: learn its id, rejoin every room, recover each room's missed messages."""
        who = await link.request({"action": Action.WHOAMI}, _is(Whoami), self._request_timeout_s)
        assert isinstance(who, Whoami)
        link.connection_id = who.connection_id
        self._own_ids = [*self._own_ids[-OWN_IDS_KEPT:], who.connection_id]
        if holding_membership:
            await self._rejoin(link)
        else:
            async with self._membership:
                await self._rejoin(link)
        if self.limits.keepalive:
            link.keepalive = asyncio.create_task(
                link.keep_alive(self.limits.keepalive_interval_s, self._request_timeout_s)
            )

    async def _rejoin(self, link: _Link) -> None:
        for room in self._rooms:
            link.recovering[room] = []
        for room in list(self._rooms):
            await link.request({"action": Action.JOIN, "room": room}, _is(Joined, room), self._request_timeout_s)
            link.rooms.add(room)
        for room in list(self._rooms):
            await self._recover(link, room)

    async def _recover(self, link: _Link, room: str) -> None:
        """Deliver what `room` got since the last id seen, from history, then the live frames held meanwhile."""
        cursor = self._cursors.setdefault(room, RoomCursor(_now_ms()))
        check = RecoveryCheck(cursor.last_id)
        after: str | None = cursor.recovery_after()
        try:
            while after is not None:
                page = await link.request(
                    {"action": Action.HISTORY, "room": room, "after": after},
                    _is(HistoryPage, room),
                    self._request_timeout_s,
                )
                assert isinstance(page, HistoryPage)
                for entry in page.messages:
                    if not check.entry(entry.id):
                        self._emit(RecoveryIncomplete(room, check.expected, "trimmed", entry.id))
                    incoming = entry_incoming(room, entry)
                    if incoming is None:
                        if cursor.first_time(entry.id):
                            self._emit(RecoveryIncomplete(room, cursor.last_id, "too_large", entry.id))
                        continue
                    if cursor.first_time(entry.id):
                        self._emit(incoming)
                after = page.next
            if not check.end():
                self._emit(RecoveryIncomplete(room, check.expected, "trimmed"))
        except ServerError as error:
            reason = "history_disabled" if error.code == "history_disabled" else "error"
            self._emit(RecoveryIncomplete(room, cursor.last_id, reason))
        finally:
            for message_id, held in link.recovering.pop(room, []):
                if cursor.first_time(message_id):
                    self._emit(held)

    def _received(self, link: _Link, text: str, frame: Incoming | Reply) -> None:
        """A frame no request waited for: deliver it once, or hold it while its room recovers on `link`."""
        if isinstance(frame, Message) and frame.room is not None and frame.id is not None:
            if frame.room in link.recovering:
                link.recovering[frame.room].append((frame.id, frame))
                return
            cursor = self._cursors.setdefault(frame.room, RoomCursor(_now_ms()))
            if cursor.first_time(frame.id):
                self._emit(frame)
            return
        if isinstance(frame, Presence) and frame.member is not None and frame.member.connection_id in self._own_ids:
            return  # this client's own connections coming and going in a rollover or reconnect
        if not isinstance(frame, Message | Push | Presence | ErrorFrame):
            return  # a reply nobody waits for any more (its request timed out)
        if self._overlap.admit(link.serial, text, time.monotonic()):
            self._emit(frame)

    # -- actions --------------------------------------------------------------------------------------------

    async def _current(self) -> _Link:
        """The open connection; while the client reconnects, an action waits for it up to the request timeout."""
        deadline = time.monotonic() + self._request_timeout_s
        while True:
            link = self._link
            if self._state == State.OPEN and link is not None and not link.closed.is_set():
                return link
            if self._state in (State.IDLE, State.CLOSED) or time.monotonic() >= deadline:
                raise NotConnected(f"the client is {self._state}")
            self._link_ready.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(deadline - time.monotonic()):
                    await self._link_ready.wait()

    async def _send_unacknowledged(self, frame: dict[str, Any]) -> None:
        """Send a frame that has no reply. A connection found closed when sending (the frame was not written) is
        replaced by the next one, which gets the frame: never twice, because the first never left."""
        for _ in range(SEND_ATTEMPTS - 1):
            link = await self._current()
            try:
                await link.send(frame)
                return
            except ConnectionLost:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self._request_timeout_s):
                        await link.closed.wait()
        await (await self._current()).send(frame)

    async def broadcast(self, message: Any, *, room: str | None = None, echo: bool = True) -> None:
        """To everyone, or to `room`'s members. There is no positive reply: the echo (unless `echo=False`) is an
        ordinary incoming `Message`; an error arrives as an `ErrorFrame` event."""
        frame: dict[str, Any] = {"action": Action.BROADCAST, "message": message}
        if room is not None:
            frame["room"] = room
        if not echo:
            frame["echo"] = False
        await self._send_unacknowledged(frame)

    async def send(self, to: str, message: Any) -> None:
        """A direct message to connection `to`; an unknown or gone `to` arrives as an `ErrorFrame` (`not_found`)."""
        await self._send_unacknowledged({"action": Action.SEND, "to": to, "message": message})

    async def whoami(self) -> Whoami:
        reply = await (await self._current()).request({"action": Action.WHOAMI}, _is(Whoami), self._request_timeout_s)
        assert isinstance(reply, Whoami)
        return reply

    async def join(self, room: str) -> Joined:
        """Join `room`; it is rejoined (and recovered) on every later connection until `leave`."""
        async with self._membership:
            reply = await (await self._current()).request(
                {"action": Action.JOIN, "room": room}, _is(Joined, room), self._request_timeout_s
            )
            assert isinstance(reply, Joined)
            if room not in self._rooms:
                self._rooms.append(room)
            self._cursors.setdefault(room, RoomCursor(_now_ms()))
            return reply

    async def leave(self, room: str) -> Left:
        async with self._membership:
            reply = await (await self._current()).request(
                {"action": Action.LEAVE, "room": room}, _is(Left, room), self._request_timeout_s
            )
            assert isinstance(reply, Left)
            if room in self._rooms:
                self._rooms.remove(room)
            self._cursors.pop(room, None)
            return reply

    async def history(self, room: str, *, after: str | None = None, limit: int | None = None) -> HistoryPage:
        """One page of `room`'s history after message id `after` (the oldest kept without it)."""
        frame: dict[str, Any] = {"action": Action.HISTORY, "room": room}
        if after is not None:
            frame["after"] = after
        if limit is not None:
            frame["limit"] = limit
        reply = await (await self._current()).request(frame, _is(HistoryPage, room), self._request_timeout_s)
        assert isinstance(reply, HistoryPage)
        return reply

    async def members(self, room: str, *, after: str | None = None, limit: int | None = None) -> MembersPage:
        """One page of `room`'s members after cursor `after` (the `next` of the previous page)."""
        frame: dict[str, Any] = {"action": Action.MEMBERS, "room": room}
        if after is not None:
            frame["after"] = after
        if limit is not None:
            frame["limit"] = limit
        reply = await (await self._current()).request(frame, _is(MembersPage, room), self._request_timeout_s)
        assert isinstance(reply, MembersPage)
        return reply


def _now_ms() -> int:
    return int(time.time() * 1000)
