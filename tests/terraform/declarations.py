"""Top-level blocks of the configuration's files, read well enough to check their declarations.

Not an HCL parser: it relies on `terraform fmt` layout (a block opens with `variable "name" {` at
column 0 and closes with `}` at column 0), which the fmt test enforces.
"""

from __future__ import annotations

import re
from pathlib import Path

BLOCK_START = re.compile(r'^(?P<kind>variable|output) "(?P<name>[^"]+)" \{$', re.MULTILINE)


def blocks(path: Path, kind: str) -> dict[str, str]:
    """The bodies of the `kind` blocks in `path`, by name, in file order."""
    text = path.read_text(encoding="utf-8")
    found: dict[str, str] = {}
    for match in BLOCK_START.finditer(text):
        if match.group("kind") != kind:
            continue
        end = text.index("\n}\n", match.end())
        found[match.group("name")] = text[match.end() : end]
    return found


def attribute(body: str, name: str) -> str | None:
    """The expression of a top-level attribute of a block body (two-space indent), or None."""
    match = re.search(rf"^  {re.escape(name)}\s*=\s*(?P<value>.+)$", body, re.MULTILINE)
    return match.group("value").strip() if match else None
