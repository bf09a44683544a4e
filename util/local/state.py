"""The local stack's state file: its outputs as one JSON object, for every `util ... --env local` command."""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any


def write_state(path: Path, outputs: Mapping[str, Any]) -> None:
    """Write atomically (a reader never sees half a file), readable by the user only."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_text(json.dumps(dict(outputs), indent=2, sort_keys=True) + "\n", encoding="utf-8")
    temporary.chmod(0o600)
    temporary.replace(path)


def remove_state(path: Path, outputs: Mapping[str, Any]) -> None:
    """Remove the file if it still describes this stack (another stack may have taken over the path)."""
    try:
        current = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return
    if isinstance(current, dict) and current.get("api_id") == outputs.get("api_id"):
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
