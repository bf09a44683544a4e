"""`util outputs ENV`: an environment's outputs, as a table or as JSON."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich import box
from rich.table import Table

from .console import out
from .environments import (
    LOCAL_OUTPUT_NAMES,
    OUTPUT_NAMES,
    WEB_HOSTING_OUTPUT_NAMES,
    WEB_OUTPUT_NAMES,
    Outputs,
    load_outputs,
)
from .options import EnvArgument, EnvOption, resolve_env


def ordered(outputs: Outputs) -> dict[str, object]:
    """The contract's outputs first, in contract order, then any others by name."""
    known = [
        name
        for name in (*OUTPUT_NAMES, *WEB_OUTPUT_NAMES, *WEB_HOSTING_OUTPUT_NAMES, *LOCAL_OUTPUT_NAMES)
        if name in outputs.values
    ]
    extra = sorted(name for name in outputs.values if name not in known)
    return {name: outputs.values[name] for name in (*known, *extra)}


def table(outputs: Outputs) -> Table:
    view = Table(box=box.SIMPLE_HEAD, title=f"outputs of {outputs.env}", title_justify="left")
    view.add_column("output", style="cyan", no_wrap=True)
    view.add_column("value", overflow="fold")
    for name, value in ordered(outputs).items():
        view.add_row(name, value if isinstance(value, str) else json.dumps(value))
    return view


def command(
    *,
    env_positional: EnvArgument = None,
    env: EnvOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object instead of a table.")] = False,
) -> None:
    """Show ENV's outputs: the URLs, names and ARNs every other command reads."""
    outputs = load_outputs(resolve_env(env, env_positional))
    if as_json:
        out.print(json.dumps(ordered(outputs), indent=2), markup=False)
    else:
        out.print(table(outputs))
