"""How big the reliability runs are: CI's reduced size by default, `RELIABILITY_SCALE=full` for the issue's sizes.

Every test reads its sizes from here, so one variable switches the whole suite and the figures in
docs/reliability.md name exactly what ran.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

SCALE_VAR = "RELIABILITY_SCALE"
SCALES = ("ci", "full")


@dataclass(frozen=True)
class Sizes:
    fuzz_examples: int
    """Frames sent through the gateway by the fuzzer (the handler-level fuzz has its own FUZZ_EXAMPLES)."""
    fault_clients: int
    fault_broadcasts: int
    """Broadcasts sent at once, each by another client, while a tenth of posts fail."""
    dead_clients: int
    dead_share: float
    """Share of `dead_clients` killed abruptly."""
    load_clients: int
    load_messages: int
    """Broadcasts each load client sends at once."""
    timeout_s: float
    """Bound of one test at this scale."""


CI = Sizes(
    fuzz_examples=120,
    fault_clients=30,
    fault_broadcasts=5,
    dead_clients=100,
    dead_share=0.3,
    load_clients=40,
    load_messages=5,
    timeout_s=120.0,
)
FULL = Sizes(
    fuzz_examples=10_000,
    fault_clients=300,
    fault_broadcasts=10,
    dead_clients=300,
    dead_share=0.3,
    load_clients=200,
    load_messages=5,
    timeout_s=1800.0,
)


def scale() -> str:
    value = os.environ.get(SCALE_VAR, "ci").strip().lower() or "ci"
    if value not in SCALES:
        raise ValueError(f"{SCALE_VAR} must be one of {', '.join(SCALES)}, not {value!r}")
    return value


def sizes() -> Sizes:
    return FULL if scale() == "full" else CI


SIZES = sizes()
