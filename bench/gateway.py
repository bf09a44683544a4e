"""The local stack's capacity: concurrent connects, broadcast latency, `@connections` round trips, idle memory.

The stack runs in a child process (`bench.stack_process`, 4 warm workers unless `--workers`), the clients in
another (`bench.swarm`); no latency is injected. Measures, in this order, on one stack:
0. warm-up: 4 concurrent connects per worker, so each worker has made its boto3 clients (untimed).
1. concurrent connects: N handshakes started at once (each runs `$connect`, which stores the connection in S3);
   failures counted, rate = opened / seconds until the last handshake completed; the CPU time the stack (process
   and workers) used, per connect. Closed again, and the store empty, before the next.
2. `@connections` echo, one client: POST a frame to its own `@connections/<id>` (SigV4-signed, keep-alive: the
   Lambda's own `SignedPoster`) and wait for it on the WebSocket, in sequence. Also the round trip through the
   Lambda: send `{"action":"whoami"}`, wait for the reply the handler posts back. And a push's fixed cost: with
   one client connected, publish to the SNS topic (`util send-data`'s path) and wait for the frame.
3. broadcast latency: one client sends `{"action":"broadcast"}`; seconds from its send to the last of N clients'
   receipt (the sender included: echo is on). Median over `--repeat`.
4. idle memory: resident memory of the stack process and its workers with `--idle` connections open.

Usage: python -m bench.gateway [--connects 500,5000] [--broadcast-sizes 100,1000] [--idle 10000]
       [--echo-round-trips 2000] [--repeat 5] [--workers 4] [--json bench/results/gateway.json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
import uuid
from pathlib import Path
from typing import Any

from lambda_src.config import MAX_FANOUT_BUDGET_PER_S, MAX_MESSAGE_BURST, MAX_MESSAGE_RATE_PER_S

from .children import raise_open_files_limit
from .report import (
    BenchError,
    default_json_path,
    fmt_ms,
    parse_sizes,
    positive_int,
    print_table,
    run_main,
    write_json,
)
from .stack_process import ROLES, StackProcess, cpu_delta
from .swarm import Swarm, grow

"""Handshakes in flight while growing the audience for broadcast and memory (not a measure itself)."""
SETTLE_TIMEOUT_S = 300.0
"""Waiting for thousands of `$disconnect`s to empty the store."""
IDLE_SETTLE_S = 2.0
BROADCAST_TIMEOUT_S = 30.0
CONNECT_TIMEOUT_S = 120.0
MB = 1024 * 1024


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--connects", type=parse_sizes, default=[500, 5000], help="concurrent connects, e.g. 500,5000")
    parser.add_argument("--broadcast-sizes", type=parse_sizes, default=[100, 1000], help="broadcast audiences")
    parser.add_argument("--idle", type=positive_int, default=10_000, help="idle connections for the memory figure")
    parser.add_argument("--echo-round-trips", type=positive_int, default=2000, help="@connections round trips to time")
    parser.add_argument("--lambda-round-trips", type=positive_int, default=200, help="whoami round trips to time")
    parser.add_argument(
        "--publish-round-trips", type=positive_int, default=10, help="SNS publish -> one client, in sequence"
    )
    parser.add_argument("--repeat", type=positive_int, default=5, help="broadcasts per audience size")
    parser.add_argument("--workers", type=positive_int, default=4, help="warm Lambda workers of the stack")
    parser.add_argument("--json", type=Path, default=default_json_path("gateway"))
    return parser.parse_args()


def warm_up(stack: StackProcess, swarm: Swarm, workers: int) -> None:
    """A few concurrent connects first, so that every worker has made its boto3 clients (its first invocation's
    cost, a cold start that AWS also charges once per execution environment) before anything is timed."""
    swarm.call("connect", CONNECT_TIMEOUT_S, url=stack.outputs["websocket_url"], count=workers * 4, concurrency=0)
    swarm.call("close_all", CONNECT_TIMEOUT_S)
    stack.wait_for_stored(0, SETTLE_TIMEOUT_S)


def measure_connects(stack: StackProcess, swarm: Swarm, count: int) -> dict[str, Any]:
    cpu_before = stack.cpu_by_role()
    reply = swarm.call("connect", CONNECT_TIMEOUT_S, url=stack.outputs["websocket_url"], count=count, concurrency=0)
    stack_cpu = cpu_delta(cpu_before, stack.cpu_by_role())
    result = {
        "clients": count,
        "opened": reply["opened"],
        "failed": reply["failed"],
        "errors": reply["errors"],
        "seconds": reply["seconds"],
        "per_s": reply["opened"] / reply["seconds"] if reply["seconds"] else None,
        "client_cpu_s": reply["cpu_s"],
        "stack_cpu_ms_per_connect": sum(stack_cpu.values()) * 1000 / count,
        "stack_cpu_ms_per_connect_by_role": {role: cpu * 1000 / count for role, cpu in stack_cpu.items()},
    }
    swarm.call("close_all", CONNECT_TIMEOUT_S)
    result["disconnect_settle_s"] = stack.wait_for_stored(0, SETTLE_TIMEOUT_S)
    return result


def measure_echo(
    stack: StackProcess, swarm: Swarm, round_trips: int, lambda_round_trips: int, publish_round_trips: int
) -> dict[str, Any]:
    url = stack.outputs["websocket_url"]
    direct = swarm.call(
        "echo_connections",
        120.0,
        url=url,
        connections_url=stack.outputs["connections_url"],
        credentials=stack.credentials.to_state() if stack.credentials else None,
        count=round_trips,
    )
    through_lambda = swarm.call("echo_lambda", 120.0, url=url, count=lambda_round_trips)
    stack.wait_for_stored(0, SETTLE_TIMEOUT_S)
    published = measure_publish(stack, swarm, publish_round_trips)
    return {
        "sns_publish": published,
        "connections_post": {
            "round_trips": direct["round_trips"],
            "failed": direct["failed"],
            "seconds": direct["seconds"],
            "per_s": direct["round_trips"] / direct["seconds"],
        },
        "lambda_whoami": {
            "round_trips": through_lambda["round_trips"],
            "seconds": through_lambda["seconds"],
            "per_s": through_lambda["round_trips"] / through_lambda["seconds"],
        },
    }


def measure_publish(stack: StackProcess, swarm: Swarm, round_trips: int) -> dict[str, Any]:
    """`util send-data`'s path to one client, in sequence: SNS publish -> SQS -> the function -> one post.

    The fixed cost of every pushed broadcast (`bench.model` calls it the trigger): the audience is one client, so
    the listing and posting add a single key and post."""
    from util.environments import LOCAL_ENV, Outputs
    from util.send_data import publish

    outputs = Outputs(LOCAL_ENV, stack.outputs, credentials=stack.credentials)
    grow(stack, swarm, 1)
    runs = []
    for _ in range(round_trips):
        marker = uuid.uuid4().hex
        swarm.call("arm", BROADCAST_TIMEOUT_S, marker=marker)
        started = time.monotonic()
        publish(outputs, json.dumps({"bench": marker}), {})
        reply = swarm.call("collect", BROADCAST_TIMEOUT_S)
        if reply["received"] < 1:
            raise BenchError("a publish did not reach the one client")
        runs.append(float(reply["last"]) - started)
    swarm.call("close_all", CONNECT_TIMEOUT_S)
    stack.wait_for_stored(0, SETTLE_TIMEOUT_S)
    return {"round_trips": round_trips, "runs_s": runs, "median_s": statistics.median(runs)}


def measure_broadcast(stack: StackProcess, swarm: Swarm, size: int, repeat: int) -> dict[str, Any]:
    grow(stack, swarm, size)
    runs = []
    cpu_before = stack.cpu_by_role()
    for _ in range(repeat):
        reply = swarm.call("broadcast", BROADCAST_TIMEOUT_S, marker=uuid.uuid4().hex)
        if reply["received"] < reply["expected"]:
            raise BenchError(f"broadcast to {size}: only {reply['received']} of {reply['expected']} received it")
        runs.append(reply["seconds"])
    stack_cpu = cpu_delta(cpu_before, stack.cpu_by_role())
    return {
        "stack_cpu_ms_per_broadcast": sum(stack_cpu.values()) * 1000 / repeat,
        "stack_cpu_ms_per_broadcast_by_role": {role: cpu * 1000 / repeat for role, cpu in stack_cpu.items()},
        "clients": size,
        "runs_s": runs,
        "median_s": statistics.median(runs),
        "max_s": max(runs),
        "min_s": min(runs),
    }


def measure_idle_memory(stack: StackProcess, swarm: Swarm, idle: int, rss_empty: int) -> dict[str, Any]:
    grow(stack, swarm, idle)
    time.sleep(IDLE_SETTLE_S)
    rss = stack.rss_bytes()
    return {
        "connections": idle,
        "stack_rss_mb": rss / MB,
        "stack_rss_before_mb": rss_empty / MB,
        "per_connection_kb": (rss - rss_empty) / idle / 1024 if idle else None,
        "processes": stack.process_count(),
        "client_process_rss_mb": _client_rss(swarm) / MB,
    }


def _client_rss(swarm: Swarm) -> int:
    from .children import rss_bytes

    return rss_bytes([swarm.pid])


def main() -> None:
    args = _arguments()
    if args.idle < max(args.broadcast_sizes):
        # The idle phase opens connections on top of the broadcast's audience; it never closes any.
        raise BenchError(
            f"--idle ({args.idle}) must be at least the largest --broadcast-sizes ({max(args.broadcast_sizes)})"
        )
    raise_open_files_limit(max([args.idle, *args.connects, *args.broadcast_sizes]))
    results: dict[str, Any] = {"connects": [], "broadcast": []}
    # The echo round trips and repeated broadcasts come from one connection as fast as it can send: the benchmark
    # measures the stack, not the per-connection limit or the fan-out budget, which stay in the path at their highest.
    limits = {
        "message_rate_per_s": MAX_MESSAGE_RATE_PER_S,
        "message_burst": MAX_MESSAGE_BURST,
        "fanout_budget_per_s": MAX_FANOUT_BUDGET_PER_S,
    }
    with StackProcess(workers=args.workers, **limits) as stack, Swarm() as swarm:
        rss_empty = stack.rss_bytes()
        warm_up(stack, swarm, args.workers)
        for count in args.connects:
            results["connects"].append(measure_connects(stack, swarm, count))
            _progress(f"{count} concurrent connects: {results['connects'][-1]['per_s']:.0f} per second")
        results["echo"] = measure_echo(
            stack, swarm, args.echo_round_trips, args.lambda_round_trips, args.publish_round_trips
        )
        _progress(f"@connections echo: {results['echo']['connections_post']['per_s']:.0f} round trips per second")
        for size in sorted(args.broadcast_sizes):
            results["broadcast"].append(measure_broadcast(stack, swarm, size, args.repeat))
            _progress(f"broadcast to {size}: median {fmt_ms(results['broadcast'][-1]['median_s'])} ms")
        results["idle_memory"] = measure_idle_memory(stack, swarm, args.idle, rss_empty)
        _progress(f"{args.idle} idle connections: {results['idle_memory']['stack_rss_mb']:.0f} MB resident")
        # Written before the stack stops: stopping runs a `$disconnect` for every client, which takes a while.
        parameters = {key: value for key, value in vars(args).items() if key != "json"}
        path = write_json(args.json, "gateway", {**parameters, "latency_ms": 0}, results)
    _print(results)
    print(f"\nwrote {path}")


def _progress(line: str) -> None:
    # The long phases take minutes: say where the run is; the tables come at the end.
    print(line, flush=True)


def _split(by_role: dict[str, float]) -> str:
    return "/".join(f"{by_role[role]:.1f}" for role in ROLES)


def _print(results: dict[str, Any]) -> None:
    print_table(
        "concurrent connects (all started at once)",
        ["clients", "opened", "failed", "seconds", "per second", "stack CPU ms each", "workers/gateway/moto"],
        [
            [
                r["clients"],
                r["opened"],
                r["failed"],
                f"{r['seconds']:.2f}",
                f"{r['per_s']:.0f}",
                f"{r['stack_cpu_ms_per_connect']:.1f}",
                _split(r["stack_cpu_ms_per_connect_by_role"]),
            ]
            for r in results["connects"]
        ],
    )
    echo = results["echo"]
    print_table(
        "round trips, one client, in sequence",
        ["path", "round trips", "per second", "ms each"],
        [
            [
                name,
                row["round_trips"],
                f"{row['per_s']:.0f}",
                f"{1000 / row['per_s']:.2f}",
            ]
            for name, row in (
                ("POST @connections -> frame", echo["connections_post"]),
                ("whoami -> Lambda -> frame", echo["lambda_whoami"]),
            )
        ]
        + [
            [
                "publish -> SNS -> Lambda -> frame (median)",
                echo["sns_publish"]["round_trips"],
                f"{1 / echo['sns_publish']['median_s']:.0f}",
                f"{echo['sns_publish']['median_s'] * 1000:.2f}",
            ]
        ],
    )
    print_table(
        "broadcast: sender's send -> last client's receipt",
        ["clients", "median ms", "min ms", "max ms", "stack CPU ms each", "workers/gateway/moto"],
        [
            [
                r["clients"],
                fmt_ms(r["median_s"]),
                fmt_ms(r["min_s"]),
                fmt_ms(r["max_s"]),
                f"{r['stack_cpu_ms_per_broadcast']:.1f}",
                _split(r["stack_cpu_ms_per_broadcast_by_role"]),
            ]
            for r in results["broadcast"]
        ],
    )
    memory = results["idle_memory"]
    print_table(
        "idle connections: resident memory of the stack (process, embedded moto, Lambda workers)",
        ["connections", "RSS MB", "RSS before MB", "KB per connection"],
        [
            [
                memory["connections"],
                f"{memory['stack_rss_mb']:.0f}",
                f"{memory['stack_rss_before_mb']:.0f}",
                f"{memory['per_connection_kb']:.1f}" if memory["per_connection_kb"] is not None else "-",
            ]
        ],
    )


if __name__ == "__main__":
    run_main(main)
