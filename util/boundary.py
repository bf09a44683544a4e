"""The CLI's single error boundary: whatever a command raises becomes one line on stderr and an exit code.

It lives in the click group's `main`, the method that the console script (`Typer.__call__`), typer's
`CliRunner.invoke` and `python -m util.local` all call, so in-process tests exercise exactly what a user
runs. `util --debug ...` (or `WSPUSH_DEBUG=1`) prints the traceback first.
"""

from __future__ import annotations

import sys
import traceback
from typing import Any, NoReturn

import typer
from typer.core import TyperCommand, TyperGroup

from .console import err
from .errors import EXIT_FAILURE, EXIT_INTERRUPTED, EXIT_USAGE, describe, exit_code

DEBUG_ENV = "WSPUSH_DEBUG"


class Debug:
    """Whether this run prints tracebacks: set by the root callback's `--debug`, reset by every run."""

    enabled = False


def hide_flag_placeholders(command: Any, ctx: Any) -> None:
    """A flag takes no value: typer's help would show it a `<bool>` placeholder all the same."""
    for parameter in command.get_params(ctx):
        if getattr(parameter, "is_flag", False) and parameter.metavar is None:
            parameter.metavar = ""


class UtilCommand(TyperCommand):
    """Every `util` command: its help shows flags as flags."""

    def format_help(self, ctx: Any, formatter: Any) -> None:
        hide_flag_placeholders(self, ctx)
        super().format_help(ctx, formatter)


class HelpWhenEmptyGroup(TyperGroup):
    """A group that, given no arguments, prints its help and exits 2, as click does.

    click signals this case with an exception class it does not export; deciding it here, before click
    parses, keeps the boundary free of click's private names.
    """

    def format_help(self, ctx: Any, formatter: Any) -> None:
        hide_flag_placeholders(self, ctx)
        super().format_help(ctx, formatter)

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        if not args and self.no_args_is_help and not ctx.resilient_parsing:
            # Rich help prints itself and returns ""; plain help comes back as text.
            text = ctx.get_help()
            if text:
                typer.echo(text)
            raise typer.Exit(EXIT_USAGE)
        return super().parse_args(ctx, args)


class BoundaryGroup(HelpWhenEmptyGroup):
    """A group whose every failure is one line: usage errors, our errors, library errors alike."""

    def main(self, *args: Any, **kwargs: Any) -> NoReturn:
        Debug.enabled = False
        try:
            # standalone_mode=False hands every exception to us instead of click's own printing.
            result = super().main(*args, **{**kwargs, "standalone_mode": False})
        except typer.TyperException as error:
            # click's usage errors (a subclass in typer's click): one line naming where help is.
            context = getattr(error, "ctx", None)
            where = f" (see `{context.command_path} --help`)" if context is not None else ""
            _fail(f"{error.format_message()}{where}", getattr(error, "exit_code", EXIT_USAGE))
        except typer.Abort as error:
            if isinstance(error.__cause__, KeyboardInterrupt):
                _fail("interrupted", EXIT_INTERRUPTED)
            _fail("aborted (end of input)", EXIT_FAILURE)
        except typer.Exit as error:
            if isinstance(error.__cause__, KeyboardInterrupt):
                _fail("interrupted", EXIT_INTERRUPTED)
            sys.exit(error.exit_code)
        except (Exception, KeyboardInterrupt) as error:
            if Debug.enabled:
                traceback.print_exc()
            _fail(describe(error), exit_code(error))
        # standalone_mode=False returns the code of a typer.Exit (0 for --help, 130 for Ctrl-C).
        sys.exit(result if isinstance(result, int) else 0)


def _fail(message: str, code: int) -> NoReturn:
    err.print(f"error: {message}", markup=False)
    sys.exit(code)
