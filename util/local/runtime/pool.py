"""A Lambda runtime as Lambda has it: a bounded pool of warm execution environments (worker processes).

Each worker imports the handler once and runs one invocation at a time; module state lives per worker, as
on AWS. The function timeout is enforced from here (the worker is killed and replaced, the invocation fails
with `Sandbox.Timedout`); a worker that dies fails only its own invocation (`Runtime.ExitError`) and is
replaced. Invocations are awaited on the event loop and never block it. New code replaces the pool: new
workers start first, then the old ones finish their in-flight invocations and stop.

Workers are plain `python -m util.local.runtime.worker` processes in their own session (a terminal's Ctrl-C
reaches only the stack, which stops them in order), spoken to over pipes with asyncio: no helper threads,
no multiprocessing resource tracker left behind, and the exact environment Lambda would give them.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from lambda_src.function import RUNTIME
from lambda_src.observability.clock import now_ms
from util.local import ids
from util.local.aws.credentials import FAKE_ACCESS_KEY_ID, FAKE_SECRET_ACCESS_KEY, FAKE_SESSION_TOKEN
from util.local.runtime import worker

LOGGER = logging.getLogger("wspush.local.runtime")

WORKER_START_TIMEOUT_S = 60.0
"""Spawning and importing the handler; generous because a 2-core CI machine may start several at once."""
WORKER_STOP_GRACE_S = 3.0
"""How long a worker may take to exit once its stdin closes, before it is killed."""
PIPE_LIMIT_BYTES = 16 * 1024 * 1024
"""Largest reply line read from a worker (Lambda's own payload limit is 6 MB)."""


class LogSink(Protocol):
    """Where the lines of a log stream go (CloudWatch Logs in moto, for the local stack)."""

    def emit(self, stream: str, message: str, timestamp_ms: int) -> None: ...


class NullLogSink:
    def emit(self, stream: str, message: str, timestamp_ms: int) -> None:
        LOGGER.debug("%s: %s", stream, message)


@dataclass(frozen=True)
class FunctionConfig:
    """What Terraform declares for the function, as far as running it goes."""

    function_name: str
    function_arn: str
    handler: str
    code_dir: Path
    environment: Mapping[str, str] = field(default_factory=dict)
    """The function's own variables (CONNECTIONS_BUCKET, ...) plus endpoint overrides."""
    timeout_s: float = 30.0
    memory_mb: int = 256
    workers: int = 2
    log_group: str = ""
    region: str = "us-east-1"


@dataclass(frozen=True)
class InvocationResult:
    """The outcome of one invocation: the handler's result, or Lambda's error object when `error_type` is set."""

    request_id: str
    payload: Any
    error_type: str | None = None
    duration_ms: float = 0.0

    @property
    def ok(self) -> bool:
        return self.error_type is None

    @property
    def error_message(self) -> str:
        if self.ok or not isinstance(self.payload, dict):
            return ""
        return str(self.payload.get("errorMessage", ""))


@dataclass(frozen=True)
class AsyncPolicy:
    """How asynchronous invocations are retried: Lambda's defaults, or the function's event-invoke config.

    Lambda: "If the function returns an error, Lambda attempts to run it two more times, with a one-minute wait
    between the first two attempts, and two minutes between the second and third attempts"; MaximumRetryAttempts
    0-2 and MaximumEventAgeInSeconds 60-21600 override it (Lambda developer guide, "Invoking a Lambda function
    asynchronously" and "Configuring error handling settings for Lambda asynchronous invocations").
    """

    max_retry_attempts: int = 2
    max_event_age_s: float = 6 * 60 * 60.0
    retry_delays_s: tuple[float, ...] = (60.0, 120.0)
    """The wait before retry 1, 2, ...; the last one repeats. Lambda's are fixed; tests shorten them."""

    def delay_before(self, retry: int) -> float:
        return self.retry_delays_s[min(retry, len(self.retry_delays_s)) - 1]


@dataclass(frozen=True)
class FailedEvent:
    """An asynchronous event Lambda gives up on: what an on-failure destination or dead-letter queue receives."""

    request_id: str
    event: Any
    condition: str
    """`RetriesExhausted` or `EventAgeExceeded`, as in Lambda's on-failure invocation records."""
    attempts: int
    result: InvocationResult | None
    """The last attempt's result (its error), None if the event never ran."""


RETRIES_EXHAUSTED = "RetriesExhausted"
EVENT_AGE_EXCEEDED = "EventAgeExceeded"


def log_failed_event(failed: FailedEvent) -> None:
    """Every discarded event is one warning line in the stack's output (its record also goes to the on-failure
    destination, if the event-invoke config names one: `lambda_api`)."""
    error = failed.result.error_message if failed.result is not None else ""
    LOGGER.warning(
        "asynchronous invocation %s discarded (%s after %d attempt(s)): %s",
        failed.request_id,
        failed.condition,
        failed.attempts,
        error,
    )


class RuntimeStopped(Exception):
    """The runtime is stopping or stopped: no new invocation is accepted."""


class WorkerExited(Exception):
    """The worker process ended while an invocation was running (or before it was ready)."""


class WorkerStartFailed(Exception):
    """A worker did not become ready."""


def _iso_now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class Worker:
    """One execution environment: a process, its log stream, its protocol pipes."""

    def __init__(self, config: FunctionConfig, code_dir: Path, log_sink: LogSink) -> None:
        self._config = config
        self._code_dir = code_dir
        self._log_sink = log_sink
        day = datetime.now(UTC).strftime("%Y/%m/%d")
        self.log_stream = f"{day}/[$LATEST]{ids.log_stream_suffix()}"
        self._process: asyncio.subprocess.Process | None = None
        self._log_task: asyncio.Task[None] | None = None
        self.init_error: dict[str, Any] | None = None

    @property
    def pid(self) -> int | None:
        return None if self._process is None else self._process.pid

    def _environment(self) -> dict[str, str]:
        config = self._config
        # The worker must import `util.local.runtime.worker` from wherever `util` lives, but after the code dir
        # (its cwd, first on sys.path), so a deployed `lambda_src` wins over the source tree's.
        util_parent = str(Path(__file__).resolve().parents[3])
        env = {name: os.environ[name] for name in ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR") if name in os.environ}
        env.update(
            {
                "PYTHONPATH": util_parent,
                "PYTHONUNBUFFERED": "1",
                "TZ": ":UTC",
                "AWS_ACCESS_KEY_ID": FAKE_ACCESS_KEY_ID,
                "AWS_SECRET_ACCESS_KEY": FAKE_SECRET_ACCESS_KEY,
                "AWS_SESSION_TOKEN": FAKE_SESSION_TOKEN,
                "AWS_REGION": config.region,
                "AWS_DEFAULT_REGION": config.region,
                # The declared runtime; locally the handler runs on this interpreter, whatever its version.
                "AWS_EXECUTION_ENV": f"AWS_Lambda_{RUNTIME}",
                "AWS_LAMBDA_FUNCTION_NAME": config.function_name,
                "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
                "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(config.memory_mb),
                "AWS_LAMBDA_LOG_GROUP_NAME": config.log_group,
                "AWS_LAMBDA_LOG_STREAM_NAME": self.log_stream,
                "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
                "LAMBDA_TASK_ROOT": str(self._code_dir),
                "_HANDLER": config.handler,
            }
        )
        env.update(config.environment)
        return env

    async def start(self) -> None:
        """Spawn the process and wait until the handler is imported (or failed to import: Lambda's init error)."""
        self._process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "util.local.runtime.worker",
            self._config.handler,
            cwd=self._code_dir,
            env=self._environment(),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            limit=PIPE_LIMIT_BYTES,
            start_new_session=True,
        )
        self._log_task = asyncio.create_task(self._pump_logs(), name=f"worker-logs-{self._process.pid}")
        try:
            first = await asyncio.wait_for(self._read_reply(), WORKER_START_TIMEOUT_S)
        except (TimeoutError, WorkerExited) as error:
            await self.kill()
            raise WorkerStartFailed(f"worker did not start: {error or 'timed out'}") from None
        if first.get("type") == worker.INIT_ERROR:
            self.init_error = first.get("payload")
            LOGGER.error("handler %s failed to initialise: %s", self._config.handler, self.init_error)

    async def _pump_logs(self) -> None:
        assert self._process is not None and self._process.stderr is not None
        stderr = self._process.stderr
        while True:
            try:
                line = await stderr.readline()
            except ValueError:  # a line over the pipe limit: Lambda would split it, we drop the excess
                continue
            if not line:
                return
            text = line.decode("utf-8", errors="replace").rstrip("\n").replace("\r", "\n")
            self._log_sink.emit(self.log_stream, text, now_ms())

    async def _read_reply(self) -> dict[str, Any]:
        assert self._process is not None and self._process.stdout is not None
        line = await self._process.stdout.readline()
        if not line:
            code = await self._process.wait()
            raise WorkerExited(_exit_description(code))
        reply = json.loads(line)
        if not isinstance(reply, dict):
            raise WorkerExited("the worker broke its protocol")
        return reply

    async def call(self, request_id: str, event: Any, deadline_ms: int) -> dict[str, Any]:
        """Send one invocation and await its reply; raises `WorkerExited` if the process dies meanwhile."""
        assert self._process is not None and self._process.stdin is not None
        request = {
            "id": request_id,
            "event": event,
            "deadlineMs": deadline_ms,
            "invokedFunctionArn": self._config.function_arn,
        }
        try:
            self._process.stdin.write(json.dumps(request, separators=(",", ":")).encode("utf-8") + b"\n")
            await self._process.stdin.drain()
        except (BrokenPipeError, ConnectionResetError):
            code = await self._process.wait()
            raise WorkerExited(_exit_description(code)) from None
        return await self._read_reply()

    def max_memory_mb(self) -> int | None:
        """Peak resident memory of the process (Linux), for the REPORT line."""
        try:
            status = Path(f"/proc/{self.pid}/status").read_text(encoding="ascii")
        except OSError:
            return None
        for line in status.splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) // 1024
        return None

    async def stop(self) -> None:
        """Ask the worker to exit (stdin closed), kill it if it does not, and reap it."""
        process = self._process
        if process is None:
            return
        if process.returncode is None and process.stdin is not None:
            process.stdin.close()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(process.wait(), WORKER_STOP_GRACE_S)
        await self.kill()

    async def kill(self) -> None:
        process = self._process
        if process is None:
            return
        if process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGKILL)
        await process.wait()
        if self._log_task is not None:
            # The pipe reaches EOF once the process is gone; the last lines are still shipped.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(self._log_task), WORKER_STOP_GRACE_S)
            self._log_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._log_task


