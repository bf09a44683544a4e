"""`util local ...`: run the whole service on this machine (mounted by `util.cli` as the `local` group)."""

from __future__ import annotations

import asyncio
import logging
import signal
from pathlib import Path
from typing import Annotated

import typer

from util.environments import LOCAL_ENV, default_env, local_state_path
from util.errors import InputError, UtilError, describe, exit_code

from . import settings as defaults
from .settings import StackSettings
from .stack import LocalStack

app = typer.Typer(help="The local stack: the service on this machine, no AWS account needed.", no_args_is_help=True)


@app.callback()
def _group() -> None:
    """The local stack: the service on this machine, no AWS account needed."""


@app.command()
def up(
    *,
    env: Annotated[str, typer.Option("--env", "-e", help="Environment; the local stack is always `local`.")] = "",
    port: Annotated[int, typer.Option(help="Port of the WebSocket endpoint, @connections and the Lambda API.")] = (
        defaults.DEFAULT_PORT
    ),
    host: Annotated[str, typer.Option(help="Address to listen on; anything but loopback exposes the stack.")] = (
        defaults.DEFAULT_HOST
    ),
    stage: Annotated[str, typer.Option(help="Stage name: the path of the WebSocket URL.")] = defaults.DEFAULT_STAGE,
    token: Annotated[
        str | None, typer.Option(help="Require ?token=TOKEN on connect (the function's CONNECT_TOKEN).")
    ] = None,
    latency_ms: Annotated[
        float, typer.Option(help="Added to every @connections call, to mimic AWS round trips.")
    ] = 0.0,
    fault_rate: Annotated[float, typer.Option(help="Share (0-1) of @connections calls answered 500 or 429.")] = 0.0,
    idle_timeout: Annotated[float, typer.Option(help="Seconds without messages before a connection is closed.")] = (
        defaults.IDLE_TIMEOUT_S
    ),
    max_duration: Annotated[float, typer.Option(help="Seconds after which any connection is closed.")] = (
        defaults.MAX_DURATION_S
    ),
    workers: Annotated[int, typer.Option(help="Warm Lambda workers: invocations that can run at once.")] = (
        defaults.DEFAULT_WORKERS
    ),
    timeout: Annotated[float, typer.Option(help="Function timeout in seconds; a longer invocation is cut off.")] = (
        defaults.DEFAULT_TIMEOUT_S
    ),
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Also print the function's log lines.")] = False,
) -> None:
    """Start the local stack in the foreground; Ctrl-C (or SIGTERM) stops it and everything it started."""
    try:
        chosen_env = env or default_env()
        if chosen_env != LOCAL_ENV:
            raise InputError(f"`util local up` runs environment {LOCAL_ENV!r} only, not {chosen_env!r}")
        settings = StackSettings(
            host=host,
            port=port,
            stage=stage,
            token=token,
            latency_ms=latency_ms,
            fault_rate=fault_rate,
            idle_timeout_s=idle_timeout,
            max_duration_s=max_duration,
            workers=workers,
            timeout_s=timeout,
            state_path=local_state_path(),
        ).validate()
        _configure_logging(verbose)
        if not settings.is_loopback:
            typer.echo(
                f"warning: listening on {host}: anyone who reaches this machine can connect, and the "
                "@connections and Lambda APIs accept any signature",
                err=True,
            )
        asyncio.run(_serve(settings))
    except UtilError as error:
        typer.echo(f"error: {describe(error)}", err=True)
        raise typer.Exit(exit_code(error)) from None


async def _serve(settings: StackSettings) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    stack = LocalStack(settings)
    typer.echo("starting the local stack (moto, Lambda workers, gateway) ...")
    try:
        outputs = await stack.start()
        typer.echo(_banner(outputs, settings))
        await stop.wait()
        typer.echo("stopping: closing connections, stopping workers and moto ...")
    finally:
        await stack.stop()
    typer.echo("stopped.")


def _banner(outputs: dict[str, str], settings: StackSettings) -> str:
    websocket = outputs["websocket_url"]
    token = f"&token={settings.token}" if settings.token else ""
    state = settings.state_path or Path("-")
    return "\n".join(
        [
            "",
            f"wspush local stack is up: {settings.workers} warm Lambda workers, timeout {settings.timeout_s:g} s",
            f"  WebSocket     {websocket}",
            f"  web page      {outputs['web_url']}  (chat and raw frames in a browser; open it in two tabs)",
            f"  @connections  {outputs['connections_url']}/@connections/{{connectionId}}",
            f"  moto          {outputs['aws_endpoint_url']}  (S3, SNS, SQS, CloudWatch Logs)",
            f"  state file    {state}",
            "",
            "Next:",
            f"  connect       util connect --env local   or   wscat -c '{websocket}?name=alice{token}'",
            '  then send     {"action": "broadcast", "message": "hello"}   (also: send, whoami, join, leave)',
            '  push          util send-data --env local \'{"hello": "world"}\'',
            "  logs          util tail-logs --env local",
            "  deploy code   util lambda-deploy local   (replaces the workers, the stack keeps running)",
            "",
            "Ctrl-C stops the stack.",
        ]
    )


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
