"""The shared scenario list (clients/scenarios.json), read the same way by every client's suite."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

SCENARIO_FILE = Path(__file__).resolve().parents[2] / "clients" / "scenarios.json"
DATA: dict[str, Any] = json.loads(SCENARIO_FILE.read_text(encoding="utf-8"))
SCENARIOS: dict[str, dict[str, Any]] = {scenario["name"]: scenario for scenario in DATA["scenarios"]}
STACK: dict[str, Any] = DATA["stack"]
CLIENT_LIMITS: dict[str, Any] = DATA["client_limits"]
