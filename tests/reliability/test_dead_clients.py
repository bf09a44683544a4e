"""Dead clients: a share of the connections dies without a close frame (SIGKILL); the next broadcast reaches
every live client, and no dead id is left in the store.

CI: 100 clients, 30 killed; `RELIABILITY_SCALE=full`: 300 clients, 90 killed.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from typing import Any

import pytest

from .clients import Client, close_clients, open_clients, run, sync, sync_all
from .conftest import TOKEN, require_empty_store
from .moto_state import failures, fanout_summaries, log_lines, now_ms, stored_connection_ids, wait_for_store
from .scale import SIZES
from .stack_process import StackProcess

pytestmark = pytest.mark.timeout(SIZES.timeout_s + 60)

PRUNE_TIMEOUT_S = 30.0
"""How long the store may take to forget the dead (their `$disconnect`s queue behind the broadcast)."""


def start_doomed(url: str, count: int) -> tuple[subprocess.Popen[str], list[str]]:
    """A child process holding `count` connections; returns it with their ids once they are all open."""
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.reliability.doomed_clients", url, str(count), TOKEN],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()  # bounded: every handshake in the child has its own timeout
        ids: list[str] = json.loads(line)
    except BaseException:
        process.kill()
        process.wait()
        raise
    return process, ids


def test_after_abrupt_deaths_the_next_broadcast_reaches_every_live_client_and_the_dead_leave_the_store(
    stack: StackProcess,
) -> None:
    total = SIZES.dead_clients
    doomed_n = round(total * SIZES.dead_share)
    require_empty_store(stack)
    started_ms = now_ms()
    doomed, dead_ids = start_doomed(stack.websocket_url, doomed_n)
    killed = False

    async def main() -> tuple[list[list[Any]], set[str], set[str]]:
        nonlocal killed
        live = await open_clients(stack.websocket_url, total - doomed_n, "live", TOKEN)
        try:
            live_ids = {c.connection_id for c in live}
            before = stored_connection_ids(stack.outputs)
            os.kill(doomed.pid, signal.SIGKILL)
            doomed.wait(10)
            killed = True
            # At once, racing the `$disconnect`s: some posts find their connection already gone (410).
            sender: Client = live[0]
            await sender.socket.send(json.dumps({"action": "broadcast", "message": "roll call"}))
            own = await sync(sender)  # first: once it returns, the fan-out is over
            received = [own, *await sync_all(live[1:])]
            after = wait_for_store(stack.outputs, live_ids, PRUNE_TIMEOUT_S)
            return received, before, after
        finally:
            await close_clients(live)

    try:
        received, before, after = run(main(), SIZES.timeout_s)
    finally:
        if not killed:
            doomed.kill()
            doomed.wait()

    assert set(dead_ids) <= before and len(before) == total
    assert [[frame["message"] for frame in frames] for frames in received] == [["roll call"]] * len(received)
    assert after == before - set(dead_ids)
    lines = log_lines(stack.outputs, "lambda_log_group", started_ms)
    assert failures(lines) == []
    [summary] = fanout_summaries(lines)
    assert (summary["delivered"], summary["failed"]) == (total - doomed_n, 0)
    assert summary["recipients"] == summary["delivered"] + summary["gone"]
    print(f"\ndead clients: {doomed_n} of {total} killed; the broadcast found {summary['gone']} of them gone (410)")
