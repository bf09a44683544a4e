"""The log context of an invocation, in one place: what every line carries, scoped, and carried onto pool threads.

`invocation(request_id, connection_id)` binds the two ids every line of an invocation carries (`app.handle`);
`log_context(**fields)` adds fields to every line logged inside its block (a shard's `shard` and `origin`, a
segment's `segment`), so no call chain threads log fields by hand. Both live in context variables, and a plain
`ThreadPoolExecutor` runs tasks in its threads' own, empty context: `ContextExecutor` runs each task in a copy of
its submitter's context instead (a copy each, because one `Context` cannot be entered by two threads at once).
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Executor, Future
from contextlib import contextmanager
from types import MappingProxyType
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
T = TypeVar("T")

_request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)
_connection_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("connection_id", default=None)
_fields: contextvars.ContextVar[Mapping[str, object]] = contextvars.ContextVar(
    "log_fields", default=MappingProxyType({})
)


@contextmanager
def invocation(request_id: str | None, connection_id: str | None) -> Iterator[None]:
    """Every line logged inside the block carries these ids; the block starts with no other field bound."""
    tokens = (_request_id.set(request_id), _connection_id.set(connection_id), _fields.set(MappingProxyType({})))
    try:
        yield
    finally:
        _fields.reset(tokens[2])
        _connection_id.reset(tokens[1])
        _request_id.reset(tokens[0])


@contextmanager
def log_context(**fields: object) -> Iterator[None]:
    """Every line logged inside the block (here and in the pool tasks it submits) carries `fields` too; an inner
    block's field of the same name wins, and the outer one is back when the inner block ends."""
    token = _fields.set(MappingProxyType({**_fields.get(), **fields}))
    try:
        yield
    finally:
        _fields.reset(token)


def current_request_id() -> str | None:
    """The Lambda request id `invocation` bound (None outside one)."""
    return _request_id.get()


def current_connection_id() -> str | None:
    return _connection_id.get()


def bound_fields() -> Mapping[str, object]:
    """The fields `log_context` blocks around this point bound, innermost last."""
    return _fields.get()


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
