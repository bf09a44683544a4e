"""The fan-out's pacer against the stack's own token bucket, with real threads and no stack: shares and 429s.

Each shard is one `lambda_src.delivery.pacing.QuotaPacer` shared by `--lanes` threads (the function's lanes); a post
waits `--latency-ms` (as the stack's `--latency-ms` does, before the bucket is asked) and is then accepted or
answered 429 by one `util.local.gateway.throttle.TokenBucket.for_rate` (API Gateway's shape: burst = rate / 2) shared
by every shard. Shards start `--stagger-ms` apart, as segment invocations do while the store is listed. A
throttled post goes again, as `fanout._post_paced` does, until accepted.

"of the limit" is accepted posts over the window from the first answer to the last, against the rate: the
bucket's burst counts, so a pacer that keeps the bucket busy reads a little above 100%.

Usage: python -m bench.pacing [--scenarios 1000:5000:500,400:2000:500] [--lanes 64] [--latency-ms 20]
       [--stagger-ms 150] [--json bench/results/pacing.json]
"""

from __future__ import annotations

import argparse
import itertools
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lambda_src.delivery.pacing import QuotaPacer
from util.local.gateway.throttle import TokenBucket

from .report import BenchError, default_json_path, positive_int, print_table, run_main, write_json


@dataclass(frozen=True)
class Scenario:
    rate_per_s: int
    posts: int
    shard_size: int

    @property
    def shards(self) -> int:
        return -(-self.posts // self.shard_size)


def parse_scenarios(text: str) -> list[Scenario]:
    """`RATE:POSTS:SHARD_SIZE[,...]`, e.g. `1000:5000:500`."""
    scenarios = []
    for part in text.split(","):
        try:
            rate, posts, shard = (int(value) for value in part.split(":"))
        except ValueError:
            raise argparse.ArgumentTypeError(f"not RATE:POSTS:SHARD_SIZE: {part!r}") from None
        if min(rate, posts, shard) <= 0:
            raise argparse.ArgumentTypeError(f"every figure must be positive: {part!r}")
        scenarios.append(Scenario(rate, posts, shard))
    return scenarios


class _Answers:
    """The shared bucket, and what it answered."""

    def __init__(self, rate_per_s: int) -> None:
        self._bucket = TokenBucket.for_rate(rate_per_s)
        self._lock = threading.Lock()
        self.first: float | None = None
        self.last = 0.0
        self.accepted = 0
        self.throttled = 0

    def post(self) -> bool:
        with self._lock:
            accepted = self._bucket.take()
            now = time.monotonic()
            self.first = now if self.first is None else self.first
            if accepted:
                self.accepted += 1
                self.last = now
            else:
                self.throttled += 1
            return accepted


def run(scenario: Scenario, lanes: int, latency_s: float, stagger_s: float) -> dict[str, Any]:
    answers = _Answers(scenario.rate_per_s)
    started = time.monotonic()

    def shard(index: int, size: int) -> None:
        time.sleep(index * stagger_s)
        pacer = QuotaPacer()
        taken = itertools.count()

        def lane() -> None:
            while next(taken) < size:  # each recipient to one lane
                while True:
                    pacer.wait()
                    time.sleep(latency_s)
                    if answers.post():
                        pacer.on_accepted()
                        break
                    pacer.on_throttled()

        threads = [threading.Thread(target=lane) for _ in range(min(lanes, size))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    sizes = [min(scenario.shard_size, scenario.posts - i * scenario.shard_size) for i in range(scenario.shards)]
    threads = [threading.Thread(target=shard, args=(i, size)) for i, size in enumerate(sizes)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if answers.accepted != scenario.posts or answers.first is None:
        raise BenchError(f"{answers.accepted} of {scenario.posts} posts accepted")
    window = answers.last - answers.first
    return {
        "rate_per_s": scenario.rate_per_s,
        "posts": scenario.posts,
        "shard_size": scenario.shard_size,
        "shards": scenario.shards,
        "seconds": time.monotonic() - started,
        "window_s": window,
        "accepted_per_s": scenario.posts / window if window > 0 else None,
        "of_limit": scenario.posts / window / scenario.rate_per_s if window > 0 else None,
        "throttled": answers.throttled,
    }


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--scenarios", type=parse_scenarios, default=parse_scenarios("1000:5000:500,400:2000:500"))
    parser.add_argument("--lanes", type=positive_int, default=64, help="threads per shard (FANOUT_CONCURRENCY)")
    parser.add_argument("--latency-ms", type=positive_int, default=20)
    parser.add_argument("--stagger-ms", type=int, default=150, help="between shard starts")
    parser.add_argument("--json", type=Path, default=default_json_path("pacing"))
    return parser.parse_args()


def main() -> None:
    args = _arguments()
    rows = [run(s, args.lanes, args.latency_ms / 1000, args.stagger_ms / 1000) for s in args.scenarios]
    print_table(
        f"QuotaPacer against one token bucket (burst = rate / 2), {args.lanes} lanes per shard, "
        f"{args.latency_ms} ms per post, shards {args.stagger_ms} ms apart",
        ["rate/s", "posts", "shards", "window s", "accepted/s", "of the limit", "429s", "429s per post"],
        [
            [
                r["rate_per_s"],
                r["posts"],
                r["shards"],
                f"{r['window_s']:.2f}",
                f"{r['accepted_per_s']:.0f}",
                f"{r['of_limit']:.0%}",
                r["throttled"],
                f"{r['throttled'] / r['posts']:.2f}",
            ]
            for r in rows
        ],
    )
    parameters = {key: value for key, value in vars(args).items() if key not in ("json", "scenarios")}
    parameters["scenarios"] = [f"{s.rate_per_s}:{s.posts}:{s.shard_size}" for s in args.scenarios]
    print(f"\nwrote {write_json(args.json, 'pacing', parameters, {'scenarios': rows})}")


if __name__ == "__main__":
    run_main(main)
