"""The `util` command: one typer app; each command lives in its own module.

Failures become one line each in `util.boundary.BoundaryGroup.main`, which the console script and
typer's `CliRunner` both go through.
"""

from __future__ import annotations

import functools
import importlib
from typing import Annotated, Any, NoReturn

import typer
from typer.main import get_group

from . import (
    build,
    connect,
    connections,
    dead_letters,
    kick,
    lambda_deploy,
    outputs,
    send_data,
    stats,
    tail_logs,
    token,
    web_deploy,
)
from .boundary import DEBUG_ENV, BoundaryGroup, Debug, UtilCommand
from .errors import UtilError, describe

PROG = "util"
LOCAL_CLI_MODULE = "util.local.cli"
LOCAL_COMMAND = "local"


class RootGroup(BoundaryGroup):
    """The `util` group; its `local` sub-group is imported only when used, listed or completed.

    util/local/cli.py pulls in the whole local stack (aiohttp, moto, ...): a few hundred milliseconds
    that `util send-data` or `util connect` should not pay on every start. (typer exports no names for
    click's Context and Command: they are `Any` here.)
    """

    def main(self, *args: Any, **kwargs: Any) -> NoReturn:
        super().main(*args, **{"prog_name": PROG, **kwargs})

    def list_commands(self, ctx: Any) -> list[str]:
        names = super().list_commands(ctx)
        return [*names, LOCAL_COMMAND] if local_command() is not None else names

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        if cmd_name == LOCAL_COMMAND:
            return local_command()
        return super().get_command(ctx, cmd_name)


@functools.cache
def local_command() -> Any:
    """`util local` from util/local/cli.py; None while that module does not exist.

    A module that fails to import (or has no typer `app`) yields a stand-in whose every use reports the
    failure in one line: the other commands keep working either way.
    """
    try:
        module = importlib.import_module(LOCAL_CLI_MODULE)
    except ModuleNotFoundError as error:
        if error.name == LOCAL_CLI_MODULE:
            return None
        return _unavailable_local(describe(error))
    except Exception as error:
        return _unavailable_local(describe(error))
    local_app = getattr(module, "app", None)
    if not isinstance(local_app, typer.Typer):
        return _unavailable_local(f"{LOCAL_CLI_MODULE} has no typer app named `app`")
    # get_group, not get_command: a sub-group must not grow its own --install-completion options.
    group = get_group(local_app)
    group.name = LOCAL_COMMAND
    return group


def _unavailable_local(reason: str) -> Any:
    unavailable = typer.Typer(help="The local stack (unavailable: it failed to load).")

    @unavailable.callback(invoke_without_command=True)
    def local() -> None:
        raise UtilError(f"the local stack cannot load: {reason}")

    return get_group(unavailable)


app = typer.Typer(
    name=PROG,
    help="Drive the wspush WebSocket push service: build and deploy its Lambda, push data, read its logs, "
    "connect as a client. Commands that reach an environment take --env: `local` (the local stack) or a "
    "Terraform workspace.",
    no_args_is_help=True,
    context_settings={"help_option_names": ["-h", "--help"]},
    pretty_exceptions_enable=False,
    cls=RootGroup,
)


@app.callback()
def main(
    debug: Annotated[
        bool, typer.Option("--debug", envvar=DEBUG_ENV, help="Show the traceback of an error, not just its line.")
    ] = False,
) -> None:
    Debug.enabled = debug


app.command("lambda-build", cls=UtilCommand)(build.command)
app.command("lambda-deploy", cls=UtilCommand)(lambda_deploy.command)
app.command("send-data", cls=UtilCommand)(send_data.command)
app.command("tail-logs", cls=UtilCommand)(tail_logs.command)
app.command("connect", cls=UtilCommand)(connect.command)
app.command("outputs", cls=UtilCommand)(outputs.command)
app.command("token", cls=UtilCommand)(token.command)
app.command("web-deploy", cls=UtilCommand)(web_deploy.command)
app.command("connections", cls=UtilCommand)(connections.command)
app.command("kick", cls=UtilCommand)(kick.command)
app.command("stats", cls=UtilCommand)(stats.command)
app.command("dead-letters", cls=UtilCommand)(dead_letters.command)