def _exit_description(code: int) -> str:
    if code < 0:
        try:
            name = signal.Signals(-code).name.removeprefix("SIG").lower()
        except ValueError:
            name = str(-code)
        return f"signal: {name}"
    return f"exit status {code}"


class WorkerPool:
    """The workers of one code version. `acquire` waits for an idle one; `retire` drains and stops them all."""

    def __init__(self, config: FunctionConfig, code_dir: Path, log_sink: LogSink) -> None:
        self._config = config
        self.code_dir = code_dir
        self._log_sink = log_sink
        self._idle: list[Worker] = []
        self._busy: set[Worker] = set()
        self._starting: set[asyncio.Task[None]] = set()
        self._changed = asyncio.Condition()
        self.retired = False

    @property
    def workers(self) -> list[Worker]:
        return [*self._idle, *self._busy]

    async def start(self) -> None:
        """Start every worker at once and wait until all are ready: no invocation pays a cold start."""
        workers = [Worker(self._config, self.code_dir, self._log_sink) for _ in range(self._config.workers)]
        results = await asyncio.gather(*(w.start() for w in workers), return_exceptions=True)
        failures = [r for r in results if isinstance(r, BaseException)]
        if failures:
            await asyncio.gather(*(w.kill() for w in workers))
            raise WorkerStartFailed(str(failures[0]))
        async with self._changed:
            self._idle.extend(workers)
            self._changed.notify_all()

    async def acquire(self) -> Worker:
        async with self._changed:
            while not self._idle:
                if self.retired:
                    raise RuntimeStopped("this code version was replaced")
                await self._changed.wait()
            if self.retired:
                raise RuntimeStopped("this code version was replaced")
            worker_ = self._idle.pop()
            self._busy.add(worker_)
            return worker_

    async def release(self, worker_: Worker) -> None:
        async with self._changed:
            self._busy.discard(worker_)
            if self.retired:
                self._changed.notify_all()
            else:
                self._idle.append(worker_)
                self._changed.notify()
        if self.retired:
            await worker_.stop()

    async def discard(self, worker_: Worker) -> None:
        """Kill a worker that timed out or died, and start its replacement in the background."""
        async with self._changed:
            self._busy.discard(worker_)
            self._changed.notify_all()
        await worker_.kill()
        if not self.retired:
            task = asyncio.create_task(self._replace())
            self._starting.add(task)
            task.add_done_callback(self._starting.discard)

    async def _replace(self) -> None:
        replacement = Worker(self._config, self.code_dir, self._log_sink)
        try:
            await replacement.start()
        except WorkerStartFailed as error:
            LOGGER.error("could not replace a worker: %s", error)
            return
        async with self._changed:
            if self.retired:
                stop_it = True
            else:
                stop_it = False
                self._idle.append(replacement)
                self._changed.notify()
        if stop_it:
            await replacement.stop()

    async def retire(self) -> None:
        """Refuse new invocations, let the in-flight ones finish, then stop every worker."""
        async with self._changed:
            self.retired = True
            self._changed.notify_all()
            idle, self._idle = self._idle, []
        for task in list(self._starting):
            task.cancel()
        await asyncio.gather(*self._starting, return_exceptions=True)
        await asyncio.gather(*(w.stop() for w in idle))
        async with self._changed:
            await self._changed.wait_for(lambda: not self._busy)


