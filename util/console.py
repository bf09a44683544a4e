"""Where `util` writes: results to stdout (for pipes and scripts), progress and diagnostics to stderr.

rich decides colour by itself: none when the stream is not a terminal or `NO_COLOR` is set.
"""

from __future__ import annotations

from rich.console import Console

# soft_wrap: long values (URLs, ARNs, JSON) must stay on one line, copy-pasteable.
out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)


def status(message: str) -> None:
    """A progress or diagnostic line on stderr; never mixed into a command's result."""
    err.print(message, markup=False)


def util_command() -> str:
    """How to run this `util` from the user's shell: `util` if PATH finds this one, else its path.

    After `make local` the console script is `.venv/bin/util`, not on PATH: printed commands must work as shown.
    """
    import shutil
    import sys
    from pathlib import Path

    script = Path(sys.executable).parent / "util"
    on_path = shutil.which("util")
    if on_path is not None and Path(on_path).resolve() == script.resolve():
        return "util"
    if not script.exists():
        return "util"
    try:
        return str(script.relative_to(Path.cwd()))
    except ValueError:
        return str(script)
