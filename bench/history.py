"""What room history costs: a room broadcast with history on and off, and one `history` read, per store.

For each store (`s3`, `dynamodb`) and room size, a fresh bucket or table in an embedded moto server gets a room of
that many members; then the real handler (`lambda_src.app.handle`, in this process) runs `--broadcasts` room
broadcasts with `HISTORY_SIZE` at its default and at 0 (off), and one `history` read of a full page after the
first broadcast's id. Reported per broadcast: wall milliseconds and store requests (boto3 API calls of the store's
client), and the same for the read. Posts go to a poster that accepts each at once (counted, not sent): the
posts are the same with history on or off, so the difference is the history write alone.

Usage: python -m bench.history [--sizes 10,100] [--stores s3,dynamodb] [--broadcasts 20]
       [--json bench/results/history.json]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from lambda_src.aws.posting import DELIVERED, PostResult
from lambda_src.config import DEFAULT_HISTORY_PAGE_LIMIT, DEFAULT_HISTORY_SIZE, Config
from lambda_src.store.contract import Connection
from lambda_src.store.open import StoreKind

from .report import BenchError, default_json_path, parse_sizes, positive_int, print_table, run_main, write_json
from .store_listing import FILL_THREADS, REGION, CountingStore, _stores

ROOM = "bench"
SENDER = "sender="


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--sizes", type=parse_sizes, default=[10, 100], help="members of the room")
    parser.add_argument("--stores", type=_stores, default=list(StoreKind), help="s3,dynamodb")
    parser.add_argument("--broadcasts", type=positive_int, default=20, help="room broadcasts timed per setting")
    parser.add_argument("--json", type=Path, default=default_json_path("history"))
    return parser.parse_args()


class CountingPoster:
    """Accepts every post at once and counts them: the fan-out's work, without a network."""

    def __init__(self) -> None:
        self.posts = 0

    def post(self, connection_id: str, data: bytes) -> PostResult:
        self.posts += 1
        return DELIVERED


@dataclass
class Context:
    aws_request_id: str = "bench-history"
    function_name: str = "wspush-bench-handler"


def message_event(body: dict[str, Any]) -> dict[str, Any]:
    return {
        "requestContext": {
            "routeKey": body["action"],
            "eventType": "MESSAGE",
            "connectionId": SENDER,
            "requestId": "bench",
            "messageId": "m",
            "requestTimeEpoch": int(time.time() * 1000),
        },
        "body": json.dumps(body),
        "isBase64Encoded": False,
    }


def quiet() -> contextlib.AbstractContextManager[Any]:
    """The handler's log and metric lines (stdout) kept out of the benchmark's output."""
    return contextlib.redirect_stdout(io.StringIO())


def fill_room(counting: CountingStore, size: int) -> None:
    from util.local.ids import gateway_id

    def add(connection_id: str) -> None:
        record = Connection(connection_id, "bench", 1_700_000_000_000, "127.0.0.1")
        counting.store.add(record)
        counting.store.join(record, ROOM)

    with ThreadPoolExecutor(max_workers=FILL_THREADS) as pool:
        list(pool.map(add, [SENDER] + [gateway_id() for _ in range(size - 1)]))


def run_broadcasts(counting: CountingStore, history_size: int, broadcasts: int) -> dict[str, Any]:
    from lambda_src.app import handle
    from lambda_src.delivery.pool import fanout_pool
    from lambda_src.services import Services

    poster = CountingPoster()
    config = replace(
        Config(connections_bucket="bench", connections_url="http://127.0.0.1:1"), history_size=history_size
    )
    services = Services(config=config, store=counting.store, poster=poster, executor=fanout_pool(16))
    times, requests = [], []
    try:
        for n in range(broadcasts):
            before = counting.requests
            started = time.perf_counter()
            with quiet():
                result = handle(message_event({"action": "broadcast", "room": ROOM, "message": n}), Context(), services)
            times.append(time.perf_counter() - started)
            requests.append(counting.requests - before)
            if result != {"statusCode": 200}:
                raise BenchError(f"a broadcast failed: {result}")
        read = _timed_read(counting, services, handle) if history_size else None
    finally:
        services.executor.shutdown(wait=True)
    return {
        "history_size": history_size,
        "median_ms": round(statistics.median(times) * 1000, 2),
        "mean_ms": round(statistics.fmean(times) * 1000, 2),
        "store_requests_per_broadcast": statistics.fmean(requests),
        "posts": poster.posts,
        "read": read,
    }


def _timed_read(counting: CountingStore, services: Any, handle: Any) -> dict[str, Any]:
    # The first message's id, as a client that saw only it would send back; the read answers the rest.
    entries, _ = counting.store.history(ROOM, "", 1, DEFAULT_HISTORY_SIZE)
    before = counting.requests
    started = time.perf_counter()
    body = {"action": "history", "room": ROOM, "after": entries[0].message_id, "limit": DEFAULT_HISTORY_PAGE_LIMIT}
    with quiet():
        handle(message_event(body), Context(), services)
    return {"ms": round((time.perf_counter() - started) * 1000, 2), "store_requests": counting.requests - before}


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
                settings = []
                for history_size in (DEFAULT_HISTORY_SIZE, 0):
                    counting = CountingStore(kind, f"bench-history-{kind}-{len(rows)}-{history_size}", endpoint)
                    fill_room(counting, size)
                    settings.append(run_broadcasts(counting, history_size, args.broadcasts))
                rows.append({"store": kind, "members": size, "on": settings[0], "off": settings[1]})
                print(f"{kind} {size}: on {settings[0]['median_ms']} ms, off {settings[1]['median_ms']} ms", flush=True)
    finally:
        moto.stop()
    parameters = {key: value for key, value in vars(args).items() if key != "json"}
    path = write_json(args.json, "history", parameters, {"rows": rows})
    print_table(
        f"room broadcast with history on ({DEFAULT_HISTORY_SIZE}) and off (moto, one process, posts not sent); "
        f"{args.broadcasts} broadcasts each",
        ["store", "members", "on ms", "off ms", "on requests", "off requests", "read ms", "read requests"],
        [
            [
                row["store"],
                row["members"],
                f"{row['on']['median_ms']:.1f}",
                f"{row['off']['median_ms']:.1f}",
                f"{row['on']['store_requests_per_broadcast']:.1f}",
                f"{row['off']['store_requests_per_broadcast']:.1f}",
                f"{row['on']['read']['ms']:.1f}",
                row["on"]["read"]["store_requests"],
            ]
            for row in rows
        ],
    )
    print(f"\nwrote {path}")


if __name__ == "__main__":
    run_main(main)
