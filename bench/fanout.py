"""Fan-out to N connected clients with an AWS-like 20 ms per `@connections` post: ours against the naive baseline.

The local stack runs in a child process with `latency_ms` added to every `@connections` call, N clients in
another. For each shard size in `--shard-sizes` (the function's `SHARD_SIZE`: 0 = one invocation posts to
everyone; N = recipients per shard invocation) a fresh stack runs every N (the audience grows between sizes):
- ours: publish to the stack's SNS topic (exactly what `util send-data` does), which reaches the Lambda through
  SQS; seconds from the publish call to the last client's receipt. Median over `--repeat`, after one warm-up.
- baseline (what the original projects do), with the first stack only: list the connection ids in the store, then
  `post_to_connection` with boto3, one at a time, run here in the bench process against the same stack;
  seconds from the start of the listing to the last client's receipt.

With `--connections-rate N` the stack throttles `@connections` to N requests per second (burst N/2, API Gateway's
shape scaled down) and the run reports what the function's pacing achieved: posts per second over the posting
window (first shard's start to last shard's end, from the `fanout` log lines) against N, and the 429s met. The
baseline is skipped then (boto3's 3 attempts would drop throttled posts and end the run).

Usage: python -m bench.fanout [--sizes 100,1000,10000] [--shard-sizes 0,1000] [--latency-ms 20] [--repeat 3]
       [--baseline-max N] [--workers 4] [--store s3|dynamodb] [--connections-rate N] [--grow-concurrency 200]
       [--json bench/results/fanout.json]
"""

from __future__ import annotations

import argparse
import datetime
import json
import statistics
import time
import uuid
from pathlib import Path
from typing import Any

from lambda_src.config import MAX_FANOUT_BUDGET_PER_S, MAX_MESSAGE_BURST, MAX_MESSAGE_RATE_PER_S
from lambda_src.store.open import StoreKind
from util.local.aws.credentials import LocalCredentials

from .children import raise_open_files_limit
from .report import (
    BenchError,
    default_json_path,
    fmt_s,
    parse_counts,
    parse_sizes,
    positive_int,
    print_table,
    run_main,
    write_json,
)
from .stack_process import ROLES, StackProcess, cpu_delta
from .swarm import GROW_CONCURRENCY, Swarm, grow

BASE_TIMEOUT_S = 30.0
PER_RECIPIENT_TIMEOUT_S = 0.02
"""Ours: generous next to the target (10,000 in 4 s), so a slow machine still measures instead of failing."""
COLLECT_AFTER_BASELINE_S = 30.0
LOG_WAIT_S = 5.0
"""The stack ships log lines every 0.2 s."""
LOG_POLL_S = 0.3
SETTLE_S = 1.0


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--sizes", type=parse_sizes, default=[100, 1000, 10_000], help="audiences, e.g. 100,1000")
    parser.add_argument("--latency-ms", type=float, default=20.0, help="added to every @connections call")
    parser.add_argument("--repeat", type=positive_int, default=3, help="publishes timed per size (after one warm-up)")
    parser.add_argument(
        "--shard-sizes",
        type=parse_counts,
        default=[0, 1000],
        help="the function's SHARD_SIZE, one stack each: 0 = one invocation, N = N recipients per shard",
    )
    parser.add_argument(
        "--baseline-max", type=positive_int, default=None, help="skip the baseline above this many clients (it is slow)"
    )
    parser.add_argument("--workers", type=positive_int, default=4, help="warm Lambda workers of the stack")
    parser.add_argument("--store", choices=tuple(StoreKind), default=StoreKind.S3, help="the stack's connection store")
    parser.add_argument(
        "--connections-rate",
        type=positive_int,
        default=None,
        help="throttle @connections to N requests per second (burst N/2); skips the baseline",
    )
    parser.add_argument(
        "--grow-concurrency",
        type=positive_int,
        default=GROW_CONCURRENCY,
        help="connects in flight while the audience grows (fewer on a loaded machine)",
    )
    parser.add_argument("--json", type=Path, default=default_json_path("fanout"))
    return parser.parse_args()


def _check(reply: dict[str, Any], what: str) -> float:
    if reply["received"] < reply["expected"] or reply["last"] is None:
        raise BenchError(f"{what}: only {reply['received']} of {reply['expected']} clients received the message")
    return float(reply["last"])


