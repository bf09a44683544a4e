"""Where `util connect` reads typed lines from: a line editor on a terminal, else stdin as it comes.

On a terminal (stdin and stdout both): prompt_toolkit, with line editing, history kept across sessions
(`$XDG_STATE_HOME/wspush/connect-history`, readable by the user only) and a prompt that stays below
incoming frames (`patch_stdout` prints them above it). Anywhere else (a pipe, a file, a test's stream)
lines are read as they arrive, without any terminal handling.
"""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import os
import sys
import threading
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Protocol

from .console import status
from .environments import state_dir

STDIN_CHUNK_BYTES = 65536
PROMPT = "> "
HISTORY_FILE_NAME = "connect-history"
HISTORY_FILE_MODE = 0o600


class LineSource(Protocol):
    async def next_line(self) -> str | None:
        """The next typed line, without its newline; None once input has ended (Ctrl-D, end of file)."""
        ...


class QueuedLines:
    """Lines produced by a reader thread, as an asyncio queue (None marks the end of input).

    A daemon thread holds no lock the interpreter needs at exit, so it may block in its read forever.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, read: Callable[[], str]) -> None:
        self._queue: asyncio.Queue[str | None] = asyncio.Queue()
        self._loop = loop
        self._read = read
        threading.Thread(target=self._pump, name="stdin", daemon=True).start()

    async def next_line(self) -> str | None:
        return await self._queue.get()

    def _pump(self) -> None:
        pending = ""
        while True:
            chunk = self._read()
            if not chunk:
                if pending:
                    self._emit(pending)
                self._emit(None)
                return
            pending += chunk
            *lines, pending = pending.split("\n")
            for line in lines:
                self._emit(line.rstrip("\r"))

    def _emit(self, item: str | None) -> None:
        # A closed loop means the session is over and nobody wants the line.
        with contextlib.suppress(RuntimeError):
            self._loop.call_soon_threadsafe(self._queue.put_nowait, item)


def fd_reader(fd: int) -> Callable[[], str]:
    """Reads the raw descriptor: works for pipes and files alike, and holds no lock of `sys.stdin`."""
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")

    def read() -> str:
        while True:
            try:
                chunk = os.read(fd, STDIN_CHUNK_BYTES)
            except OSError:
                chunk = b""
            text = decoder.decode(chunk, final=not chunk)
            # An incomplete UTF-8 sequence decodes to "" without being the end: read on.
            if text or not chunk:
                return text

    return read


class PromptLines:
    """prompt_toolkit's line editor: arrows, history, Ctrl-R; Ctrl-D or Ctrl-C at the prompt ends input."""

    def __init__(self, history_path: Path | None) -> None:
        from prompt_toolkit import PromptSession
        from prompt_toolkit.history import FileHistory, InMemoryHistory

        history = InMemoryHistory() if history_path is None else FileHistory(str(history_path))
        self._session: PromptSession[str] = PromptSession(history=history)

    async def next_line(self) -> str | None:
        try:
            return await self._session.prompt_async(PROMPT)
        except (EOFError, KeyboardInterrupt):
            return None


def _history_path() -> Path | None:
    """The history file, created private; None (history for this session only) when it cannot be."""
    path = state_dir() / HISTORY_FILE_NAME
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch(mode=HISTORY_FILE_MODE, exist_ok=True)
        path.chmod(HISTORY_FILE_MODE)
    except OSError:
        return None
    return path


def _stdin_fd() -> int | None:
    try:
        return sys.stdin.fileno() if sys.stdin is not None else None
    except (ValueError, OSError):
        return None


def _stdout_is_terminal() -> bool:
    try:
        return sys.stdout is not None and sys.stdout.isatty()
    except ValueError:
        return False


@contextlib.asynccontextmanager
async def open_line_source(read_input: bool) -> AsyncIterator[LineSource | None]:
    """The session's input for as long as it lasts (None when it reads none)."""
    if not read_input or sys.stdin is None or sys.stdin.closed:
        yield None
        return
    loop = asyncio.get_running_loop()
    fd = _stdin_fd()
    if fd is None:
        # A stream without a descriptor (an in-process test's stdin): its reads never block for long.
        yield QueuedLines(loop, sys.stdin.readline)
        return
    if not (os.isatty(fd) and _stdout_is_terminal()):
        yield QueuedLines(loop, fd_reader(fd))
        return
    from prompt_toolkit.patch_stdout import patch_stdout

    status("type /help for commands, /quit or Ctrl-D to leave")
    lines = PromptLines(_history_path())
    # raw: rich's colours pass through; frames and status lines print above the prompt.
    with patch_stdout(raw=True):
        yield lines
