"""The fan-out thread pool: bounded, one per execution environment, each task in its submitter's context."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from lambda_src.observability.context import ContextExecutor


def fanout_pool(max_workers: int) -> ContextExecutor:
    """The bounded pool that posts, reads and starts shard invocations for one execution environment."""
    return ContextExecutor(ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="fanout"), max_workers)
