"""`util connect`: the interactive WebSocket client, also scriptable.

Typed lines become frames (see `translate_line`); incoming frames are printed as `--output` says
(util/frame_output.py). On a terminal the input is a line editor with history whose prompt stays below
incoming frames (util/typed_input.py). The connection is kept alive with pings well inside API
Gateway's idle timeout. A first connection that fails is an error at once, as with wscat; a working
connection that drops is re-established with exponential backoff (unless `--no-reconnect`), the
rooms it had joined are joined again, and what was said in them meanwhile is fetched from their history
(after the last message id seen in each) and printed in order, marked as recovered.

Scripts use `--send` (frames sent once connected), `--listen N` (exit after N frames) and
`--timeout S` (give up, or with no `--listen` simply stop, after S seconds); they need no terminal.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import time
from collections import deque
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import typer

from lambda_src.limits import IDLE_TIMEOUT_S, MAX_MESSAGE_BYTES

from .console import status
from .environments import load_outputs
from .errors import ConnectionFailed, InputError
from .frame_output import FramePrinter, OutputFormat, default_format
from .options import EnvOption, resolve_env
from .typed_input import LineSource, open_line_source

if TYPE_CHECKING:
    from websockets.asyncio.client import ClientConnection
    from websockets.exceptions import ConnectionClosed

DEFAULT_PING_INTERVAL_S = 60.0
PING_TIMEOUT_S = 30.0
"""A pong later than this means the connection is dead: reconnect."""
OPEN_TIMEOUT_S = 10.0
CLOSE_TIMEOUT_S = 2.0
INITIAL_BACKOFF_S = 0.5
MAX_BACKOFF_S = 30.0
BACKOFF_JITTER = 0.2
"""Each delay is randomised by this fraction, so clients dropped together do not return together."""
STABLE_CONNECTION_S = 10.0
"""A connection that lasted this long was healthy: the next reconnect starts from the initial backoff."""
NORMAL_CLOSE_CODES = (1000, 1001)
ABNORMAL_CLOSE_CODE = 1006
CLIENT_ERROR_STATUSES = range(400, 500)
MAX_REFUSAL_BODY_CHARS = 300
"""A refused handshake's body says why; more than this is not a reason but a page."""
HELP = (
    "type a JSON object to send it as is, or plain text to broadcast it; commands:\n"
    "  /send CONNECTION_ID TEXT   direct message\n"
    "  /join ROOM  /leave ROOM    room membership\n"
    "  /members ROOM              who is in the room\n"
    "  /history ROOM              the room's recent messages\n"
    "  /whoami                    your connection id and name\n"
    "  /help  /quit"
)


class LineError(ValueError):
    """A typed line that cannot become a frame; the message says why, in one line."""


class Quit:
    """The user asked to end the session."""


QUIT = Quit()


@dataclass(frozen=True)
class Plan:
    """What one `util connect` run does."""

    url: str
    frames: tuple[str, ...] = ()
    listen: int | None = None
    timeout_s: float | None = None
    reconnect: bool = True
    read_input: bool = False
    ping_interval_s: float = DEFAULT_PING_INTERVAL_S
    output: OutputFormat = OutputFormat.COMPACT

    @property
    def waits(self) -> bool:
        """Whether the run has a reason to stay connected other than typed input."""
        return self.listen is not None or self.timeout_s is not None


def translate_line(line: str) -> str | Quit | None:
    """The frame to send for a typed line; None for a blank line; raises `LineError`."""
    text = line.strip()
    if not text:
        return None
    if text.startswith("/"):
        return _command(text)
    if text.startswith("{"):
        try:
            value = json.loads(text)
        except json.JSONDecodeError as error:
            raise LineError(f"not valid JSON ({error}): nothing sent") from None
        if not isinstance(value, dict):
            raise LineError("a line starting with '{' must be one JSON object: nothing sent")
        return text
    return json.dumps({"action": "broadcast", "message": text}, ensure_ascii=False)