def ours(stack: StackProcess, swarm: Swarm, size: int) -> dict[str, Any]:
    """One push through SNS -> the Lambda's fan-out; seconds from the publish call to the last receipt."""
    from util.environments import LOCAL_ENV, Outputs
    from util.send_data import publish

    outputs = Outputs(LOCAL_ENV, stack.outputs, credentials=stack.credentials)
    marker = uuid.uuid4().hex
    swarm.call("arm", BASE_TIMEOUT_S, marker=marker)
    since_ms = time.time_ns() // 1_000_000
    cpu_before = stack.cpu_by_role()
    started = time.monotonic()
    publish(outputs, json.dumps({"bench": marker, "clients": size}), {})
    reply = swarm.call("collect", BASE_TIMEOUT_S + size * PER_RECIPIENT_TIMEOUT_S)
    stack_cpu = cpu_delta(cpu_before, stack.cpu_by_role())
    return {
        "seconds": _check(reply, f"fan-out to {size}") - started,
        "stack_cpu_s": sum(stack_cpu.values()),
        "stack_cpu_by_role_s": stack_cpu,
        "client_cpu_s": reply["cpu_s"],
        "duplicates": reply["duplicates"],
        **function_summary(stack, since_ms, size),
    }


def function_summary(stack: StackProcess, since_ms: int, size: int) -> dict[str, Any]:
    """What the function's own `fanout` log lines say (one per shard): posts, shards, the slowest shard's ms.

    Their `ms` counts posting only; the rest of the end-to-end time is SNS -> SQS -> invoke, listing the
    store and starting shards.
    """
    deadline = time.monotonic() + LOG_WAIT_S
    while True:
        records = stack.function_log_records(since_ms)
        fanouts = [r for r in records if r.get("message") == "fanout"]
        posted = sum(int(r.get("recipients", 0)) for r in fanouts)
        if posted >= size or time.monotonic() > deadline:
            break
        time.sleep(LOG_POLL_S)
    # One more shipping round: a post made twice would show as more posts than clients.
    time.sleep(SETTLE_S)
    records = stack.function_log_records(since_ms)
    fanouts = [r for r in records if r.get("message") == "fanout"]
    posted = sum(int(r.get("recipients", 0)) for r in fanouts)
    window_s = posting_window_s(fanouts)
    answered = posted - sum(int(r.get("unfinished", 0)) for r in fanouts)
    return {
        "function_posts": posted,
        "function_fanouts": len(fanouts),
        "function_slowest_fanout_ms": max((int(r.get("ms", 0)) for r in fanouts), default=None),
        "function_failed_posts": sum(int(r.get("failed", 0)) for r in fanouts),
        "function_unfinished_posts": sum(int(r.get("unfinished", 0)) for r in fanouts),
        "function_throttled": sum(int(r.get("throttled", 0)) for r in fanouts),
        "function_posting_window_s": window_s,
        "function_posts_per_s": answered / window_s if window_s else None,
        **segment_summary(records, fanouts),
    }


def segment_summary(records: list[dict[str, Any]], fanouts: list[dict[str, Any]]) -> dict[str, Any]:
    """How a broadcast to everyone was split (lambda_src/delivery/segments.py): the `segmented` line's segment count and
    estimate, the segments the `fanout` lines name, and how many invocations listed one (each its own)."""
    segmented = [r for r in records if r.get("message") == "segmented"]
    by_segment = [r for r in fanouts if "segment" in r]
    return {
        "function_segments": segmented[0].get("segments") if segmented else None,
        "function_estimated": segmented[0].get("estimated") if segmented else None,
        "function_segments_listed": sorted({int(r["segment"]) for r in by_segment}),
        "function_segment_listers": len({r.get("requestId") for r in by_segment}),
        "function_id_shards": sum(1 for r in records if r.get("message") == "sharded"),
    }


def posting_window_s(fanouts: list[dict[str, Any]]) -> float | None:
    """Seconds from the first invocation's first post to the last invocation's last answer.

    Each `fanout` line is logged when its posting ends (`timestamp`) and says how long it posted (`ms`).
    """
    spans = []
    for record in fanouts:
        try:
            ended = datetime.datetime.fromisoformat(str(record["timestamp"])).timestamp()
            spans.append((ended - int(record["ms"]) / 1000, ended))
        except (KeyError, TypeError, ValueError):
            return None
    if not spans:
        return None
    return max(end for _, end in spans) - min(start for start, _ in spans)


