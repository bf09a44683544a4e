"""The Lambda runtime with small test handlers: warm workers, context, timeouts, crashes, new code."""

from __future__ import annotations

import asyncio
import io
import zipfile
from collections.abc import Awaitable, Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from util.local.runtime.pool import FunctionConfig, Runtime

from .conftest import HANDLERS, REPO_ROOT, run

pytestmark = pytest.mark.timeout(120)


class CollectingSink:
    def __init__(self) -> None:
        self.lines: list[tuple[str, str]] = []

    def emit(self, stream: str, message: str, timestamp_ms: int) -> None:
        self.lines.append((stream, message))


def config(handler: str, **overrides: Any) -> FunctionConfig:
    values: dict[str, Any] = {
        "function_name": "wspush-test-handler",
        "function_arn": "arn:aws:lambda:us-east-1:123456789012:function:wspush-test-handler",
        "handler": f"{HANDLERS}.{handler}",
        "code_dir": REPO_ROOT,
        "environment": {"MARKER": "from-terraform"},
        "timeout_s": 5.0,
        "memory_mb": 256,
        "workers": 1,
        "log_group": "/aws/lambda/wspush-test-handler",
    }
    values.update(overrides)
    return FunctionConfig(**values)


def with_runtime(
    function: FunctionConfig, body: Callable[[Runtime], Awaitable[None]], sink: CollectingSink | None = None
) -> None:
    async def main() -> None:
        runtime = Runtime(function, sink)
        await runtime.start()
        try:
            await body(runtime)
        finally:
            await runtime.stop()

    run(main())


def test_worker_stays_warm_and_keeps_module_state_between_invocations() -> None:
    async def body(runtime: Runtime) -> None:
        first = await runtime.invoke({"n": 1})
        second = await runtime.invoke({"n": 2})
        assert (first.payload["invocations"], second.payload["invocations"]) == (1, 2)
        assert first.payload["pid"] == second.payload["pid"]
        assert second.payload["event"] == {"n": 2}

    with_runtime(config("handler"), body)


def test_handler_gets_lambda_context_and_the_function_environment() -> None:
    async def body(runtime: Runtime) -> None:
        result = await runtime.invoke({}, request_id="req-1")
        context = result.payload["context"]
        assert context["aws_request_id"] == "req-1"
        assert context["function_name"] == "wspush-test-handler"
        assert context["function_version"] == "$LATEST"
        assert context["invoked_function_arn"] == "arn:aws:lambda:us-east-1:123456789012:function:wspush-test-handler"
        assert context["memory_limit_in_mb"] == "256"
        assert context["log_group_name"] == "/aws/lambda/wspush-test-handler"
        assert context["log_stream_name"].startswith(tuple(f"20{d}" for d in range(10)))
        assert "[$LATEST]" in context["log_stream_name"]
        assert 4000 < context["remaining_ms"] <= 5000
        assert result.payload["env"] == {
            "MARKER": "from-terraform",
            "AWS_LAMBDA_FUNCTION_NAME": "wspush-test-handler",
            "TZ": ":UTC",
        }
        assert Path(result.payload["cwd"]) == REPO_ROOT

    with_runtime(config("handler"), body)


def test_handler_output_goes_to_the_worker_log_stream_between_start_and_report() -> None:
    sink = CollectingSink()

    async def body(runtime: Runtime) -> None:
        result = await runtime.invoke({}, request_id="req-log")
        await asyncio.sleep(0.2)  # stderr is a separate pipe from the reply
        stream = result.payload["context"]["log_stream_name"]
        messages = [message for name, message in sink.lines if name == stream]
        assert messages[0] == "START RequestId: req-log Version: $LATEST"
        assert "echo handler invoked 1" in messages
        assert "END RequestId: req-log" in messages
        assert any(m.startswith("REPORT RequestId: req-log\tDuration: ") for m in messages)

    with_runtime(config("handler"), body, sink)