def _command(text: str) -> str | Quit:
    name, _, rest = text.partition(" ")
    rest = rest.strip()
    if name == "/quit":
        return QUIT
    if name == "/whoami":
        return json.dumps({"action": "whoami"})
    if name in ("/join", "/leave", "/members", "/history"):
        if not rest or " " in rest:
            raise LineError(f"usage: {name} ROOM")
        return json.dumps({"action": name[1:], "room": rest})
    if name == "/send":
        target, _, message = rest.partition(" ")
        if not target or not message.strip():
            raise LineError("usage: /send CONNECTION_ID TEXT")
        return json.dumps({"action": "send", "to": target, "message": message.strip()}, ensure_ascii=False)
    if name == "/help":
        raise LineError(HELP)
    raise LineError(f"unknown command {name}: try /help")


def with_query(url: str, name: str | None, token: str | None) -> str:
    """`url` with `?name=` and `?token=` set (replacing any already there)."""
    parts = urlsplit(url)
    if parts.scheme not in ("ws", "wss") or not parts.netloc:
        raise InputError(f"not a WebSocket URL: {url!r} (expected ws://... or wss://...)")
    query = [(key, value) for key, value in parse_qsl(parts.query) if key not in ("name", "token")]
    if name is not None:
        query.append(("name", name))
    if token is not None:
        query.append(("token", token))
    return urlunsplit(parts._replace(query=urlencode(query)))


def redacted(url: str) -> str:
    """`url` without the token's value, for anything printed."""
    parts = urlsplit(url)
    query = [(key, "***" if key == "token" else value) for key, value in parse_qsl(parts.query)]
    return urlunsplit(parts._replace(query=urlencode(query, safe="*")))


def room_change(frame: str) -> tuple[str, str] | None:
    """("join" | "leave", room) when `frame` asks for either; tracked so a reconnect can rejoin."""
    try:
        value = json.loads(frame)
    except json.JSONDecodeError:
        return None
    if not isinstance(value, dict):
        return None
    action, room = value.get("action"), value.get("room")
    if action in ("join", "leave") and isinstance(room, str) and room:
        return action, room
    return None


def refusal_reason(body: bytes | bytearray) -> str:
    """What a refused handshake's body says, in one line: an error frame's text, else the body itself."""
    text = body.decode("utf-8", errors="replace").strip()
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        value = None
    if isinstance(value, dict):
        for key in ("error", "message"):
            if isinstance(value.get(key), str) and value[key].strip():
                text = value[key]
                break
    text = " ".join(text.split())
    if len(text) > MAX_REFUSAL_BODY_CHARS:
        text = text[: MAX_REFUSAL_BODY_CHARS - 3] + "..."
    return text


