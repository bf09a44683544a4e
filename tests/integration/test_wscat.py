"""An external client nobody here wrote: `wscat` from npm connects, broadcasts and receives."""

from __future__ import annotations

import asyncio
import json
import subprocess
from collections.abc import Iterator

import pytest

from tests import strict_json
from util.local.stack import StackThread

from .conftest import REPO_ROOT, open_socket, recv_json, run, running_stack, stack_settings

pytestmark = pytest.mark.timeout(120)

WSCAT = REPO_ROOT / ".tools" / "node_modules" / ".bin" / "wscat"
WSCAT_WAIT_S = 4


@pytest.fixture(scope="module")
def stack() -> Iterator[StackThread]:
    if not WSCAT.exists():
        pytest.fail(
            f"wscat is not installed at {WSCAT.relative_to(REPO_ROOT)}: run `npm install --prefix .tools wscat`"
        )
    with running_stack(stack_settings(handler="lambda_src.app.handler", code_dir=None)) as thread:
        yield thread


def test_wscat_broadcasts_and_receives_through_the_local_stack(stack: StackThread) -> None:
    url = stack.outputs["websocket_url"]
    command = [
        str(WSCAT),
        "--no-color",
        "-c",
        f"{url}?name=wscat",
        "-x",
        json.dumps({"action": "broadcast", "message": "hello from wscat"}),
        "-w",
        str(WSCAT_WAIT_S),
    ]

    async def main() -> str:
        async with await open_socket(f"{url}?name=python") as python:
            # wscat quits as soon as its stdin ends: an open pipe keeps it alive for its -w seconds.
            process = await asyncio.create_subprocess_exec(
                *command,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
            try:
                frame = await recv_json(python)
                assert (frame["message"], frame["from"]["name"]) == ("hello from wscat", "wscat")
                await python.send(json.dumps({"action": "broadcast", "message": "hello from python", "echo": False}))
                assert process.stdout is not None and process.stderr is not None
                stdout = await asyncio.wait_for(process.stdout.read(), WSCAT_WAIT_S + 10)
                stderr = await process.stderr.read()
                await process.wait()
            finally:
                if process.returncode is None:
                    process.kill()
                    await process.wait()
            assert process.returncode == 0, stderr.decode()
            return stdout.decode()

    output = run(main())
    received = [strict_json.loads(line.removeprefix("< ").strip()) for line in output.splitlines() if line.strip()]
    assert [frame["message"] for frame in received] == ["hello from wscat", "hello from python"]


def test_wscat_binary_is_present() -> None:
    result = subprocess.run([str(WSCAT), "--version"], capture_output=True, text=True, timeout=30, check=False)
    assert result.returncode == 0
    assert result.stdout.strip()[0].isdigit()
