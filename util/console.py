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
