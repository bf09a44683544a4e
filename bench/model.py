"""A model of one broadcast: time to the last recipient and AWS cost for N connections, with what dominates.

The broadcast is a pipeline: the trigger (SNS -> the function), the store's listing (pages of 1,000 keys), one
asynchronous invocation per full shard started as its page arrives, each shard posting its recipients with
`FANOUT_CONCURRENCY` posts in flight, all posts together under the account's `@connections` quota. The time to
the last recipient is the fixed trigger time plus the largest of four bounds:
- pipeline: the last shard's ids are listed, its invocation starts, it posts (per post the larger of
  latency / concurrency and the CPU per post over the function's CPU share);
- quota: (N - burst) / rate, all shards sharing the account's token bucket;
- concurrency: shards beyond Lambda's concurrent executions wait for a free one;
- platform CPU (the local stack only): every role of the stack (workers, gateway, moto) shares the machine's cores.

Parameters: measured here (CPU per post from bench.post_cpu, listing per key, invoke latency, the local stack's
CPU per recipient by role from bench.gateway) and AWS's (quotas, prices; `AWS_SOURCES`). `--validate FANOUT_JSON`
prints the local prediction next to what bench.fanout measured.

Usage: python -m bench.model [--sizes 1000,10000,100000,1000000] [--memory-mb 1769] [--shard-size 1000]
       [--concurrency 64] [--validate bench/results/fanout.json [--parameters bench/results/gateway.json]
       [--normalize]] [--json bench/results/model.json]
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from lambda_src.delivery.segments import SAMPLE_MIN_IDS, sample_segment_counts, segment_count
from lambda_src.store.s3 import LIST_PAGE_KEYS

from .report import BenchError, default_json_path, fmt_s, parse_sizes, positive_int, print_table, run_main, write_json

FULL_VCPU_MB = 1769
"""Lambda allocates CPU in proportion to memory; at 1,769 MB a function has one full vCPU (Lambda developer guide,
"Configuring Lambda function memory")."""

AWS_SOURCES = {
    "quotas": "https://docs.aws.amazon.com/apigateway/latest/developerguide/limits.html (account throttle 10,000 rps,"
    " burst 5,000, per Region, shared by @connections calls); "
    "https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html (1,000 concurrent executions)",
    "prices": "https://aws.amazon.com/api-gateway/pricing/ (WebSocket: $1.00 per million messages, first billion,"
    " 32 KB increments), https://aws.amazon.com/lambda/pricing/ (x86: $0.20 per million requests, $0.0000166667 per"
    " GB-second), https://aws.amazon.com/s3/pricing/ (LIST: $0.005 per 1,000 requests); us-east-1",
    "read": "2026-12-01 (figures as the pages and their summaries gave them that day; confirm before budgeting)",
}


@dataclass(frozen=True)
class Platform:
    """Where the broadcast runs: AWS, or the local stack on this machine."""

    name: str
    post_latency_s: float
    """One `@connections` call's round trip."""
    post_cpu_s: float
    """The function's CPU per post at one full vCPU (signing, HTTP, bookkeeping)."""
    list_cpu_per_key_s: float
    """The function's CPU per listed key (parsing the page)."""
    list_page_latency_s: float
    invoke_latency_s: float
    """From `Invoke(InvocationType=Event)` to the shard's handler running (warm)."""
    trigger_s: float
    """From the publish to the first invocation's handler running."""
    quota_rate_per_s: float | None
    quota_burst: float
    max_concurrency: int
    cpu_share: float | None = None
    """The function's share of a vCPU; None: from memory (AWS)."""
    platform_cores: float | None = None
    """The local stack only: cores shared by every role."""
    platform_cpu_per_recipient_s: float = 0.0
    """The local stack only: CPU of every role (workers, gateway, moto) per recipient."""
    gateway_cpu_per_post_s: float = 0.0
    """The local stack only: the gateway's CPU per `@connections` post. One event loop serves every post, so
    posting is a closed loop of the posts in flight through the 20 ms delay, the workers and this one server."""
    store_cpu_per_key_s: float = 0.0
    """The local stack only: moto's CPU per listed key (one process renders every page)."""