class Client:
    """Runs a `Plan`: connect, converse, reconnect, until the plan is fulfilled."""

    def __init__(self, plan: Plan, lines: LineSource | None, printer: FramePrinter) -> None:
        self.plan = plan
        self.lines = lines
        self.printer = printer
        self.received = 0
        self.pending = deque(plan.frames)
        self.rooms: list[str] = []
        """Rooms this session joined (in order), to join again on a new connection."""
        self.last_ids: dict[str, str] = {}
        """Per room, the id of the last message seen: where recovery after a reconnect starts."""
        self.recovering: set[str] = set()
        """Rooms whose history this session asked for after a reconnect and has not read to the end."""
        self.live_while_recovering: set[str] = set()
        """Ids of messages that arrived live while their room was recovering: the history holds them too."""
        self.connections = 0

    async def run(self) -> None:
        if self.plan.timeout_s is None:
            await self._connect_loop()
            return
        try:
            async with asyncio.timeout(self.plan.timeout_s):
                await self._connect_loop()
        except TimeoutError:
            if self.plan.listen is not None:
                raise ConnectionFailed(
                    f"timed out after {self.plan.timeout_s:g} s: received {self.received} of {self.plan.listen} frames"
                ) from None

    async def _connect_loop(self) -> None:
        # Imported here: websockets costs every other command ~60 ms of start-up for nothing.
        from websockets.asyncio.client import connect
        from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus, InvalidURI

        backoff = INITIAL_BACKOFF_S
        while True:
            connected_at: float | None = None
            try:
                async with connect(
                    self.plan.url,
                    open_timeout=OPEN_TIMEOUT_S,
                    ping_interval=self.plan.ping_interval_s,
                    ping_timeout=PING_TIMEOUT_S,
                    close_timeout=CLOSE_TIMEOUT_S,
                    max_size=MAX_MESSAGE_BYTES,  # websockets' max_size bounds a message, not a frame
                ) as websocket:
                    connected_at = time.monotonic()
                    self.connections += 1
                    status(f"connected to {redacted(self.plan.url)}")
                    if self.connections > 1:
                        await self._recover(websocket)
                    await self._converse(websocket)
                    return
            except InvalidStatus as error:
                code = error.response.status_code
                why = refusal_reason(error.response.body or b"")
                reason = f"{redacted(self.plan.url)} refused the connection: HTTP {code}" + (f": {why}" if why else "")
                if code in CLIENT_ERROR_STATUSES:
                    # $connect said no (bad token, bad name): retrying cannot change its mind.
                    raise ConnectionFailed(reason) from None
                reason = f"{redacted(self.plan.url)} answered the handshake with HTTP {code}" + (
                    f": {why}" if why else ""
                )
                self._give_up_unless_reconnecting(reason)
            except InvalidURI as error:
                raise InputError(f"not a WebSocket URL: {error}") from None
            except ConnectionClosed as error:
                reason = _close_reason(error)
                if not self.plan.reconnect:
                    self._closed_for_good(error, reason)
                    return
                if connected_at is not None and time.monotonic() - connected_at >= STABLE_CONNECTION_S:
                    backoff = INITIAL_BACKOFF_S
            except (OSError, TimeoutError, InvalidHandshake) as error:
                reason = f"cannot connect to {redacted(self.plan.url)}: {_error_text(error)}"
                self._give_up_unless_reconnecting(reason)
            delay = backoff * random.uniform(1 - BACKOFF_JITTER, 1 + BACKOFF_JITTER)
            status(f"{reason}; reconnecting in {delay:.1f} s")
            await asyncio.sleep(delay)
            backoff = min(backoff * 2, MAX_BACKOFF_S)

    def _give_up_unless_reconnecting(self, reason: str) -> None:
        """A connection that never worked is an error at once (as wscat has it): retrying hides a wrong URL."""
        if not self.plan.reconnect or self.connections == 0:
            raise ConnectionFailed(reason)

    def _closed_for_good(self, error: ConnectionClosed, reason: str) -> None:
        if self.plan.listen is not None and self.received < self.plan.listen:
            raise ConnectionFailed(f"{reason} after {self.received} of {self.plan.listen} frames")
        code = error.rcvd.code if error.rcvd is not None else ABNORMAL_CLOSE_CODE
        if code not in NORMAL_CLOSE_CODES:
            raise ConnectionFailed(reason)
        status(reason)

    async def _recover(self, websocket: ClientConnection) -> None:
        """A new connection is a new connection id with no rooms: join this session's rooms again, then ask each
        room's history for what came after the last message seen there (read on in `_receive`)."""
        if not self.rooms:
            status("reconnected with a new connection id")
            return
        for room in self.rooms:
            await websocket.send(json.dumps({"action": "join", "room": room}))
        status(f"reconnected with a new connection id: joined {', '.join(self.rooms)} again")
        for room in self.rooms:
            after = self.last_ids.get(room)
            if after is None:
                status(f"no message seen in {room} before the drop: nothing to recover from")
                continue
            self.recovering.add(room)
            await websocket.send(history_request(room, after))

    async def _send(self, websocket: ClientConnection, frame: str) -> None:
        await websocket.send(frame)
        self.printer.sent(frame, datetime.now().astimezone())
        change = room_change(frame)
        if change is None:
            return
        action, room = change
        if action == "join" and room not in self.rooms:
            self.rooms.append(room)
        elif action == "leave" and room in self.rooms:
            self.rooms.remove(room)

    async def _converse(self, websocket: ClientConnection) -> None:
        """Returns when the plan is fulfilled; raises ConnectionClosed when the connection drops."""
        while self.pending:
            await self._send(websocket, self.pending[0])
            self.pending.popleft()
        if self.lines is None and not self.plan.waits:
            return
        tasks = [asyncio.create_task(self._receive(websocket))]
        if self.lines is not None:
            tasks.append(asyncio.create_task(self._forward_input(websocket, self.lines)))
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        for task in done:
            task.result()

    async def _receive(self, websocket: ClientConnection) -> None:
        while self.plan.listen is None or self.received < self.plan.listen:
            data = await websocket.recv()
            frame = _json_object(data)
            if frame is not None and frame.get("type") == "history" and frame.get("room") in self.recovering:
                await self._recovered(websocket, frame)
                continue
            if frame is not None and frame.get("type") == "message":
                if frame.get("room") in self.recovering and isinstance(frame.get("id"), str):
                    self.live_while_recovering.add(frame["id"])
                self._saw(frame.get("room"), frame.get("id"))
            self.printer.received(data, datetime.now().astimezone())
            self.received += 1

    def _saw(self, room: object, message_id: object) -> None:
        # Ids sort as text in time order: the cursor only moves forward, whichever order pages and live frames come in.
        if isinstance(room, str) and isinstance(message_id, str) and message_id > self.last_ids.get(room, ""):
            self.last_ids[room] = message_id

    async def _recovered(self, websocket: ClientConnection, reply: dict[str, Any]) -> None:
        """Print one page of a room's missed messages, oldest first, and ask for the next page if there is one."""
        room = str(reply["room"])
        messages = reply.get("messages")
        for message in messages if isinstance(messages, list) else []:
            if not isinstance(message, dict) or message.get("id") in self.live_while_recovering:
                continue  # printed already, as it arrived after the rejoin
            if "frame" in message:
                text = json.dumps(message["frame"], ensure_ascii=False, separators=(",", ":"))
            elif isinstance(message.get("text"), str):
                text = message["text"]
            else:
                status(f"a message in {room} is too large to recover (id {message.get('id')})")
                continue
            self._saw(room, message.get("id"))
            self.printer.recovered(text, datetime.now().astimezone())
            self.received += 1
            if self.plan.listen is not None and self.received >= self.plan.listen:
                return
        next_id = reply.get("next")
        if isinstance(next_id, str):
            await websocket.send(history_request(room, next_id))
        else:
            self.recovering.discard(room)
            if not self.recovering:
                self.live_while_recovering.clear()

    async def _forward_input(self, websocket: ClientConnection, lines: LineSource) -> None:
        while True:
            line = await lines.next_line()
            if line is None:
                if self.plan.waits:
                    # Input ended but --listen/--timeout still decide when to stop.
                    await asyncio.Event().wait()
                return
            try:
                frame = translate_line(line)
            except LineError as error:
                status(str(error))
                continue
            if frame is QUIT:
                return
            if isinstance(frame, str):
                await self._send(websocket, frame)


