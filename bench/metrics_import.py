"""What metrics cost the cold start: the handler's import before and after them, and each EMF emitter's import.

- handler: `import lambda_src.app` in a fresh interpreter (`-I -B`: sources compiled, as on Lambda's read-only
  /var/task) after boto3 and botocore are imported (the runtime has them), from a directory holding only
  `lambda_src`, for this tree and for `--baseline` (a git revision without metrics, taken with `git archive`),
  one run of each in turn.
- emitters: the same probe importing the hand-written `lambda_src.observability.metrics`, Powertools' `Metrics` and
  aws-embedded-metrics' `metric_scope`, in `--library-python` (an interpreter that has those installed; the
  project does not depend on them). An emitter that does not import there is reported as missing.

Usage: python -m bench.metrics_import --baseline REV [--library-python PATH] [--runs 9] [--json PATH]
"""

from __future__ import annotations

import argparse
import io
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path
from typing import Any

from .report import REPO_DIR, BenchError, default_json_path, positive_int, print_table, run_main, write_json

PROBE_TIMEOUT_S = 60.0
PROBE = """
import os, sys, time
sys.path.insert(0, os.getcwd())
import boto3, boto3.session, botocore, botocore.auth, botocore.awsrequest, botocore.config, botocore.credentials
import json, logging, concurrent.futures
started = time.perf_counter()
exec(sys.argv[1])
print((time.perf_counter() - started) * 1000)
"""
EMITTERS = {
    "hand-written lambda_src.observability.metrics": "import lambda_src.observability.metrics",
    "aws-lambda-powertools Metrics": "from aws_lambda_powertools import Metrics",
    "aws-embedded-metrics metric_scope": "from aws_embedded_metrics import metric_scope",
}


def sample(python: str, code_dir: Path, statement: str, runs: int) -> list[float] | None:
    samples: list[float] = []
    for _ in range(runs):
        completed = subprocess.run(
            [python, "-I", "-B", "-c", PROBE, statement],
            cwd=code_dir,
            capture_output=True,
            text=True,
            timeout=PROBE_TIMEOUT_S,
            check=False,
        )
        if completed.returncode != 0:
            return None
        samples.append(float(completed.stdout.strip().splitlines()[-1]))
    return samples


def package_of(revision: str | None, work: Path) -> Path:
    """A directory holding only `lambda_src`: this tree's, or `revision`'s."""
    target = work / (revision or "current")
    target.mkdir(parents=True)
    if revision is None:
        shutil.copytree(REPO_DIR / "lambda_src", target / "lambda_src", ignore=shutil.ignore_patterns("__pycache__"))
        return target
    archive = subprocess.run(
        ["git", "archive", "--format=tar", revision, "lambda_src"], cwd=REPO_DIR, capture_output=True, check=False
    )
    if archive.returncode != 0:
        raise BenchError(f"git archive {revision}: {archive.stderr.decode(errors='replace').strip()}")
    with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
        tar.extractall(target, filter="data")
    return target


def row(name: str, samples: list[float] | None) -> tuple[list[object], dict[str, Any]]:
    if samples is None:
        return [name, "missing", "-", "-"], {"missing": True}
    median = statistics.median(samples)
    return [name, f"{median:.1f}", f"{min(samples):.1f}", f"{max(samples):.1f}"], {
        "median_ms": median,
        "runs_ms": samples,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", required=True, help="git revision whose lambda_src has no metrics")
    parser.add_argument("--library-python", default=None, help="interpreter with Powertools and aws-embedded-metrics")
    parser.add_argument("--runs", type=positive_int, default=9)
    parser.add_argument("--json", type=Path, default=default_json_path("metrics_import"))
    args = parser.parse_args()
    rows: list[list[object]] = []
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as temp:
        work = Path(temp)
        current, baseline = package_of(None, work), package_of(args.baseline, work)
        handlers = {f"handler at {args.baseline}": baseline, "handler, this tree": current}
        samples: dict[str, list[float]] = {name: [] for name in handlers}
        # Alternating one run of each: a machine whose load drifts shifts both, not one.
        for _ in range(args.runs):
            for name, code_dir in handlers.items():
                one = sample(sys.executable, code_dir, "import lambda_src.app", 1)
                if one is None:
                    raise BenchError(f"{name}: `import lambda_src.app` failed")
                samples[name].extend(one)
        for name, runs in samples.items():
            cells, result = row(name, runs)
            rows.append(cells)
            results[name] = result
        for name, statement in EMITTERS.items():
            cells, result = row(name, sample(args.library_python or sys.executable, current, statement, args.runs))
            rows.append(cells)
            results[name] = result
    print_table(f"import time, ms (median of {args.runs})", ["what", "median", "min", "max"], rows)
    parameters = {"baseline": args.baseline, "library_python": args.library_python, "runs": args.runs}
    path = write_json(args.json, "metrics_import", parameters, results)
    print(f"\nwrote {path}")


if __name__ == "__main__":
    run_main(main)