MEASURED_HERE = {
    "post_cpu_s": 0.000127,
    "list_cpu_per_key_s": 0.000036,
    "invoke_latency_s": 0.010,
    "local_trigger_s": 0.30,
    "local_cpu_per_recipient_s": 0.000722,
    "reference_loop_ms": 41.4,
    """The machine speed the CPU figures are given at (2026-11-29's loop); 2026-12-02's figures are scaled to it."""
    "source": "bench.gateway broadcast to 1,000 on 2026-12-02 03:49 UTC (stack CPU 677 ms: workers 153, gateway 317,"
    " moto 207; reference_loop_cpu_ms 38.8, scaled by 41.4 / 38.8): the function's CPU per post is the workers'"
    " 0.163 ms per recipient less the listing's 0.036; listing: services.py's figure (109 ms of CPU for 3,000 keys,"
    " 2026-11-29); trigger and invoke latency: the stack's SNS -> SQS poller and Invoke API (docs/benchmarks.md)",
}


PARAMETERS_REFERENCE_LOOP_MS = 41.4
"""`MEASURED_HERE["reference_loop_ms"]`, typed: the speed of the day the CPU figures were taken."""


def aws(memory_mb: int) -> Platform:
    return Platform(
        name="aws",
        post_latency_s=0.020,
        post_cpu_s=MEASURED_HERE["post_cpu_s"],  # type: ignore[arg-type]
        list_cpu_per_key_s=MEASURED_HERE["list_cpu_per_key_s"],  # type: ignore[arg-type]
        list_page_latency_s=0.050,
        invoke_latency_s=0.030,
        trigger_s=0.10,
        quota_rate_per_s=10_000.0,
        quota_burst=5_000.0,
        max_concurrency=1000,
        cpu_share=min(1.0, memory_mb / FULL_VCPU_MB),
    )


def local(
    connections_rate: float | None = None,
    workers: int = 4,
    cores: float = 2.0,
    slowdown: float = 1.0,
    measured: LocalCpu | None = None,
) -> Platform:
    """The local stack as bench.fanout runs it: 20 ms added per post, `workers` processes on `cores` cores.

    CPU figures come from `measured` (a bench.gateway run, `LocalCpu.from_gateway`) or else `MEASURED_HERE`;
    `slowdown` scales them: the run's `reference_loop_ms` over the one the figures were taken at.
    """
    cpu = measured or LocalCpu(
        post_cpu_s=MEASURED_HERE["post_cpu_s"],  # type: ignore[arg-type]
        cpu_per_recipient_s=MEASURED_HERE["local_cpu_per_recipient_s"],  # type: ignore[arg-type]
        source="MEASURED_HERE",
    )
    platform = Platform(
        name="local",
        post_latency_s=0.020,
        post_cpu_s=cpu.post_cpu_s * slowdown,
        list_cpu_per_key_s=MEASURED_HERE["list_cpu_per_key_s"] * slowdown,  # type: ignore[operator]
        list_page_latency_s=0.030,
        invoke_latency_s=MEASURED_HERE["invoke_latency_s"],  # type: ignore[arg-type]
        trigger_s=MEASURED_HERE["local_trigger_s"],  # type: ignore[arg-type]
        quota_rate_per_s=connections_rate,
        quota_burst=max(1.0, connections_rate / 2) if connections_rate else 0.0,
        max_concurrency=workers,
        cpu_share=1.0,
        platform_cores=cores,
        platform_cpu_per_recipient_s=cpu.cpu_per_recipient_s * slowdown,
        gateway_cpu_per_post_s=cpu.gateway_cpu_per_post_s * slowdown,
        store_cpu_per_key_s=cpu.store_cpu_per_key_s * slowdown,
    )
    return platform if cpu.trigger_s is None else replace(platform, trigger_s=cpu.trigger_s)


