"""`util connect` running in the background while a test drives the stack, read as a user reads it.

Off a terminal `util connect` prints each frame on one line (`--output compact`, its default there): JSON
without spaces, or the text as is. Progress (`connected to ...`) goes to stderr.
"""

from __future__ import annotations

import queue
import subprocess
import threading
import time
from dataclasses import dataclass
from typing import IO, Any

from tests import strict_json
from tests.util.conftest import UTIL

CLIENT_TIMEOUT_S = 20
"""`util connect --timeout`: how long a client waits for its frames before giving up."""
WAIT_S = 15.0
"""How long a test waits for one thing a client prints."""
EXIT_TIMEOUT_S = CLIENT_TIMEOUT_S + 5.0
CONNECTED_PREFIX = "connected to "


def split_frames(stdout: str) -> list[str]:
    """The frames in `util connect`'s output: one per line."""
    return stdout.splitlines()


class Lines:
    """A stream's lines, read by a thread, so every wait for a line has a deadline."""

    def __init__(self, stream: IO[str]) -> None:
        self._lines: queue.Queue[str | None] = queue.Queue()
        self._ended = False
        threading.Thread(target=self._pump, args=(stream,), daemon=True).start()

    def _pump(self, stream: IO[str]) -> None:
        for line in stream:
            self._lines.put(line.rstrip("\n"))
        self._lines.put(None)

    def next(self, timeout_s: float) -> str | None:
        """The next line; None once the stream has ended."""
        if self._ended:
            return None
        try:
            line = self._lines.get(timeout=max(timeout_s, 0.0))
        except queue.Empty:
            raise AssertionError(f"nothing printed within {timeout_s:.1f} s") from None
        self._ended = line is None
        return line

    def rest(self, timeout_s: float) -> list[str]:
        """Every line up to the end of the stream."""
        deadline = time.monotonic() + timeout_s
        lines: list[str] = []
        while (line := self.next(deadline - time.monotonic())) is not None:
            lines.append(line)
        return lines


@dataclass(frozen=True)
class Finished:
    code: int
    frames: list[str]
    stderr: list[str]

    def json_frames(self) -> list[Any]:
        return [strict_json.loads(frame) for frame in self.frames]


class ConnectClient:
    """One `util connect ARGS...` process; `typed=True` gives it a stdin to type lines into."""

    def __init__(self, env: dict[str, str], args: tuple[str, ...], typed: bool = False) -> None:
        self.process = subprocess.Popen(
            [str(UTIL), "connect", *args],
            stdin=subprocess.PIPE if typed else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        assert self.process.stdout is not None and self.process.stderr is not None
        self._stdout = Lines(self.process.stdout)
        self._stderr = Lines(self.process.stderr)
        self._stderr_seen: list[str] = []
        self.frames: list[str] = []
        """Frames read so far, whole; `finish` adds the rest."""

    def wait_connected(self, timeout_s: float = WAIT_S) -> None:
        """Returns once the handshake is done, hence once `$connect` has stored the connection."""
        deadline = time.monotonic() + timeout_s
        while True:
            line = self._stderr.next(deadline - time.monotonic())
            assert line is not None, f"`util connect` ended without connecting: {self._stderr_seen}"
            self._stderr_seen.append(line)
            if line.startswith(CONNECTED_PREFIX):
                return

    def next_json_frame(self, timeout_s: float = WAIT_S) -> Any:
        """The next frame, which must be JSON."""
        line = self._stdout.next(timeout_s)
        assert line is not None, "the output ended before a frame"
        value = strict_json.loads(line)
        self.frames.append(line)
        return value

    def next_line(self, timeout_s: float = WAIT_S) -> str:
        """The next line of output, whatever it holds (a recovered frame's line starts with `recovered `)."""
        line = self._stdout.next(timeout_s)
        assert line is not None, "the output ended before a line"
        self.frames.append(line)
        return line

    def type_line(self, line: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(line + "\n")
        self.process.stdin.flush()

    def finish(self, timeout_s: float = EXIT_TIMEOUT_S) -> Finished:
        """Wait for the client to end by itself (`--listen` met or `--timeout`); every frame it printed."""
        code = self.process.wait(timeout=timeout_s)
        self.frames.extend(split_frames("\n".join(self._stdout.rest(timeout_s))))
        return Finished(code=code, frames=list(self.frames), stderr=self._stderr_seen + self._stderr.rest(timeout_s))

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        if self.process.stdin is not None:
            self.process.stdin.close()
