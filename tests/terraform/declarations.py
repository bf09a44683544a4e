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


RESOURCE_START = re.compile(r'^resource "(?P<type>[^"]+)" "(?P<name>[^"]+)" \{$', re.MULTILINE)


def resource(path: Path, type_: str, name: str) -> str:
    """The body of `resource "type_" "name"` in `path`; KeyError if it is not declared there."""
    text = path.read_text(encoding="utf-8")
    for match in RESOURCE_START.finditer(text):
        if (match.group("type"), match.group("name")) == (type_, name):
            return text[match.end() : text.index("\n}\n", match.end())]
    raise KeyError(f'resource "{type_}" "{name}" not in {path.name}')


def string_list(expression: str) -> list[str]:
    """A one-line list of string literals, `["a", "b"]`, as Python strings."""
    if not re.fullmatch(r'\[\s*("[^"\\]*"\s*,\s*)*("[^"\\]*"\s*)?\]', expression):
        raise ValueError(f"not a one-line list of plain strings: {expression}")
    return re.findall(r'"([^"\\]*)"', expression)


def string_literal(expression: str | None) -> str:
    # `$request...` is plain text in HCL; only `${` and `%{` start a template.
    if expression is None or not re.fullmatch(r'"[^"\\]*"', expression) or "${" in expression or "%{" in expression:
        raise ValueError(f"not a plain string literal: {expression}")
    return expression[1:-1]


def jsonencoded_object(body: str, attribute_name: str) -> dict[str, str]:
    """The `name = "value"` pairs of `attribute_name = jsonencode({ ... })` in a block body, in order.

    Only the flat form the stage's access-log format uses: one string attribute per line.
    """
    start = re.search(rf"^\s*{re.escape(attribute_name)}\s*=\s*jsonencode\(\{{$", body, re.MULTILINE)
    if start is None:
        raise KeyError(f"no `{attribute_name} = jsonencode({{` in the block")
    end = body.index("})", start.end())
    pairs: dict[str, str] = {}
    for line in body[start.end() : end].strip().splitlines():
        match = re.fullmatch(r'\s*(?P<key>[A-Za-z_][A-Za-z0-9_]*)\s*=\s*"(?P<value>[^"\\]*)"\s*', line)
        if match is None:
            raise ValueError(f'not a flat `key = "string"` line: {line.strip()}')
        pairs[match.group("key")] = match.group("value")
    return pairs


def locals_attribute(path: Path, name: str) -> str:
    """The expression of `name = ...` inside the `locals { }` block of `path` (two-space indent, one line)."""
    text = path.read_text(encoding="utf-8")
    start = text.index("\nlocals {\n")
    body = text[start : text.index("\n}\n", start)]
    value = attribute(body, name)
    if value is None:
        raise KeyError(f"local.{name} is not in {path.name}")
    return value