@dataclass(frozen=True)
class LocalCpu:
    """The local stack's CPU per recipient: the function's own (per post) and every role's together."""

    post_cpu_s: float
    """The Lambda workers' CPU per recipient, less the listing's share (the model counts the listing apart)."""
    cpu_per_recipient_s: float
    """Workers, gateway and moto together."""
    source: str
    gateway_cpu_per_post_s: float = 0.0
    store_cpu_per_key_s: float = 0.0
    trigger_s: float | None = None
    """From the publish to the frame at one client (SNS -> SQS -> the function -> one post), when measured."""

    @classmethod
    def from_gateway(cls, path: Path) -> LocalCpu:
        """From a bench.gateway run: its largest broadcast's stack CPU per recipient, by role."""
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
            row = max(document["results"]["broadcast"], key=lambda r: int(r["clients"]))
            clients = int(row["clients"])
            total_ms = float(row["stack_cpu_ms_per_broadcast"])
            by_role = row["stack_cpu_ms_per_broadcast_by_role"]
            workers_ms, gateway_ms, moto_ms = (float(by_role[role]) for role in ("workers", "gateway", "moto"))
            publish = document["results"].get("echo", {}).get("sns_publish")
            trigger_s = float(publish["median_s"]) if publish else None
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:
            raise BenchError(f"cannot read bench.gateway results from {path}: {type(error).__name__}") from None
        list_s = MEASURED_HERE["list_cpu_per_key_s"]
        return cls(
            post_cpu_s=max(0.0, workers_ms / 1000 / clients - list_s),  # type: ignore[operator]
            cpu_per_recipient_s=total_ms / 1000 / clients,
            source=f"{path} (broadcast to {clients}: {total_ms:.0f} ms of stack CPU: workers {workers_ms:.0f},"
            f" gateway {gateway_ms:.0f}, moto {moto_ms:.0f}; publish to one client"
            f" {'-' if trigger_s is None else f'{trigger_s * 1000:.0f} ms'})",
            # A broadcast's moto work is its listing (one page of `clients` keys) and a few small requests.
            gateway_cpu_per_post_s=gateway_ms / 1000 / clients,
            store_cpu_per_key_s=moto_ms / 1000 / clients,
            trigger_s=trigger_s,
        )


@dataclass(frozen=True)
class Settings:
    memory_mb: int = 1769
    shard_size: int = 1000
    concurrency: int = 64


