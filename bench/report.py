"""What every benchmark reports: a printed table, a JSON file with the machine's facts, one error line on failure.

Benchmarks never pass or fail on time: they measure, print and record. A run that cannot measure (the stack
did not start, a client process died) ends with `error: <one line>` and exit status 1.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn

BENCH_DIR = Path(__file__).resolve().parent
RESULTS_DIR = BENCH_DIR / "results"
"""Default home of the JSON files (gitignored)."""
REPO_DIR = BENCH_DIR.parent
GIT_TIMEOUT_S = 5.0
REFERENCE_LOOP_ITERATIONS = 1_000_000
REFERENCE_LOOP_RUNS = 5


class BenchError(Exception):
    """A benchmark could not measure; the message is the one line the user sees."""


def default_json_path(name: str) -> Path:
    return RESULTS_DIR / f"{name}.json"


def parse_sizes(text: str) -> list[int]:
    """`100,1000,10000` (underscores allowed) -> [100, 1000, 10000]; argparse reports anything else in one line."""
    problem = f"sizes must be positive integers separated by commas, not {text!r}"
    try:
        sizes = [int(part.strip().replace("_", "")) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(problem) from None
    if not sizes or any(size <= 0 for size in sizes):
        raise argparse.ArgumentTypeError(problem)
    return sizes


def parse_counts(text: str) -> list[int]:
    """`0,1000,250` -> [0, 1000, 250]: like `parse_sizes`, zero allowed."""
    problem = f"expected whole numbers (0 or more) separated by commas, not {text!r}"
    try:
        counts = [int(part.strip().replace("_", "")) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(problem) from None
    if not counts or any(count < 0 for count in counts):
        raise argparse.ArgumentTypeError(problem)
    return counts


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive integer, not {text!r}")
    return value


def _memory_total_mb() -> int | None:
    try:
        for line in Path("/proc/meminfo").read_text(encoding="ascii").splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) // 1024
    except OSError:
        return None
    return None


def _git(*args: str) -> str | None:
    try:
        completed = subprocess.run(
            ["git", *args], cwd=REPO_DIR, capture_output=True, text=True, timeout=GIT_TIMEOUT_S, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return completed.stdout.strip() if completed.returncode == 0 else None


def machine_facts() -> dict[str, Any]:
    """Where and when the figures were taken: they mean little without it."""
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    status = _git("status", "--porcelain", "--untracked-files=no")
    return {
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "nproc": os.cpu_count(),
        "memory_mb": _memory_total_mb(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "load_average_at_start": list(load) if load else None,
        "reference_loop_ms": reference_loop_ms(),
        "reference_loop_cpu_ms": reference_loop_ms(time.process_time),
        "commit": _git("rev-parse", "--short", "HEAD"),
        "uncommitted_changes": bool(status) if status is not None else None,
    }


def reference_loop_ms(clock: Callable[[], float] = time.perf_counter) -> float:
    """One core's Python speed: the best of 5 runs of a million-iteration loop adding integers, in ms.

    The same machine name has given us cores twice as slow on some days as on others; this figure, taken
    next to every result, says which kind of day a run had, so runs of different days can be compared.
    With `time.process_time` as the clock (`reference_loop_cpu_ms`) it counts the loop's CPU time only: on a
    machine shared with other work, the wall-clock loop also counts the time the process waited for a core
    (2026-12-02, load 13 on 2 cores: 553 ms of wall clock, 73 ms of CPU), while CPU figures such as "CPU per
    recipient" do not; the CPU loop is what they are normalized by.
    """
    best = float("inf")
    for _ in range(REFERENCE_LOOP_RUNS):
        started = clock()
        total = 0
        for number in range(REFERENCE_LOOP_ITERATIONS):
            total += number
        best = min(best, clock() - started)
    return round(best * 1000, 1)


_FACTS_AT_START: dict[str, Any] = {}


def record_start() -> None:
    """Take the machine's facts (load, commit) before measuring: `write_json` reports these."""
    _FACTS_AT_START.update(machine_facts())


def write_json(path: Path, benchmark: str, parameters: dict[str, Any], results: dict[str, Any]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    facts = dict(_FACTS_AT_START) or machine_facts()
    facts["finished"] = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
    facts["load_average_at_end"] = list(os.getloadavg()) if hasattr(os, "getloadavg") else None
    document = {"benchmark": benchmark, "machine": facts, "parameters": parameters, "results": results}
    path.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    return path


def print_table(title: str, header: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    """A plain aligned table: first column left, the others right."""
    cells = [[str(cell) for cell in row] for row in [header, *rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    print(f"\n{title}")
    for index, row in enumerate(cells):
        line = "  ".join(cell.ljust(widths[0]) if i == 0 else cell.rjust(widths[i]) for i, cell in enumerate(row))
        print(line)
        if index == 0:
            print("  ".join("-" * width for width in widths))


def fmt_ms(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds * 1000:.1f}"


def fmt_s(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds:.3f}"


def run_main(main: Callable[[], None]) -> NoReturn:
    """Run a benchmark's main: a `BenchError` or Ctrl-C becomes one line on stderr and exit status 1."""
    record_start()
    try:
        main()
    except BenchError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        sys.exit(1)
    sys.exit(0)
