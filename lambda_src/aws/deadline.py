"""The invocation's deadline, where code deep in a fan-out can read it: Lambda's `context`, bound per invocation.

`app.handle` binds the context it receives; the fan-out asks `near(margin_ms)` before each post. The value
lives in a context variable, so the fan-out pool's tasks (which run in a copy of the submitter's context,
see `pool`) see the deadline of the invocation that submitted them.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable
from typing import Any

_remaining_ms: contextvars.ContextVar[Callable[[], int] | None] = contextvars.ContextVar("remaining_ms", default=None)


def bind(context: Any) -> contextvars.Token[Callable[[], int] | None]:
    """Bind the invocation's `context.get_remaining_time_in_millis` (none bound when the context has none)."""
    method = getattr(context, "get_remaining_time_in_millis", None)
    return _remaining_ms.set(method if callable(method) else None)


def unbind(token: contextvars.Token[Callable[[], int] | None]) -> None:
    _remaining_ms.reset(token)


def remaining_ms() -> int | None:
    """Milliseconds the invocation has left; None outside an invocation that told us."""
    method = _remaining_ms.get()
    return None if method is None else int(method())


def near(margin_ms: int) -> bool:
    """True when the invocation has at most `margin_ms` left (never when its deadline is unknown)."""
    left = remaining_ms()
    return left is not None and left <= margin_ms