class Baseline:
    """The naive fan-out of the original projects: list the ids in the store, post one at a time with boto3."""

    def __init__(self, outputs: dict[str, str], credentials: LocalCredentials | None) -> None:
        import boto3

        if credentials is None:
            raise BenchError("the stack sent no credentials")
        session = boto3.session.Session(**credentials.client_kwargs(), region_name=outputs["region"])
        from util.local.aws.resources import store_for_outputs

        self._store = store_for_outputs(outputs, credentials)
        self._api = session.client("apigatewaymanagementapi", endpoint_url=outputs["connections_url"])

    def connection_ids(self) -> list[str]:
        return list(self._store.connection_ids())

    def post_all(self, data: bytes) -> int:
        posted = 0
        for connection_id in self.connection_ids():
            self._api.post_to_connection(ConnectionId=connection_id, Data=data)
            posted += 1
        return posted


def baseline(stack: StackProcess, swarm: Swarm, size: int, naive: Baseline) -> dict[str, Any]:
    marker = uuid.uuid4().hex
    swarm.call("arm", BASE_TIMEOUT_S, marker=marker)
    started = time.monotonic()
    posted = naive.post_all(json.dumps({"bench": marker, "clients": size}).encode())
    reply = swarm.call("collect", COLLECT_AFTER_BASELINE_S)
    return {"seconds": _check(reply, f"baseline to {size}") - started, "posted": posted}


def measure_ours(
    stack: StackProcess, swarm: Swarm, size: int, repeat: int, grow_concurrency: int = GROW_CONCURRENCY
) -> dict[str, Any]:
    grow(stack, swarm, size, grow_concurrency)
    ours(stack, swarm, size)  # warm-up: the workers' first fan-out opens their keep-alive connections
    runs = [ours(stack, swarm, size) for _ in range(repeat)]
    seconds = [run["seconds"] for run in runs]
    return {
        "runs_s": seconds,
        "median_s": statistics.median(seconds),
        "min_s": min(seconds),
        "max_s": max(seconds),
        "client_cpu_s": [run["client_cpu_s"] for run in runs],
        "duplicates": [run["duplicates"] for run in runs],
        "stack_cpu_s": [run["stack_cpu_s"] for run in runs],
        "stack_cpu_by_role_s": [run["stack_cpu_by_role_s"] for run in runs],
        "function": [{key: value for key, value in run.items() if key.startswith("function_")} for run in runs],
    }


def label(shard_size: int) -> str:
    return "one invocation" if shard_size == 0 else f"sharded {shard_size}"


def main() -> None:
    args = _arguments()
    raise_open_files_limit(max(args.sizes))
    rows: dict[int, dict[str, Any]] = {
        size: {"clients": size, "ours": {}, "baseline": None, "ratio": {}} for size in sorted(args.sizes)
    }
    for configuration, shard_size in enumerate(args.shard_sizes):
        environment = {"SHARD_SIZE": str(shard_size)}
        with StackProcess(
            latency_ms=args.latency_ms,
            workers=args.workers,
            function_environment=environment,
            connections_rate=args.connections_rate,
            store=args.store,
            # The benchmark repeats broadcasts from one sender as fast as it can: it measures delivery, not the
            # per-connection limit nor the fan-out budget, which stay in the path (a store read and a conditional
            # write per message each).
            message_rate_per_s=MAX_MESSAGE_RATE_PER_S,
            message_burst=MAX_MESSAGE_BURST,
            fanout_budget_per_s=MAX_FANOUT_BUDGET_PER_S,
        ) as stack:
            naive = Baseline(stack.outputs, stack.credentials)
            with Swarm() as swarm:
                for size, row in rows.items():
                    row["ours"][str(shard_size)] = measure_ours(stack, swarm, size, args.repeat, args.grow_concurrency)
                    wanted = args.connections_rate is None and (args.baseline_max is None or size <= args.baseline_max)
                    if configuration == 0 and wanted:
                        row["baseline"] = baseline(stack, swarm, size, naive)
                    _print_progress(row, shard_size)
    for row in rows.values():
        if row["baseline"] is not None:
            row["ratio"] = {key: row["baseline"]["seconds"] / run["median_s"] for key, run in row["ours"].items()}
    parameters = {key: value for key, value in vars(args).items() if key != "json"}
    path = write_json(args.json, "fanout", parameters, {"sizes": list(rows.values())})
    _print_tables(args, list(rows.values()))
    print(f"\nwrote {path}")