class Runtime:
    """Runs the function: `invoke` (request/response), `invoke_event` (asynchronous), `update_code`."""

    def __init__(
        self, config: FunctionConfig, log_sink: LogSink | None = None, async_policy: AsyncPolicy | None = None
    ) -> None:
        self.config = config
        self._log_sink: LogSink = log_sink or NullLogSink()
        self.default_async_policy = async_policy or AsyncPolicy()
        self.async_policy = self.default_async_policy
        """What retries follow now; the Lambda API's event-invoke config calls replace it."""
        self.on_failed_event: Callable[[FailedEvent], None] = log_failed_event
        """The hook for events that exhausted their retries or their age (a dead-letter queue plugs in here)."""
        self._pool: WorkerPool | None = None
        self._background: set[asyncio.Task[InvocationResult]] = set()
        self._stopping = False
        self._update_lock = asyncio.Lock()

    @property
    def code_dir(self) -> Path:
        return self._pool.code_dir if self._pool else self.config.code_dir

    def worker_pids(self) -> list[int]:
        pool = self._pool
        return [] if pool is None else [pid for w in pool.workers if (pid := w.pid) is not None]

    async def start(self) -> None:
        pool = WorkerPool(self.config, self.config.code_dir, self._log_sink)
        await pool.start()
        self._pool = pool

    async def invoke(self, event: Any, *, request_id: str | None = None) -> InvocationResult:
        """Run the handler on `event` in an idle worker, waiting for one if all are busy."""
        request_id = request_id or ids.lambda_request_id()
        while True:
            if self._stopping or self._pool is None:
                raise RuntimeStopped("the runtime is stopped")
            pool = self._pool
            try:
                worker_ = await pool.acquire()
            except RuntimeStopped:
                continue  # the code was replaced while we waited: use the new pool
            return await self._run(pool, worker_, request_id, event)

    def invoke_event(self, event: Any) -> asyncio.Task[InvocationResult]:
        """Lambda's asynchronous invocation: accepted at once, run in the background, retried as `async_policy` says.

        A failed attempt (an error, a timeout, a crash) is retried after the policy's delay, with the same request
        id; an event out of retries or past its maximum age goes to `on_failed_event`.
        """
        task = asyncio.create_task(self._run_event(event, ids.lambda_request_id(), time.monotonic()))
        self._background.add(task)
        task.add_done_callback(self._event_done)
        return task

    async def _run_event(self, event: Any, request_id: str, accepted_at: float) -> InvocationResult:
        attempts = 0
        while True:
            result = await self.invoke(event, request_id=request_id)
            attempts += 1
            if result.ok:
                return result
            policy = self.async_policy  # read per attempt: a config put meanwhile applies to the retries left
            if attempts > policy.max_retry_attempts:
                self._event_failed(FailedEvent(request_id, event, RETRIES_EXHAUSTED, attempts, result))
                return result
            delay_s = policy.delay_before(attempts)
            if time.monotonic() + delay_s - accepted_at > policy.max_event_age_s:
                self._event_failed(FailedEvent(request_id, event, EVENT_AGE_EXCEEDED, attempts, result))
                return result
            LOGGER.info("asynchronous invocation %s failed (%s); retry in %g s", request_id, result.error_type, delay_s)
            await asyncio.sleep(delay_s)

    def _event_failed(self, failed: FailedEvent) -> None:
        try:
            self.on_failed_event(failed)
        except Exception:
            LOGGER.exception("the failed-event hook raised")

    def _event_done(self, task: asyncio.Task[InvocationResult]) -> None:
        self._background.discard(task)
        if task.cancelled():
            return
        error = task.exception()
        if error is not None:
            LOGGER.warning("asynchronous invocation not run: %s", error)

    def configure_async(self, max_retry_attempts: int | None = None, max_event_age_s: float | None = None) -> None:
        """Apply an event-invoke config (None: Lambda's default for that setting); delays stay the stack's."""
        default = self.default_async_policy
        self.async_policy = replace(
            default,
            max_retry_attempts=default.max_retry_attempts if max_retry_attempts is None else max_retry_attempts,
            max_event_age_s=default.max_event_age_s if max_event_age_s is None else max_event_age_s,
        )

    async def _run(self, pool: WorkerPool, worker_: Worker, request_id: str, event: Any) -> InvocationResult:
        stream = worker_.log_stream
        self._log_sink.emit(stream, f"START RequestId: {request_id} Version: $LATEST", now_ms())
        started = time.perf_counter()
        timeout_s = self.config.timeout_s
        deadline_ms = now_ms() + int(timeout_s * 1000)
        result: InvocationResult
        try:
            reply = await asyncio.wait_for(worker_.call(request_id, event, deadline_ms), timeout_s)
        except TimeoutError:
            await pool.discard(worker_)
            message = f"{_iso_now()} {request_id} Task timed out after {timeout_s:.2f} seconds"
            self._log_sink.emit(stream, message, now_ms())
            result = InvocationResult(request_id, {"errorMessage": message}, "Sandbox.Timedout")
        except WorkerExited as error:
            await pool.discard(worker_)
            message = f"RequestId: {request_id} Error: Runtime exited with error: {error}"
            self._log_sink.emit(stream, message, now_ms())
            result = InvocationResult(
                request_id, {"errorType": "Runtime.ExitError", "errorMessage": message}, "Runtime.ExitError"
            )
        except BaseException:
            # Cancelled (the stack is stopping) or broken: this worker's state is unknown, never reuse it.
            await pool.discard(worker_)
            raise
        else:
            await pool.release(worker_)
            payload = reply.get("payload")
            error_type = None
            if reply.get("type") != worker.RESULT:
                error_type = str(payload.get("errorType", "Unhandled")) if isinstance(payload, dict) else "Unhandled"
            result = InvocationResult(request_id, payload, error_type)
        duration_ms = (time.perf_counter() - started) * 1000
        self._report(worker_, request_id, duration_ms)
        return InvocationResult(result.request_id, result.payload, result.error_type, duration_ms)

    def _report(self, worker_: Worker, request_id: str, duration_ms: float) -> None:
        memory = worker_.max_memory_mb()
        used = f"\tMax Memory Used: {memory} MB" if memory is not None else ""
        now = now_ms()
        self._log_sink.emit(worker_.log_stream, f"END RequestId: {request_id}", now)
        self._log_sink.emit(
            worker_.log_stream,
            f"REPORT RequestId: {request_id}\tDuration: {duration_ms:.2f} ms\t"
            f"Billed Duration: {max(1, round(duration_ms + 0.5))} ms\tMemory Size: {self.config.memory_mb} MB{used}",
            now,
        )

    async def update_code(self, code_dir: Path) -> None:
        """Start workers on `code_dir`, switch new invocations to them, then drain and stop the old ones."""
        async with self._update_lock:
            if self._stopping:
                raise RuntimeStopped("the runtime is stopped")
            new_pool = WorkerPool(self.config, code_dir, self._log_sink)
            await new_pool.start()
            old, self._pool = self._pool, new_pool
            if old is not None:
                await old.retire()

    async def stop(self) -> None:
        """Cancel the asynchronous invocations still pending, then stop every worker."""
        self._stopping = True
        for task in list(self._background):
            task.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)
        async with self._update_lock:
            if self._pool is not None:
                await self._pool.retire()