def predict(n: int, settings: Settings, platform: Platform) -> dict[str, Any]:
    """Seconds to the last recipient (and the bound that set it) and the AWS cost of one broadcast to `n`.

    A broadcast to everyone larger than `SHARD_SIZE` goes out in segment shards (`lambda_src.delivery.segments`): the
    first invocation lists one page of `SHARD_SIZE` + 1 ids, estimates the audience from samples, and starts one
    invocation per segment, each listing and posting about `SEGMENT_FILL` x `SHARD_SIZE` ids of its own.
    """
    share = platform.cpu_share if platform.cpu_share is not None else min(1.0, settings.memory_mb / FULL_VCPU_MB)

    def page_s(keys: int) -> float:
        return platform.list_page_latency_s + keys * (
            platform.list_cpu_per_key_s / share + platform.store_cpu_per_key_s
        )

    def listing_of(ids: int) -> tuple[int, float]:
        pages = max(1, math.ceil(ids / LIST_PAGE_KEYS))
        return pages, (pages - 1) * page_s(LIST_PAGE_KEYS) + page_s(ids - (pages - 1) * LIST_PAGE_KEYS)

    segmented = settings.shard_size > 0 and n > settings.shard_size
    if segmented:
        shards = segment_count(n, settings.shard_size)
        shard = math.ceil(n / shards)
        sample_ids = _sample_sizes(n)
        handout_s = page_s(settings.shard_size + 1) + sum(page_s(ids) for ids in sample_ids)
        pages, segment_listing_s = listing_of(shard)
        pages = pages * shards + 1 + len(sample_ids)
        # One moto process renders every segment's pages (AWS lists them in parallel: store_cpu_per_key is 0).
        listing_s = handout_s + max(segment_listing_s, n * platform.store_cpu_per_key_s)
        invoke_s = platform.invoke_latency_s
    else:
        shards, shard = 1, n
        pages, listing_s = listing_of(n)
        segment_listing_s, invoke_s = 0.0, 0.0
    running = min(shards, platform.max_concurrency)
    if platform.gateway_cpu_per_post_s > 0:
        # The local stack: the running shards' posts in flight share one gateway (and a worker process each).
        throughput = closed_loop_throughput(
            running * settings.concurrency,
            platform.post_latency_s,
            [platform.gateway_cpu_per_post_s, *[platform.post_cpu_s / share / running] * running],
        )
        per_post_s = running / throughput
    else:
        per_post_s = max(platform.post_latency_s / settings.concurrency, platform.post_cpu_s / share)
    # Beyond the concurrency limit, shards queue in waves. A wave's segments list at once: in parallel on AWS,
    # one after another in the local stack's one moto process.
    waves = math.ceil(shards / platform.max_concurrency)
    wave_listing_s = segment_listing_s + (running - 1) * shard * platform.store_cpu_per_key_s if segmented else 0.0
    shard_posting_s = shard * per_post_s
    bounds = {
        "pipeline": listing_s + invoke_s + shard_posting_s,
        "concurrency": waves * (invoke_s + wave_listing_s + shard_posting_s),
        "quota": max(0.0, n - platform.quota_burst) / platform.quota_rate_per_s if platform.quota_rate_per_s else 0.0,
        "platform CPU": (
            n * platform.platform_cpu_per_recipient_s / platform.platform_cores if platform.platform_cores else 0.0
        ),
    }
    dominant = max(bounds, key=lambda name: bounds[name])
    seconds = platform.trigger_s + bounds[dominant]
    if dominant == "pipeline" and listing_s > shard_posting_s:
        dominant = "listing"  # the listing, not the posting, is most of the way to the last recipient
    # Shards are billed for their listing and posting; when the quota paces them, the ones running at once all
    # last as long.
    billed_s = max(shards * (segment_listing_s + shard_posting_s), running * bounds["quota"]) + listing_s
    gb_s = billed_s * settings.memory_mb / 1024
    cost = {
        "lambda_requests_usd": (shards + 1 if segmented else 1) * 0.20 / 1e6,
        "lambda_compute_usd": gb_s * 0.0000166667,
        "messages_usd": n * 1.00 / 1e6,
        "listing_usd": pages * 0.005 / 1000,
    }
    return {
        "clients": n,
        "seconds": seconds,
        "dominant": dominant,
        "bounds_s": bounds,
        "shards": shards,
        "listing_s": listing_s,
        "shard_posting_s": shard_posting_s,
        "cost_usd": cost,
        "total_usd": sum(cost.values()),
    }


