"""Child processes spoken to in JSON lines, and the process facts benchmarks need (RSS, open-files limit).

A benchmark keeps the stack and the WebSocket clients in processes of their own: on 2 cores, clients and
server in one interpreter would share one GIL and measure each other. The parent writes one JSON object a
line to the child's stdin and reads one JSON reply a line from its stdout; every wait is bounded; a child's
`{"error": ...}` reply becomes a `BenchError`. Closing stdin asks a child to stop.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import resource
import subprocess
import sys
import threading
from pathlib import Path
from typing import IO, Any

from .report import REPO_DIR, BenchError

STOP_TIMEOUT_S = 90.0
"""A stack with thousands of connections runs a `$disconnect` for each on stop."""
PAGE_KB = 4
FD_HEADROOM = 1024
"""Open files beyond the connections themselves: pipes, moto's sockets, log files, ..."""


def raise_open_files_limit(connections: int) -> int:
    """Raise this process's soft RLIMIT_NOFILE (children inherit it) to fit `connections`; returns the limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    needed = connections + FD_HEADROOM
    if soft >= needed:
        return soft
    if hard != resource.RLIM_INFINITY and hard < needed:
        raise BenchError(f"{connections} connections need {needed} open files; the hard limit is {hard} (ulimit -Hn)")
    resource.setrlimit(resource.RLIMIT_NOFILE, (needed, hard))
    return needed


def _children_of(pid: int) -> list[int]:
    found: list[int] = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            # The command name may hold spaces and parentheses: the fields after its last ')' are fixed.
            fields = (entry / "stat").read_text(encoding="ascii", errors="replace").rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[1]) == pid:
            found.append(int(entry.name))
    return found


def process_tree(pid: int) -> list[int]:
    """`pid` and all its descendants (Linux /proc)."""
    tree, pending = [], [pid]
    while pending:
        current = pending.pop()
        tree.append(current)
        pending.extend(_children_of(current))
    return tree


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time these processes have used so far (threads included)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        with contextlib.suppress(OSError, IndexError, ValueError):
            fields = Path(f"/proc/{pid}/stat").read_text(encoding="ascii", errors="replace").rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime: fields 14 and 15 of proc(5)
    return total / ticks


def command_line(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode("utf-8", "replace")
    except OSError:
        return ""


def rss_bytes(pids: list[int]) -> int:
    """Resident memory of these processes together (each page counted once per process, as `ps` does)."""
    total = 0
    for pid in pids:
        with contextlib.suppress(OSError, IndexError, ValueError):
            total += int(Path(f"/proc/{pid}/statm").read_text(encoding="ascii").split()[1]) * PAGE_KB * 1024
    return total


class ChildProcess:
    """`python -m MODULE ARGS...` from the repository root, with a JSON-lines conversation on its stdin/stdout."""

    def __init__(self, module: str, *args: str, name: str) -> None:
        self.name = name
        self._process = subprocess.Popen(
            [sys.executable, "-m", module, *args],
            cwd=REPO_DIR,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        self._replies: queue.Queue[dict[str, Any] | None] = queue.Queue()
        # A thread, so every read can be bounded in time without juggling non-blocking pipes.
        self._reader = threading.Thread(target=self._read_replies, name=f"{name}-replies", daemon=True)
        self._reader.start()

    @property
    def pid(self) -> int:
        return self._process.pid

    def _read_replies(self) -> None:
        stdout = self._process.stdout
        assert stdout is not None
        for line in stdout:
            try:
                reply = json.loads(line)
            except ValueError:
                continue  # not ours: a library printed to stdout
            if isinstance(reply, dict):
                self._replies.put(reply)
        self._replies.put(None)

    def read(self, timeout_s: float) -> dict[str, Any]:
        """The next reply; raises `BenchError` on timeout, on the child's exit, or on an error reply."""
        try:
            reply = self._replies.get(timeout=timeout_s)
        except queue.Empty:
            raise BenchError(f"the {self.name} process did not answer within {timeout_s:g} s") from None
        if reply is None:
            self._replies.put(None)  # later reads see the exit too
            code = self._process.wait()
            raise BenchError(f"the {self.name} process exited (status {code})")
        if "error" in reply:
            raise BenchError(f"{self.name}: {reply['error']}")
        return reply

    def request(self, message: dict[str, Any], timeout_s: float) -> dict[str, Any]:
        stdin = self._process.stdin
        assert stdin is not None
        try:
            stdin.write(json.dumps(message).encode("utf-8") + b"\n")
            stdin.flush()
        except (BrokenPipeError, ValueError):
            raise BenchError(f"the {self.name} process is gone") from None
        return self.read(timeout_s)

    def stop(self, timeout_s: float = STOP_TIMEOUT_S) -> None:
        """Close stdin (the child's cue to stop), wait, kill if it must."""
        stdin = self._process.stdin
        if stdin is not None:
            with contextlib.suppress(OSError, ValueError):
                stdin.close()
        try:
            self._process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        self._reader.join(timeout=5)


def reply_channel() -> IO[bytes]:
    """In a child: the pipe to the parent, with fd 1 pointed at stderr so stray prints cannot corrupt it."""
    channel = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    return channel


def send(channel: IO[bytes], message: dict[str, Any]) -> None:
    channel.write(json.dumps(message, separators=(",", ":")).encode("utf-8") + b"\n")
    channel.flush()