def _print_tables(args: argparse.Namespace, rows: list[dict[str, Any]]) -> None:
    keys = [str(shard_size) for shard_size in args.shard_sizes]
    print_table(
        f"fan-out, {args.latency_ms:g} ms per @connections post: publish -> last client's receipt (median seconds)",
        ["clients", "baseline", *(label(int(key)) for key in keys), *(f"baseline / {label(int(k))}" for k in keys)],
        [
            [
                row["clients"],
                fmt_s(row["baseline"]["seconds"]) if row["baseline"] else "skipped",
                *(fmt_s(row["ours"][key]["median_s"]) for key in keys),
                *(f"{row['ratio'][key]:.1f}x" if key in row["ratio"] else "-" for key in keys),
            ]
            for row in rows
        ],
    )
    print_table(
        "each configuration: min-max seconds; medians of the slowest invocation's posting ms, invocations, CPU",
        [
            "clients",
            "configuration",
            "min",
            "max",
            "posting ms",
            "invocations",
            "stack CPU s",
            *(f"{role} CPU ms/recipient" for role in ROLES),
        ],
        [
            [
                row["clients"],
                label(int(key)),
                fmt_s(row["ours"][key]["min_s"]),
                fmt_s(row["ours"][key]["max_s"]),
                _median_of(row["ours"][key], "function_slowest_fanout_ms"),
                _median_of(row["ours"][key], "function_fanouts"),
                fmt_s(statistics.median(row["ours"][key]["stack_cpu_s"])),
                *(_cpu_ms_per_recipient(row, key, role) for role in ROLES),
            ]
            for row in rows
            for key in keys
        ],
    )
    segmented = [(row, key) for row in rows for key in keys if _median_of(row["ours"][key], "function_segments") != "-"]
    if segmented:
        print_table(
            "broadcast to everyone split into segment shards (each run): segments, listing invocations, exactly once",
            ["clients", "configuration", "estimated", "segments", "listed by", "id shards", "posts", "duplicates"],
            [
                [
                    row["clients"],
                    label(int(key)),
                    "/".join(str(run["function_estimated"]) for run in row["ours"][key]["function"]),
                    "/".join(str(run["function_segments"]) for run in row["ours"][key]["function"]),
                    "/".join(str(run["function_segment_listers"]) for run in row["ours"][key]["function"]),
                    "/".join(str(run["function_id_shards"]) for run in row["ours"][key]["function"]),
                    "/".join(str(run["function_posts"]) for run in row["ours"][key]["function"]),
                    "/".join(str(d) for d in row["ours"][key]["duplicates"]),
                ]
                for row, key in segmented
            ],
        )
    if args.connections_rate is not None:
        limit = args.connections_rate
        print_table(
            f"pacing to --connections-rate {limit}/s (burst {limit // 2}): medians over the timed runs",
            ["clients", "configuration", "posting window s", "posts/s", "posts/s / limit", "429s", "failed"],
            [
                [
                    row["clients"],
                    label(int(key)),
                    _median_of(row["ours"][key], "function_posting_window_s", "{:.2f}"),
                    _median_of(row["ours"][key], "function_posts_per_s", "{:.0f}"),
                    _ratio_to(row["ours"][key], limit),
                    _median_of(row["ours"][key], "function_throttled"),
                    _median_of(row["ours"][key], "function_failed_posts"),
                ]
                for row in rows
                for key in keys
            ],
        )


def _ratio_to(ours: dict[str, Any], limit: int) -> str:
    values = [run["function_posts_per_s"] for run in ours["function"] if run.get("function_posts_per_s")]
    return f"{statistics.median(values) / limit:.0%}" if values else "-"


def _cpu_ms_per_recipient(row: dict[str, Any], key: str, role: str) -> str:
    seconds = statistics.median(split[role] for split in row["ours"][key]["stack_cpu_by_role_s"])
    return f"{seconds * 1000 / row['clients']:.3f}"


def _median_of(ours: dict[str, Any], key: str, form: str = "{:g}") -> str:
    values = [run[key] for run in ours["function"] if run.get(key) is not None]
    return form.format(statistics.median(values)) if values else "-"


def _print_progress(row: dict[str, Any], shard_size: int) -> None:
    # Progress while the long sizes run; the tables come at the end.
    baseline_s = row["baseline"]["seconds"] if row["baseline"] else None
    ours_s = row["ours"][str(shard_size)]["median_s"]
    line = f"{row['clients']} clients, {label(shard_size)}: {fmt_s(ours_s)} s (baseline {fmt_s(baseline_s)} s)"
    print(line, flush=True)


if __name__ == "__main__":
    run_main(main)