def history_request(room: str, after: str) -> str:
    return json.dumps({"action": "history", "room": room, "after": after})


def _json_object(data: str | bytes) -> dict[str, Any] | None:
    if isinstance(data, bytes):
        return None
    try:
        value = json.loads(data)
    except json.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None


def _close_reason(error: ConnectionClosed) -> str:
    if error.rcvd is None:
        return "connection lost (no close frame)"
    detail = f" {error.rcvd.reason}" if error.rcvd.reason else ""
    return f"connection closed by the server (code {error.rcvd.code}{detail})"


def _error_text(error: BaseException) -> str:
    if isinstance(error, OSError) and error.errno:
        # asyncio words a refusal "Connect call failed (host, port)"; the errno says what happened.
        return os.strerror(error.errno)
    if isinstance(error, TimeoutError):
        return f"no answer within {OPEN_TIMEOUT_S:g} s"
    return str(error) or type(error).__name__


def _script_frames(sends: list[str]) -> tuple[str, ...]:
    frames: list[str] = []
    for line in sends:
        try:
            frame = translate_line(line)
        except LineError as error:
            raise InputError(f"--send {line!r}: {error}") from None
        if not isinstance(frame, str):
            raise InputError(f"--send {line!r}: not a frame")
        frames.append(frame)
    return tuple(frames)


