"""Listing every connection of the store (what a broadcast to everyone starts with), per store and audience.

For each store (`s3`, `dynamodb`) and size, a fresh bucket or table in an embedded moto server is filled with
that many connection records (random API-Gateway-shaped ids), then listed through `ConnectionStore` exactly as
the function lists it: all at once, and as `--segments` segments one after another (each is what one shard
invocation would list; the slowest segment bounds a parallel listing). Reported per listing: wall seconds,
this process's CPU seconds per listed id, and store requests (boto3 API calls). Filling is not timed.

Usage: python -m bench.store_listing [--sizes 1000,10000,100000] [--stores s3,dynamodb] [--segments 10]
       [--json bench/results/store_listing.json]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lambda_src.store.contract import Connection, ConnectionStore
from lambda_src.store.open import StoreKind

if TYPE_CHECKING:
    from util.local.aws.resources import MotoEndpoint

from .report import BenchError, default_json_path, parse_sizes, positive_int, print_table, run_main, write_json

FILL_THREADS = 16
REGION = "us-east-1"


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--sizes", type=parse_sizes, default=[1000, 10_000, 100_000], help="connections stored")
    parser.add_argument("--stores", type=_stores, default=list(StoreKind), help="s3,dynamodb")
    parser.add_argument("--segments", type=positive_int, default=10, help="segments of the split listing")
    parser.add_argument("--json", type=Path, default=default_json_path("store_listing"))
    return parser.parse_args()


def _stores(text: str) -> list[str]:
    kinds = [part.strip() for part in text.split(",") if part.strip()]
    if not kinds or any(kind not in tuple(StoreKind) for kind in kinds):
        raise argparse.ArgumentTypeError(f"stores must be among {', '.join(StoreKind)}, not {text!r}")
    return kinds


class CountingStore:
    """A store on a fresh bucket or table of the embedded moto, counting the API calls its client makes."""

    def __init__(self, kind: str, name: str, moto: MotoEndpoint) -> None:
        import boto3

        from lambda_src.store.open import open_store
        from util.local.aws.resources import EndpointSession, create_connections_table

        self.requests = 0
        session = boto3.session.Session(**moto.credentials.client_kwargs(), region_name=moto.region)
        session.events.register("before-call", self._count)
        if kind == StoreKind.DYNAMODB:
            create_connections_table(moto.client("dynamodb"), name)
        else:
            moto.client("s3").create_bucket(Bucket=name)
        self.store: ConnectionStore = open_store(kind, name, EndpointSession(session, moto.url))

    def _count(self, **_: Any) -> None:
        self.requests += 1


def fill(store: ConnectionStore, size: int) -> None:
    from util.local.ids import gateway_id

    records = [Connection(gateway_id(), "bench", 1_700_000_000_000, "127.0.0.1") for _ in range(size)]
    with ThreadPoolExecutor(max_workers=FILL_THREADS) as pool:
        list(pool.map(store.add, records))


def timed(counting: CountingStore, listing: Callable[[], Iterator[str]]) -> dict[str, Any]:
    requests_before = counting.requests
    cpu_before, started = time.process_time(), time.perf_counter()
    listed = sum(1 for _ in listing())
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu_before
    return {
        "listed": listed,
        "seconds": round(seconds, 4),
        "cpu_ms_per_id": round(cpu * 1000 / max(listed, 1), 4),
        "requests": counting.requests - requests_before,
    }


def measure(kind: str, size: int, segments: int, moto: MotoEndpoint, number: int) -> dict[str, Any]:
    counting = CountingStore(kind, f"bench-listing-{kind}-{number}", moto)
    fill(counting.store, size)
    whole = timed(counting, counting.store.connection_ids)
    parts = [
        timed(counting, lambda segment=segment: counting.store.connection_ids(segment, segments))  # type: ignore[misc]
        for segment in range(segments)
    ]
    if whole["listed"] != size or sum(part["listed"] for part in parts) != size:
        raise BenchError(f"{kind}: listed {whole['listed']} (segments: {[p['listed'] for p in parts]}) of {size}")
    return {
        "store": kind,
        "connections": size,
        "whole": whole,
        "segments": segments,
        "segment_parts": parts,
        "slowest_segment_s": max(part["seconds"] for part in parts),
        "segment_requests": sum(part["requests"] for part in parts),
    }


def main() -> None:
    from util.local.aws.credentials import LocalCredentials
    from util.local.aws.resources import EmbeddedMoto, MotoEndpoint

    args = _arguments()
    credentials = LocalCredentials.generate()
    moto = EmbeddedMoto(credentials, REGION)
    endpoint = MotoEndpoint(moto.start(), REGION, credentials)
    rows: list[dict[str, Any]] = []
    try:
        for size in args.sizes:
            for kind in args.stores:
                rows.append(measure(kind, size, args.segments, endpoint, len(rows)))
                print(f"{kind} {size}: {rows[-1]['whole']['seconds']} s", flush=True)
    finally:
        moto.stop()
    parameters = {key: value for key, value in vars(args).items() if key != "json"}
    path = write_json(args.json, "store_listing", parameters, {"rows": rows})
    print_table(
        f"listing every connection through ConnectionStore (moto, one process); split: {args.segments} segments",
        ["store", "connections", "whole s", "requests", "CPU ms/id", "slowest segment s", "segment requests"],
        [
            [
                row["store"],
                row["connections"],
                f"{row['whole']['seconds']:.3f}",
                row["whole"]["requests"],
                f"{row['whole']['cpu_ms_per_id']:.4f}",
                f"{row['slowest_segment_s']:.3f}",
                row["segment_requests"],
            ]
            for row in rows
        ],
    )
    print(f"\nwrote {path}")


if __name__ == "__main__":
    run_main(main)
