"""The invocation's context carried onto pool threads: every task runs in a copy of its submitter's context.

The logging context (`logs.bind`: requestId, connectionId) lives in context variables, and a plain
`ThreadPoolExecutor` runs tasks in its threads' own, empty context: lines logged there would carry
`"requestId": null`. Each task gets its own copy because one `Context` cannot be entered by two threads at once.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable
from concurrent.futures import Executor, Future
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
T = TypeVar("T")


class ContextExecutor(Executor):
    """Wraps an executor so that each submitted task (and each item of `map`) runs in the submitter's context."""

    def __init__(self, inner: Executor, max_workers: int | None = None) -> None:
        self._inner = inner
        self.max_workers = max_workers
        """Threads the inner pool runs at most (None: unknown): how many posting lanes a fan-out starts."""

    @property
    def inner(self) -> Executor:
        return self._inner

    def submit(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> Future[T]:
        context = contextvars.copy_context()
        return self._inner.submit(_run_in, context, fn, *args, **kwargs)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        self._inner.shutdown(wait=wait, cancel_futures=cancel_futures)


def _run_in(context: contextvars.Context, fn: Callable[..., T], /, *args: object, **kwargs: object) -> T:
    return context.run(fn, *args, **kwargs)


def carrying_context(executor: Executor, max_workers: int | None = None) -> ContextExecutor:
    """`executor`, wrapped once (wrapping a `ContextExecutor` again returns it unchanged).

    `max_workers` is the inner pool's size where the caller knows it (an executor does not say it publicly).
    """
    if isinstance(executor, ContextExecutor):
        return executor
    return ContextExecutor(executor, max_workers)