def _sample_sizes(n: int) -> list[int]:
    """The ids each of the estimate's samples lists (`segments.estimate_connections`), for an audience of n."""
    sizes = []
    for segments in sample_segment_counts():
        sizes.append(n // segments)
        if sizes[-1] >= SAMPLE_MIN_IDS:
            break
    return sizes


def closed_loop_throughput(customers: int, delay_s: float, demands_s: list[float]) -> float:
    """Requests per second of `customers` requests in flight, each spending `delay_s` in a pure delay (the added
    latency) and `demands_s[i]` at single-server station i (the gateway's event loop, each worker's GIL).

    Exact mean value analysis of a closed product-form network (Reiser and Lavenberg, 1980): below saturation it
    is customers / (delay + demands), near it the queues at the busiest station, at it 1 / max(demands)."""
    queues = [0.0] * len(demands_s)
    throughput = 0.0
    for population in range(1, customers + 1):
        residence = [demand * (1 + queue) for demand, queue in zip(demands_s, queues, strict=True)]
        throughput = population / (delay_s + sum(residence))
        queues = [throughput * r for r in residence]
    return throughput


def recommend(n: int, platform: Platform) -> tuple[Settings, dict[str, Any]]:
    """The cheapest settings within 10% of the fastest, over a small grid of memory, shard size and concurrency."""
    grid = [
        Settings(memory_mb=memory, shard_size=shard, concurrency=concurrency)
        for memory in (512, 1024, 1769)
        for shard in (250, 500, 1000, 2000)
        for concurrency in (32, 64, 128)
    ]
    # Each setting's own memory sets its CPU share: a platform with a fixed share would give 512 MB a full vCPU
    # (the first recommendations did: 512 MB everywhere, its slower listing unseen).
    platform = replace(platform, cpu_share=None)
    predictions = [(s, predict(n, s, platform)) for s in grid]
    fastest = min(p["seconds"] for _, p in predictions)
    near = [(s, p) for s, p in predictions if p["seconds"] <= fastest * 1.1]
    return min(near, key=lambda item: (item[1]["total_usd"], item[1]["seconds"]))


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--sizes", type=parse_sizes, default=[1000, 10_000, 100_000, 1_000_000])
    parser.add_argument("--memory-mb", type=positive_int, default=1769)
    parser.add_argument("--shard-size", type=positive_int, default=1000)
    parser.add_argument("--concurrency", type=positive_int, default=64, help="FANOUT_CONCURRENCY")
    parser.add_argument("--validate", type=Path, default=None, help="a bench.fanout JSON to compare with")
    parser.add_argument(
        "--normalize",
        action="store_true",
        help="with --validate: scale the CPU figures by the run's reference_loop_ms over theirs",
    )
    parser.add_argument(
        "--parameters",
        type=Path,
        default=None,
        help="with --validate: the local stack's CPU per recipient from this bench.gateway JSON (run in the same"
        " window as the bench.fanout run), instead of MEASURED_HERE",
    )
    parser.add_argument("--json", type=Path, default=default_json_path("model"))
    return parser.parse_args()


def validate(path: Path, normalize: bool = False, parameters: Path | None = None) -> list[dict[str, Any]]:
    """The local stack's prediction next to bench.fanout's measured median, per size and shard size.

    `normalize` scales the CPU figures by the run's `reference_loop_ms` over theirs. One loop timed at the
    start of a run on a loaded machine is a noisy measure of the cores the run then got, so it is an option.
    `parameters` (a bench.gateway JSON) gives the CPU figures of the same window instead; then nothing is scaled.
    """
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
        run_parameters = document["parameters"]
        rows = document["results"]["sizes"]
        machine = document.get("machine", {})
        reference = float(machine.get("reference_loop_ms") or PARAMETERS_REFERENCE_LOOP_MS)
        cores = float(machine.get("nproc") or 2)
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:
        raise BenchError(f"cannot read bench.fanout results from {path}: {type(error).__name__}") from None
    cpu = LocalCpu.from_gateway(parameters) if parameters else None
    slowdown = reference / PARAMETERS_REFERENCE_LOOP_MS if normalize and cpu is None else 1.0
    # On a machine shared with other work a CPU second of the stack takes longer than a second: the run's own
    # reference loops, wall clock over CPU time, say by how much at its start (1.0 on an idle machine).
    cpu_loop = machine.get("reference_loop_cpu_ms")
    contention = max(1.0, reference / float(cpu_loop)) if cpu_loop else None
    workers = int(run_parameters.get("workers", 4))
    latency_s = float(run_parameters.get("latency_ms", 20.0)) / 1000
    platform = local(run_parameters.get("connections_rate"), workers, cores, slowdown, cpu)
    platform = replace(platform, post_latency_s=latency_s)
    contended = None
    if contention is not None:
        contended = local(run_parameters.get("connections_rate"), workers, cores, slowdown * contention, cpu)
        contended = replace(contended, post_latency_s=latency_s)
    compared = []
    for row in rows:
        for key, ours in row["ours"].items():
            settings = Settings(shard_size=int(key))
            predicted = predict(int(row["clients"]), settings, platform)
            measured = float(ours["median_s"])
            with_contention = predict(int(row["clients"]), settings, contended) if contended else None
            compared.append(
                {
                    "clients": row["clients"],
                    "shard_size": int(key),
                    "predicted_s": predicted["seconds"],
                    "measured_s": measured,
                    "error": predicted["seconds"] / measured - 1,
                    "dominant": predicted["dominant"],
                    "slowdown": slowdown,
                    "bounds_s": predicted["bounds_s"],
                    "cpu_source": cpu.source if cpu else "MEASURED_HERE",
                    "contention": contention,
                    "predicted_contended_s": with_contention["seconds"] if with_contention else None,
                    "error_contended": with_contention["seconds"] / measured - 1 if with_contention else None,
                    "measured_posting_s": _median_posting_s(ours),
                }
            )
    return compared


def _median_posting_s(ours: dict[str, Any]) -> float | None:
    # The slowest invocation's posting, from the function's own log lines (bench.fanout records it per run).
    values = [run.get("function_slowest_fanout_ms") for run in ours.get("function", [])]
    known = [float(value) / 1000 for value in values if value is not None]
    return statistics.median(known) if known else None


def main() -> None:
    args = _arguments()
    settings = Settings(memory_mb=args.memory_mb, shard_size=args.shard_size, concurrency=args.concurrency)
    platform = aws(args.memory_mb)
    predictions = [predict(n, settings, platform) for n in sorted(args.sizes)]
    recommended = []
    for n in sorted(args.sizes):
        best, prediction = recommend(n, aws(1769))
        recommended.append({"clients": n, "settings": asdict(best), "prediction": prediction})
    compared = validate(args.validate, args.normalize, args.parameters) if args.validate else []
    parameters = {
        **{key: value for key, value in vars(args).items() if key != "json"},
        "validate": str(args.validate) if args.validate else None,
        "parameters": str(args.parameters) if args.parameters else None,
        "aws": asdict(platform),
        "measured_here": MEASURED_HERE,
        "aws_sources": AWS_SOURCES,
    }
    path = write_json(
        args.json,
        "model",
        parameters,
        {"predictions": predictions, "recommended": recommended, "validation": compared},
    )
    print_table(
        f"AWS, {args.memory_mb} MB, SHARD_SIZE {args.shard_size}, FANOUT_CONCURRENCY {args.concurrency}: one broadcast",
        ["clients", "to last recipient", "dominant", "shards", "listing s", "shard posting s", "cost USD"],
        [
            [
                p["clients"],
                f"{fmt_s(p['seconds'])} s",
                p["dominant"],
                p["shards"],
                fmt_s(p["listing_s"]),
                fmt_s(p["shard_posting_s"]),
                f"{p['total_usd']:.6f}",
            ]
            for p in predictions
        ],
    )
    print_table(
        "recommended (cheapest within 10% of the fastest)",
        ["clients", "memory MB", "SHARD_SIZE", "FANOUT_CONCURRENCY", "to last recipient", "cost USD"],
        [
            [
                r["clients"],
                r["settings"]["memory_mb"],
                r["settings"]["shard_size"],
                r["settings"]["concurrency"],
                f"{fmt_s(r['prediction']['seconds'])} s",
                f"{r['prediction']['total_usd']:.6f}",
            ]
            for r in recommended
        ],
    )
    if compared:
        print_table(
            f"validation against {args.validate}: the local stack predicted vs measured",
            [
                "clients",
                "SHARD_SIZE",
                "predicted s",
                "measured s",
                "error",
                "dominant",
                "contention",
                "predicted, contended s",
                "error",
                "measured posting s",
            ],
            [
                [
                    c["clients"],
                    c["shard_size"],
                    fmt_s(c["predicted_s"]),
                    fmt_s(c["measured_s"]),
                    f"{c['error']:+.0%}",
                    c["dominant"],
                    f"{c['contention']:.2f}" if c["contention"] else "-",
                    fmt_s(c["predicted_contended_s"]),
                    f"{c['error_contended']:+.0%}" if c["error_contended"] is not None else "-",
                    fmt_s(c["measured_posting_s"]),
                ]
                for c in compared
            ],
        )
        print(f"median absolute error: {statistics.median(abs(c['error']) for c in compared):.0%}")
    print(f"\nwrote {path}")


if __name__ == "__main__":
    run_main(main)
