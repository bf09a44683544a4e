"""The `util` command: one typer app; each command lives in its own module.

This module is also the CLI's single error boundary (`App.__call__`): whatever a command raises
becomes one line on stderr and an exit code; `util --debug ...` prints the traceback first.
"""

from __future__ import annotations

import functools
import importlib
import sys
import traceback
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer
from typer.core import TyperGroup
from typer.main import get_command, get_group

if TYPE_CHECKING:
    # typer vendors click and re-exports neither class; needed for annotations only.
    from typer._click.core import Command, Context

from . import build, connect, lambda_deploy, outputs, send_data, tail_logs, web_deploy
from .console import err
from .errors import EXIT_FAILURE, UtilError, describe, exit_code

PROG = "util"
DEBUG_ENV = "WSPUSH_DEBUG"
LOCAL_CLI_MODULE = "util.local.cli"
LOCAL_COMMAND = "local"


class App(typer.Typer):
    """A Typer whose failures are one line each: usage errors, our errors, library errors alike."""

    debug = False

    def __call__(self, *args: Any, **kwargs: Any) -> NoReturn:
        try:
            options: dict[str, Any] = {"prog_name": PROG, **kwargs, "standalone_mode": False}
            result = get_command(self).main(*args, **options)
        except typer.TyperException as error:
            if type(error).__name__ == "NoArgsIsHelpError":
                # The help itself: rich mode has printed it already, plain mode carries it as the message.
                if error.format_message().strip():
                    err.print(error.format_message(), markup=False)
                sys.exit(error.exit_code)
            # click would print a usage block; one line naming the culprit and where help is says more.
            context = getattr(error, "ctx", None)
            where = f" (see `{context.command_path} --help`)" if context is not None else ""
            _fail(f"{error.format_message()}{where}", error.exit_code)
        except typer.Abort:
            _fail("aborted", EXIT_FAILURE)
        except typer.Exit as error:
            sys.exit(error.exit_code)
        except (Exception, KeyboardInterrupt) as error:
            if self.debug:
                traceback.print_exc()
            _fail(describe(error), exit_code(error))
        # standalone_mode=False returns the exit code of a typer.Exit (0 for --help) instead of exiting.
        sys.exit(result if isinstance(result, int) else 0)


def _fail(message: str, code: int) -> NoReturn:
    err.print(f"error: {message}", markup=False)
    sys.exit(code)


class RootGroup(TyperGroup):
    """The `util` group; its `local` sub-group is imported only when used, listed or completed.

    util/local/cli.py pulls in the whole local stack (aiohttp, moto, ...): a few hundred milliseconds
    that `util send-data` or `util connect` should not pay on every start.
    """

    def list_commands(self, ctx: Context) -> list[str]:
        names = super().list_commands(ctx)
        return [*names, LOCAL_COMMAND] if local_command() is not None else names

    def get_command(self, ctx: Context, cmd_name: str) -> Command | None:
        if cmd_name == LOCAL_COMMAND:
            return local_command()
        return super().get_command(ctx, cmd_name)


@functools.cache
def local_command() -> Command | None:
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


def _unavailable_local(reason: str) -> Command:
    unavailable = typer.Typer(help="The local stack (unavailable: it failed to load).")

    @unavailable.callback(invoke_without_command=True)
    def local() -> None:
        raise UtilError(f"the local stack cannot load: {reason}")

    return get_group(unavailable)


app = App(
    name=PROG,
    help="Drive the wspush WebSocket push service: build and deploy its Lambda, push data, read its logs, "
    "connect as a client. Every command takes --env: `local` (the local stack) or a Terraform workspace.",
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
    app.debug = debug


app.command("lambda-build")(build.command)
app.command("lambda-deploy")(lambda_deploy.command)
app.command("send-data")(send_data.command)
app.command("tail-logs")(tail_logs.command)
app.command("connect")(connect.command)
app.command("outputs")(outputs.command)
app.command("web-deploy")(web_deploy.command)