def test_timeout_cuts_the_invocation_off_and_the_next_one_runs_in_a_new_worker() -> None:
    async def body(runtime: Runtime) -> None:
        before = await runtime.invoke({"sleep_s": 0})
        slow = await runtime.invoke({"sleep_s": 5})
        assert slow.error_type == "Sandbox.Timedout"
        assert slow.error_message.endswith("Task timed out after 0.50 seconds")
        assert 500 <= slow.duration_ms < 3000
        after = await runtime.invoke({"sleep_s": 0})
        assert after.ok
        assert after.payload["pid"] != before.payload["pid"]

    with_runtime(config("sleepy", timeout_s=0.5), body)


def test_a_crashing_handler_fails_only_its_own_invocation() -> None:
    async def body(runtime: Runtime) -> None:
        before = await runtime.invoke({})
        crashed = await runtime.invoke({"crash": True})
        after = await runtime.invoke({})
        assert before.ok and after.ok
        assert crashed.error_type == "Runtime.ExitError"
        assert crashed.error_message.endswith("Runtime exited with error: exit status 3")
        assert after.payload["pid"] != before.payload["pid"]

    with_runtime(config("crash"), body)


def test_an_exception_becomes_lambdas_error_object() -> None:
    sink = CollectingSink()

    async def body(runtime: Runtime) -> None:
        result = await runtime.invoke({"value": 7}, request_id="req-err")
        assert result.error_type == "ValueError"
        assert result.payload["errorMessage"] == "bad input 7"
        assert result.payload["requestId"] == "req-err"
        assert any("in fail" in frame for frame in result.payload["stackTrace"])
        await asyncio.sleep(0.2)
        assert any(message.startswith("[ERROR] ValueError: bad input 7\n") for _, message in sink.lines)

    with_runtime(config("fail"), body, sink)


def test_an_unimportable_handler_fails_each_invocation_with_import_module_error() -> None:
    async def body(runtime: Runtime) -> None:
        result = await runtime.invoke({})
        assert result.error_type == "Runtime.ImportModuleError"
        assert "No module named" in result.error_message

    with_runtime(replace(config("handler"), handler="no_such_package.app.handler"), body)


def test_a_slow_invocation_does_not_stall_the_others() -> None:
    async def body(runtime: Runtime) -> None:
        slow = asyncio.create_task(runtime.invoke({"sleep_s": 1.5}))
        await asyncio.sleep(0.1)
        loop = asyncio.get_running_loop()
        started = loop.time()
        fast = await runtime.invoke({"sleep_s": 0})
        assert fast.ok
        assert loop.time() - started < 1.0
        assert not slow.done()
        assert (await slow).ok

    with_runtime(config("sleepy", workers=2), body)


def package_of_sleepy_v2() -> bytes:
    """A deployment zip whose `tests.integration.handlers.echo.sleepy` answers `{"version": 2}`."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for package in ("tests", "tests/integration", "tests/integration/handlers"):
            archive.writestr(f"{package}/__init__.py", "")
        archive.writestr(
            "tests/integration/handlers/echo.py",
            "def sleepy(event, context):\n    return {'version': 2}\n",
        )
    return buffer.getvalue()


def test_update_code_replaces_the_workers_and_drains_the_in_flight_invocation(tmp_path: Path) -> None:
    new_code = tmp_path / "code"
    with zipfile.ZipFile(io.BytesIO(package_of_sleepy_v2())) as archive:
        archive.extractall(new_code)

    async def body(runtime: Runtime) -> None:
        old_pids = set(runtime.worker_pids())
        in_flight = asyncio.create_task(runtime.invoke({"sleep_s": 1.0}))
        await asyncio.sleep(0.2)
        await runtime.update_code(new_code)
        assert (await in_flight).ok  # finished on the old code, not cut off
        result = await runtime.invoke({})
        assert result.payload == {"version": 2}
        assert not old_pids & set(runtime.worker_pids())

    with_runtime(config("sleepy"), body)
