"""`util local ...`: run the whole service on this machine (mounted by `util.cli` as the `local` group).

`up` runs a stack (in the foreground, or `--detach`ed with its output in a log file), `status` lists the
stacks this machine runs, `down` stops one. How their state is kept: util/local/state.py.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import stat
import subprocess
import sys
import time
from datetime import UTC, datetime
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from lambda_src import limits
from lambda_src.config import AuthMode
from lambda_src.store.open import StoreKind
from util.boundary import BoundaryGroup, UtilCommand
from util.console import out, status, util_command
from util.environments import LOCAL_ENV, local_state_path
from util.errors import InputError, LocalStackNotRunning, UtilError
from util.local import settings as defaults
from util.local import state
from util.local.settings import TOKEN_FILE_OPTION, TOKEN_OPTION, TOKEN_VARIABLE, StackSettings
from util.local.stack import LocalStack

DETACHED_START_TIMEOUT_S = 120.0
"""moto and the warm workers start in about 5-40 s; a machine under load may take longer."""
STOP_TIMEOUT_S = 60.0
POLL_S = 0.1
DETACH_OPTION = "--detach"
LOG_FILE_OPTION = "--log-file"
TOKEN_FILE_PRIVATE_BITS = 0o077
"""A token file must grant its group and others nothing (0600 or stricter), as ssh requires of a private key."""
TOKEN_FILE_MAX_BYTES = 8190
"""More than a token can be: the gateway refuses a request line longer than this (aiohttp's limit), `?token=`
included, so a longer first line is not read further."""

# BoundaryGroup: `python -m util.local` fails in one line too (under `util`, the root group's boundary runs).
app = typer.Typer(
    help="The local stack: the service on this machine, no AWS account needed.",
    no_args_is_help=True,
    cls=BoundaryGroup,
)


@app.callback()
def _group() -> None:
    """The local stack: the service on this machine, no AWS account needed."""


@app.command(cls=UtilCommand)
def up(
    ctx: typer.Context,
    *,
    port: Annotated[int, typer.Option(help="Port of the WebSocket endpoint, @connections and the Lambda API.")] = (
        defaults.DEFAULT_PORT
    ),
    host: Annotated[str, typer.Option(help="Address to listen on; anything but loopback exposes the stack.")] = (
        defaults.DEFAULT_HOST
    ),
    stage: Annotated[str, typer.Option(help="Stage name: the path of the WebSocket URL.")] = defaults.DEFAULT_STAGE,
    auth: Annotated[
        str | None,
        typer.Option(
            help="Who may connect: none, token (a shared --token) or jwt (a local issuer; `util token` mints). "
            "[default: token if a token is given, else none]",
            show_default=False,
        ),
    ] = None,
    token: Annotated[
        str | None,
        typer.Option(
            TOKEN_OPTION,
            help="--auth token: the shared secret clients pass as ?token= (kept in the stack's SSM). On the command "
            f"line `ps` shows it to every local user: prefer ${TOKEN_VARIABLE} or {TOKEN_FILE_OPTION}.",
            show_default=False,
        ),
    ] = None,
    token_file: Annotated[
        Path | None,
        typer.Option(
            TOKEN_FILE_OPTION,
            help="--auth token: read the token from this file (its first line; mode 0600 or stricter).",
            show_default=False,
        ),
    ] = None,
    authorizer_ttl: Annotated[
        float, typer.Option(help="--auth jwt: seconds the $connect authorizer's answer is cached per token.")
    ] = 0.0,
    latency_ms: Annotated[
        float, typer.Option(help="Added to every @connections call, to mimic AWS round trips.")
    ] = 0.0,
    fault_rate: Annotated[float, typer.Option(help="Share (0-1) of @connections calls answered 500 or 429.")] = 0.0,
    fault_statuses: Annotated[
        str, typer.Option(help="What a @connections fault answers: 500, 429, or both (chosen at random).")
    ] = "500,429",
    store_fault_rate: Annotated[
        float | None,
        typer.Option(
            help="Share (0-1) of the function's S3/DynamoDB calls answered as AWS throttles them "
            "(S3 503 SlowDown; DynamoDB ProvisionedThroughputExceededException, ThrottlingException)."
        ),
    ] = None,
    idle_timeout: Annotated[float, typer.Option(help="Seconds without messages before a connection is closed.")] = (
        limits.IDLE_TIMEOUT_S
    ),
    max_duration: Annotated[float, typer.Option(help="Seconds after which any connection is closed.")] = (
        limits.MAX_DURATION_S
    ),
    workers: Annotated[int, typer.Option(help="Warm Lambda workers: invocations that can run at once.")] = (
        defaults.DEFAULT_WORKERS
    ),
    timeout: Annotated[float, typer.Option(help="Function timeout in seconds; a longer invocation is cut off.")] = (
        defaults.DEFAULT_TIMEOUT_S
    ),
    store: Annotated[
        str, typer.Option(help="Connection store, created in the embedded moto: s3 (a bucket) or dynamodb (a table).")
    ] = StoreKind.S3,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Also print the function's log lines.")] = False,
    pings_reset_idle: Annotated[
        bool, typer.Option(help="Let WebSocket pings count as activity for the idle timeout (API Gateway: no).")
    ] = False,
    async_retries: Annotated[
        int, typer.Option(help="Event-invoke config: retries of a failed asynchronous invocation (0-2).")
    ] = defaults.DEFAULT_ASYNC_RETRY_ATTEMPTS,
    async_max_event_age: Annotated[
        float,
        typer.Option(help="Event-invoke config: seconds an asynchronous event may wait for its retries (60-21600)."),
    ] = defaults.DEFAULT_ASYNC_MAX_EVENT_AGE_S,
    async_retry_delays: Annotated[
        str, typer.Option(help="Seconds before retry 1,2 (Lambda: 60,120); shorter ones make retries visible.")
    ] = ",".join(f"{delay:g}" for delay in defaults.ASYNC_RETRY_DELAYS_S),
    connections_rate: Annotated[
        float | None,
        typer.Option(help="@connections requests per second (burst half) before 429 LimitExceededException."),
    ] = None,
    message_rate: Annotated[
        float | None,
        typer.Option(help="Messages a second each connection may send (the function's MESSAGE_RATE_PER_S; 0: off)."),
    ] = None,
    message_burst: Annotated[
        int | None, typer.Option(help="Messages each connection may send at once (the function's MESSAGE_BURST).")
    ] = None,
    fanout_budget: Annotated[
        float | None,
        typer.Option(
            help="Posts a second each connection (with --auth jwt, each user) may cause "
            "(the function's FANOUT_BUDGET_PER_S; 0: off)."
        ),
    ] = None,
    detach: Annotated[
        bool,
        typer.Option(DETACH_OPTION, help="Run in the background, output to a log file; `util local down` stops it."),
    ] = False,
    log_file: Annotated[
        Path | None, typer.Option(LOG_FILE_OPTION, hidden=True, help="Where a detached stack's output goes.")
    ] = None,
) -> None:
    """Start the local stack in the foreground; Ctrl-C (or SIGTERM) stops it and everything it started."""
    token = _connect_token(token, token_file)
    # Read once: no child of the stack (moto) inherits it; a detached one is given it explicitly.
    os.environ.pop(TOKEN_VARIABLE, None)
    settings = StackSettings(
        host=host,
        port=port,
        stage=stage,
        token=token,
        latency_ms=latency_ms,
        fault_rate=fault_rate,
        fault_statuses=_statuses(fault_statuses),
        store_fault_rate=store_fault_rate,
        idle_timeout_s=idle_timeout,
        max_duration_s=max_duration,
        workers=workers,
        timeout_s=timeout,
        pings_reset_idle=pings_reset_idle,
        async_max_retry_attempts=async_retries,
        async_max_event_age_s=async_max_event_age,
        async_retry_delays_s=_seconds_list(async_retry_delays, "--async-retry-delays"),
        connections_rate=connections_rate,
        auth=auth,
        authorizer_ttl_s=authorizer_ttl,
        store=store,
        message_rate_per_s=message_rate,
        message_burst=message_burst,
        fanout_budget_per_s=fanout_budget,
        state_path=local_state_path(),
    ).validate()
    current = local_state_path()
    _refuse_a_taken_port(current, port)
    if detach:
        _detach(ctx, current, port, token)
        return
    # The current file goes to this stack only if no live stack holds it: a second stack never
    # redirects the first one's commands, nor deletes its file when it stops.
    takes_current = not state.current_is_live(current)
    if not takes_current:
        settings = _with_state_path(settings, None)
    _configure_logging(verbose)
    if not settings.is_loopback:
        status(
            f"warning: listening on {host}: anyone who reaches this machine can connect to the WebSocket endpoint "
            "(@connections and the Lambda API still require the stack's credentials)"
        )
    asyncio.run(_serve(settings, current, takes_current, log_file))


def _connect_token(token: str | None, token_file: Path | None) -> str | None:
    """The token from `--token`, `--token-file` or `$WSPUSH_LOCAL_TOKEN` (an option beats the variable)."""
    if token is not None and token_file is not None:
        raise InputError(f"give the token once: {TOKEN_OPTION} or {TOKEN_FILE_OPTION}, not both")
    if token_file is not None:
        return read_token_file(token_file)
    if token is not None:
        status(
            f"note: {TOKEN_OPTION} on the command line is visible to every local user (`ps`): "
            f"prefer ${TOKEN_VARIABLE} or {TOKEN_FILE_OPTION}"
        )
        return token
    from_environment = os.environ.get(TOKEN_VARIABLE)
    if from_environment == "":
        raise InputError(f"${TOKEN_VARIABLE} is set but empty: unset it, or give the token")
    return from_environment


def read_token_file(path: Path) -> str:
    """The first line of `path`, which only its owner may read (else a clear error, as for a readable key)."""
    try:
        with path.open("rb") as file:
            # A pipe passes too (`--token-file <(pass show wspush)`): the kernel makes it 0600.
            mode = os.fstat(file.fileno()).st_mode
            if mode & TOKEN_FILE_PRIVATE_BITS:
                raise InputError(
                    f"{TOKEN_FILE_OPTION} {path} is readable by others (mode {stat.S_IMODE(mode):04o}): "
                    f"`chmod 600 {path}` first"
                )
            first = file.readline(TOKEN_FILE_MAX_BYTES)
    except OSError as error:
        raise InputError(f"cannot read {TOKEN_FILE_OPTION} {path}: {error.strerror or error}") from None
    try:
        token = first.decode("utf-8").rstrip("\r\n")
    except UnicodeDecodeError:
        raise InputError(f"{TOKEN_FILE_OPTION} {path} is not UTF-8 text") from None
    if not token.strip():
        raise InputError(f"{TOKEN_FILE_OPTION} {path} holds no token on its first line")
    return token


def _with_state_path(settings: StackSettings, path: Path | None) -> StackSettings:
    from dataclasses import replace

    return replace(settings, state_path=path)


def _refuse_a_taken_port(current: Path, port: int) -> None:
    if port == 0:
        return
    record = state.read_record(state.record_path(current, port))
    if record is not None and state.liveness(record) is state.Liveness.RUNNING:
        raise InputError(
            f"a local stack already runs on port {port} (pid {record.pid}): stop it with "
            f"`{util_command()} local down --port {port}`, or pick another --port"
        )


def _seconds_list(text: str, option: str) -> tuple[float, ...]:
    try:
        return tuple(float(part) for part in text.split(","))
    except ValueError:
        raise InputError(f"{option} takes seconds separated by commas, like 60,120; not {text!r}") from None


def _statuses(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(part) for part in text.split(","))
    except ValueError:
        raise InputError(f"--fault-statuses takes statuses separated by commas, like 500,429; not {text!r}") from None


async def _serve(settings: StackSettings, current: Path, takes_current: bool, log_file: Path | None) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    stack = LocalStack(settings)
    typer.echo("starting the local stack (moto, Lambda workers, gateway) ...")
    record: state.StackRecord | None = None
    try:
        outputs = await stack.start()
        record = state.StackRecord(
            pid=os.getpid(),
            port=state.output_port(outputs) or settings.port,
            host=settings.host,
            outputs=stack.state_document(),
            log_path=str(log_file) if log_file is not None else None,
            started_at=datetime.now(UTC).isoformat(timespec="seconds"),
        )
        record_file = state.write_record(current, record)
        typer.echo(banner(outputs, settings, record, current if takes_current else record_file, takes_current))
        if not takes_current:
            status(
                f"note: another local stack holds {current}: `--env local` commands keep going there; "
                f"this one is `--env local:{record.port}`"
            )
        await stop.wait()
        typer.echo("stopping: closing connections, stopping workers and moto ...")
    finally:
        await stack.stop()
        if record is not None:
            state.remove_record(current, record)
    typer.echo("stopped.")


def banner(
    outputs: dict[str, str], settings: StackSettings, record: state.StackRecord, state_file: Path, current: bool
) -> str:
    """What the stack is and the next commands, each runnable as printed (`util` finds the token itself)."""
    websocket = outputs["websocket_url"]
    store_name = outputs.get("connections_table") or outputs.get("connections_bucket")
    util = util_command()
    env = LOCAL_ENV if current else f"local:{record.port}"
    # The token is a secret (terminal scrollback, CI logs): `util` reads it from the 0600 state file, and the
    # wscat line names where it goes, never its value.
    token_query = "&token=<your token>" if settings.auth_mode in (AuthMode.TOKEN, AuthMode.JWT) else ""
    down = f"{util} local down" + ("" if current else f" --port {record.port}")
    stop = "Ctrl-C stops the stack." if record.log_path is None else f"`{down}` stops the stack."
    return "\n".join(
        [
            "",
            f"wspush local stack is up: {settings.workers} warm Lambda workers, timeout {settings.timeout_s:g} s",
            f"  WebSocket     {websocket}",
            f"  web page      {outputs['web_url']}  (chat and raw frames in a browser; open it in two tabs)",
            f"  @connections  {outputs['connections_url']}/@connections/{{connectionId}}",
            f"  moto          {outputs['aws_endpoint_url']}  (S3, DynamoDB, SNS, SQS, Logs; its own process)",
            f"  store         {settings.store}: {store_name}",
            f"  state file    {state_file}",
            *([f"  log file      {record.log_path}"] if record.log_path else []),
            f"  auth          {settings.auth_mode}" + _auth_hint(settings.auth_mode),
            "",
            "Next:",
            f"  connect       {util} connect -e {env}",
            f"   or           wscat -c '{websocket}?name=alice{token_query}'",
            '  then send     {"action": "broadcast", "message": "hello"}   (also: send, whoami, join, leave)',
            f'  push          {util} send-data -e {env} \'{{"hello": "world"}}\'',
            f"  logs          {util} tail-logs -e {env}",
            f"  deploy code   {util} lambda-deploy {env}   (replaces the workers, the stack keeps running)",
            f"  status        {util} local status",
            "",
            stop,
        ]
    )


def _detach(context: typer.Context, current: Path, port: int, token: str | None) -> None:
    """Start `util local up` (these options, without --detach) in its own session; return once it is ready.

    The token goes to the child in its environment (`TOKEN_VARIABLE`), never among its arguments.
    """
    log_dir = state.records_dir(current)
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"up-{port or 'any'}-{datetime.now(UTC).strftime('%Y%m%dT%H%M%S')}-{os.getpid()}.log"
    skip = {"detach", "log_file", "token", "token_file"}
    arguments = [*forwarded_options(context, skip=skip), LOG_FILE_OPTION, str(log_path)]
    environment = {name: value for name, value in os.environ.items() if name != TOKEN_VARIABLE}
    if token is not None:
        environment[TOKEN_VARIABLE] = token
    with log_path.open("ab") as log:
        log_path.chmod(state.RECORD_FILE_MODE)
        process = subprocess.Popen(
            [sys.executable, "-m", "util.local", "up", *arguments],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=environment,
            # Its own session: closing this terminal or a Ctrl-C here must not reach it.
            start_new_session=True,
        )
    deadline = time.monotonic() + DETACHED_START_TIMEOUT_S
    while (record := _record_of_pid(current, process.pid)) is None:
        if process.poll() is not None:
            raise UtilError(
                f"the detached stack exited with {process.returncode}: {_last_line(log_path)} (log: {log_path})"
            )
        if time.monotonic() > deadline:
            process.terminate()
            raise UtilError(f"the detached stack was not ready within {DETACHED_START_TIMEOUT_S:g} s (log: {log_path})")
        time.sleep(POLL_S)
    out.print(
        f"the local stack runs in the background: pid {record.pid}, {record.outputs['websocket_url']}", markup=False
    )
    out.print(f"log: {log_path}", markup=False)
    out.print(
        f"stop it with `{util_command()} local down"
        + ("`" if current_port(current) == record.port else f" --port {record.port}`"),
        markup=False,
    )


def current_port(current: Path) -> int | None:
    outputs = state.read_json(current)
    return state.output_port(outputs) if isinstance(outputs, dict) else None


def _record_of_pid(current: Path, pid: int) -> state.StackRecord | None:
    return next((record for record in state.list_records(current) if record.pid == pid), None)


def _last_line(path: Path) -> str:
    lines = [line for line in path.read_text(encoding="utf-8", errors="replace").splitlines() if line.strip()]
    return lines[-1] if lines else "no output"


def forwarded_options(context: typer.Context, skip: set[str]) -> list[str]:
    """The command line that gives a command the same parameter values (for the detached child).

    Read from the command's own parameters, so an option added to `up` is forwarded without more code.
    """
    arguments: list[str] = []
    for parameter in context.command.params:
        name = parameter.name
        if name in skip or not parameter.opts or not parameter.opts[0].startswith("-"):
            continue
        value = context.params.get(name)
        if value is None:
            continue
        if getattr(parameter, "is_flag", False):
            if value:
                arguments.append(parameter.opts[0])
            elif parameter.secondary_opts:
                arguments.append(parameter.secondary_opts[0])
            continue
        values = value if parameter.multiple else [value]
        for item in values:
            arguments += [parameter.opts[0], str(item.value if isinstance(item, Enum) else item)]
    return arguments


@app.command("status", cls=UtilCommand)
def status_command() -> None:
    """List the local stacks this machine runs (and stale state left by ones that died)."""
    current = local_state_path()
    records = state.list_records(current)
    current_outputs = state.read_json(current)
    if not records and not isinstance(current_outputs, dict):
        out.print(f"no local stack: nothing recorded next to {current}", markup=False)
        return
    holder = current_port(current)
    for record in records:
        alive = state.liveness(record)
        marks = ["current (--env local)" if record.port == holder else f"--env local:{record.port}"]
        if record.log_path:
            marks.append(f"log {record.log_path}")
        out.print(
            f"port {record.port}  pid {record.pid}  {alive.value}  {record.outputs.get('websocket_url', '?')}  "
            + "  ".join(marks),
            markup=False,
        )
    if isinstance(current_outputs, dict) and not any(record.port == holder for record in records):
        alive_text = "running" if state.outputs_answer(current_outputs) else "stale: its endpoints do not answer"
        out.print(
            f"{current}: {current_outputs.get('websocket_url', '?')}  {alive_text}  (a stack with no record)",
            markup=False,
        )


@app.command(cls=UtilCommand)
def down(
    port: Annotated[
        int | None, typer.Option(help="The stack on this port.", show_default="the current one, `--env local`")
    ] = None,
) -> None:
    """Stop a local stack (started in the foreground or with --detach) and wait until it has stopped."""
    current = local_state_path()
    chosen = port if port is not None else current_port(current)
    record = state.read_record(state.record_path(current, chosen)) if chosen is not None else None
    if record is None:
        where = f"on port {port}" if port is not None else f"recorded in {current}"
        raise LocalStackNotRunning(f"no local stack {where}: `{util_command()} local status` lists them")
    alive = state.liveness(record)
    if alive is not state.Liveness.RUNNING or not state.is_local_stack_process(record.pid):
        _remove_stale(current, record)
        out.print(
            f"the local stack on port {record.port} was not running ({alive.value}): removed its state", markup=False
        )
        return
    os.kill(record.pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT_S
    while state.pid_alive(record.pid):
        if time.monotonic() > deadline:
            raise UtilError(f"the local stack (pid {record.pid}) did not stop within {STOP_TIMEOUT_S:g} s")
        time.sleep(POLL_S)
    # A stack stops cleanly and removes its state; one that did not (killed meanwhile) leaves stale files.
    _remove_stale(current, record)
    out.print(f"stopped the local stack on port {record.port} (pid {record.pid})", markup=False)


def _remove_stale(current: Path, record: state.StackRecord) -> None:
    state.remove_record(current, record)
    outputs = state.read_json(current)
    if isinstance(outputs, dict) and outputs == record.outputs:
        state.remove_state(current, outputs)


def _configure_logging(verbose: bool) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s", "%H:%M:%S"))
    root = logging.getLogger("wspush.local")
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    logging.getLogger("wspush.local.handler").setLevel(logging.DEBUG if verbose else logging.WARNING)
    logging.getLogger("wspush.local.access").setLevel(logging.INFO if verbose else logging.WARNING)


if __name__ == "__main__":
    app()


def _auth_hint(mode: str) -> str:
    util = util_command()
    if mode == AuthMode.JWT:
        return f'  (TOKEN=$({util} token --sub alice --name Alice), then {util} connect --token "$TOKEN")'
    if mode == AuthMode.TOKEN:
        return f"  ({util} connect reads your token from the state file; other clients pass it as ?token=)"
    return ""
