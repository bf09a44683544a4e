"""Parameters shared by several commands, declared once so every command takes them the same way."""

from __future__ import annotations

from typing import Annotated

import typer

from .environments import ENV_VAR, default_env, known_envs, validate_env
from .errors import InputError


def complete_env(incomplete: str) -> list[str]:
    return [name for name in known_envs() if name.startswith(incomplete)]


EnvOption = Annotated[
    str | None,
    typer.Option(
        "--env",
        "-e",
        metavar="ENV",
        help="Environment: `local` (the local stack), `local:PORT` (another local stack) or a Terraform workspace.",
        autocompletion=complete_env,
        show_default=f"${ENV_VAR}, else local",
    ),
]

EnvArgument = Annotated[
    str | None,
    typer.Argument(
        metavar="[ENV]",
        help="The environment, positionally (same as --env).",
        autocompletion=complete_env,
        show_default=f"${ENV_VAR}, else local",
    ),
]


def resolve_env(option: str | None, positional: str | None = None) -> str:
    """The environment a command runs in: positional, else --env, else `$WSPUSH_ENV`, else `local`."""
    if option is not None and positional is not None and option != positional:
        raise InputError(f"two environments given: {positional!r} and --env {option!r}")
    return validate_env(positional or option or default_env())