def command(
    *,
    env: EnvOption = None,
    url: Annotated[
        str | None,
        typer.Option("--url", help="Any WebSocket URL (e.g. a deployed wss:// one) instead of ENV's websocket_url."),
    ] = None,
    name: Annotated[str | None, typer.Option("--name", "-n", help="Your display name (?name=).")] = None,
    token: Annotated[
        str | None,
        typer.Option(
            "--token", envvar="WSPUSH_CONNECT_TOKEN", help="The connect token (?token=), if the API needs one."
        ),
    ] = None,
    send: Annotated[
        list[str] | None,
        typer.Option("--send", metavar="FRAME", help="Send this once connected (JSON, text or /command); repeatable."),
    ] = None,
    listen: Annotated[
        int | None, typer.Option("--listen", metavar="N", min=1, help="Exit after receiving N frames.")
    ] = None,
    timeout: Annotated[
        float | None,
        typer.Option(
            "--timeout",
            metavar="SECONDS",
            help="Stop after this long (an error if --listen is unmet).",
        ),
    ] = None,
    reconnect: Annotated[
        bool,
        typer.Option(
            "--reconnect/--no-reconnect",
            help="Reconnect with backoff when a working connection drops (a first connection that fails is an error).",
        ),
    ] = True,
    ping_interval: Annotated[
        float,
        typer.Option(
            "--ping-interval",
            metavar="SECONDS",
            help="Seconds between keep-alive pings (API Gateway drops a connection idle for 10 minutes).",
        ),
    ] = DEFAULT_PING_INTERVAL_S,
    output: Annotated[
        OutputFormat | None,
        typer.Option(
            "--output",
            "-o",
            help="pretty: marked, highlighted; compact: one frame per line; json: JSON Lines with the time.",
            show_default="pretty on a terminal, else compact",
        ),
    ] = None,
) -> None:
    """Connect as a client: print incoming frames, send what you type (/help lists the commands)."""
    if timeout is not None and timeout <= 0:
        raise InputError(f"--timeout must be positive, not {timeout:g}")
    if not 0 < ping_interval < IDLE_TIMEOUT_S:
        raise InputError(f"--ping-interval must be between 0 and {IDLE_TIMEOUT_S:g} s (the idle timeout)")
    frames = _script_frames(send or [])
    if url is not None:
        base = url
    else:
        outputs = load_outputs(resolve_env(env))
        base = outputs.require("websocket_url")
        # A local stack started with --token keeps it in its 0600 state file: the banner need not print it.
        token = token if token is not None else outputs.connect_token
    plan = Plan(
        url=with_query(base, name, token),
        frames=frames,
        listen=listen,
        timeout_s=timeout,
        reconnect=reconnect,
        # Frames given with --send make this a script run: stdin is left alone.
        read_input=not frames,
        ping_interval_s=ping_interval,
        output=output or default_format(),
    )
    try:
        asyncio.run(_run(plan))
    except KeyboardInterrupt:
        # Ctrl-C is how an interactive session ends.
        return


async def _run(plan: Plan) -> None:
    async with open_line_source(plan.read_input) as lines:
        await Client(plan, lines, FramePrinter(plan.output)).run()
