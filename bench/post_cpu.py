"""CPU per `@connections` post: boto3's `post_to_connection` (before) against the Lambda's `SignedPoster` (after).

The endpoint runs in its own process (bench/post_server.py) so only the client's CPU is counted. A third row is
the function's whole fan-out (`fanout.fan_out` with `SignedPoster` on the `FANOUT_CONCURRENCY` pool: pacing,
deadline checks, the summary), per recipient.
Usage: python -m bench.post_cpu [--posts 3000] [--threads 32] [--json bench/results/post_cpu.json]
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from .report import BenchError, default_json_path, positive_int, print_table, run_main, write_json

FRAME = b'{"type":"message","message":"hello","from":{"connectionId":"abc","name":"ada"},"sentAt":1}'
WARMUP_POSTS = 200


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _measure(post: Callable[[str], bool], posts: int, threads: int) -> dict[str, float]:
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(post, (f"warm-{i}" for i in range(WARMUP_POSTS))))
        started_wall, started_cpu = time.perf_counter(), time.process_time()
        results = list(pool.map(post, (f"conn-{i}" for i in range(posts))))
        wall, cpu = time.perf_counter() - started_wall, time.process_time() - started_cpu
    if not all(results):
        raise BenchError(f"{results.count(False)} of {posts} posts failed")
    return {"cpu_ms_per_post": cpu / posts * 1000, "posts_per_s": posts / wall}


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--posts", type=positive_int, default=3000, help="timed posts per client")
    parser.add_argument("--threads", type=positive_int, default=32, help="posting threads, as a fan-out has")
    parser.add_argument("--json", type=Path, default=default_json_path("post_cpu"))
    args = parser.parse_args()

    os.environ.setdefault("AWS_ACCESS_KEY_ID", "bench")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "bench")
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, str(Path(__file__).with_name("post_server.py")), str(port)], stderr=subprocess.DEVNULL
    )
    url = f"http://127.0.0.1:{port}/bench"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                urllib.request.urlopen(urllib.request.Request(f"{url}/@connections/x", data=b"", method="POST"))
                break
            except OSError as error:
                if time.monotonic() > deadline:
                    raise BenchError(f"the bench endpoint did not start: {error}") from None
                time.sleep(0.1)
        results = {
            "boto3 post_to_connection": _boto3(url, args),
            "SignedPoster": _signed(url, args),
            "fan_out": _fan_out(url, args),
        }
    finally:
        server.terminate()
        server.wait(timeout=10)

    ratio = results["boto3 post_to_connection"]["cpu_ms_per_post"] / results["SignedPoster"]["cpu_ms_per_post"]
    path = write_json(
        args.json, "post_cpu", {"posts": args.posts, "threads": args.threads}, {**results, "boto3_over_signed": ratio}
    )
    print_table(
        f"CPU per @connections post ({args.posts} posts on {args.threads} threads; fan_out: on its own pool)",
        ["client", "CPU ms per post", "posts per second"],
        [[name, f"{row['cpu_ms_per_post']:.3f}", f"{row['posts_per_s']:.0f}"] for name, row in results.items()],
    )
    print(f"CPU per post, boto3 / SignedPoster: {ratio:.1f}x")
    print(f"\nwrote {path}")


def _boto3(url: str, args: argparse.Namespace) -> dict[str, float]:
    import boto3
    from botocore.config import Config

    client = boto3.client(
        "apigatewaymanagementapi",
        endpoint_url=url,
        config=Config(retries={"mode": "standard"}, max_pool_connections=args.threads),
    )

    def post(connection_id: str) -> bool:
        client.post_to_connection(ConnectionId=connection_id, Data=FRAME)
        return True

    return _measure(post, args.posts, args.threads)


def _signed(url: str, args: argparse.Namespace) -> dict[str, float]:
    import boto3

    from lambda_src.aws.management_api import SignedPoster
    from lambda_src.aws.posting import Outcome

    credentials = boto3.Session().get_credentials()
    assert credentials is not None
    poster = SignedPoster(url, credentials, "us-east-1")
    return _measure(lambda cid: poster.post(cid, FRAME).outcome is Outcome.DELIVERED, args.posts, args.threads)


def _fan_out(url: str, args: argparse.Namespace) -> dict[str, float]:
    import logging

    import boto3

    from lambda_src.aws.management_api import SignedPoster
    from lambda_src.config import DEFAULT_FANOUT_CONCURRENCY
    from lambda_src.delivery.fanout import fan_out
    from lambda_src.delivery.plan import Sender
    from lambda_src.delivery.pool import fanout_pool

    class NoStore:
        def remove(self, connection_ids: list[str], room: str | None = None) -> None:
            raise BenchError("the bench endpoint answered 410: nothing is gone there")

    credentials = boto3.Session().get_credentials()
    assert credentials is not None
    poster = SignedPoster(url, credentials, "us-east-1")
    logger = logging.getLogger("bench.post_cpu")
    logger.addHandler(logging.NullHandler())
    logger.propagate = False
    pool = fanout_pool(DEFAULT_FANOUT_CONCURRENCY)

    def run(ids: list[str]) -> None:
        summary = fan_out(
            ids,
            FRAME,
            Sender(poster, pool, NoStore(), logger),  # type: ignore[arg-type]
        )
        if summary.delivered != len(ids):
            raise BenchError(f"fan_out delivered {summary.delivered} of {len(ids)}")

    try:
        run([f"warm-{i}" for i in range(WARMUP_POSTS)])
        started_wall, started_cpu = time.perf_counter(), time.process_time()
        run([f"conn-{i}" for i in range(args.posts)])
        wall, cpu = time.perf_counter() - started_wall, time.process_time() - started_cpu
    finally:
        pool.shutdown()
    return {"cpu_ms_per_post": cpu / args.posts * 1000, "posts_per_s": args.posts / wall}


if __name__ == "__main__":
    run_main(main)
