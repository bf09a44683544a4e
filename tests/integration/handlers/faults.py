"""The real handler, with faults injected into chosen attempts of chosen asynchronous events, for the retry tests.

The faults are read from the JSON file `$FAULTS_FILE` at every invocation (the test rewrites it between steps), one
rule per event kind (`push`, `shard`, `segment`, `continuation`):

- `failAttempts` k and `afterPosts` n: attempts 1..k of each such event raise `InjectedFault` once n of its posts were
  answered (a bug in the middle of a fan-out: it raises in the function's own code that runs after each post); without
  `afterPosts`, before the function runs at all (a bug at its start);
- `deadlineAfterPosts` m: the invocation's deadline nears once m of its posts were answered (what a slow
  `@connections` does to a fan-out), so the rest is handed to a continuation;
- `match`: the rule applies only to events whose frame contains this text (presence frames and other tests' traffic
  pass untouched).

An attempt is counted per request id (Lambda's retries keep it) in `$FAULTS_FILE.attempts/`. Everything else is
`lambda_src.app.handler` unchanged.
"""

from __future__ import annotations

import base64
import json
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from lambda_src import app
from lambda_src.aws.posting import DEADLINE_MARGIN_MS
from lambda_src.delivery import pacing
from lambda_src.protocol.events import CONTINUATION_EVENT_SOURCE, SEGMENT_EVENT_SOURCE, SHARD_EVENT_SOURCE

KINDS = {SHARD_EVENT_SOURCE: "shard", SEGMENT_EVENT_SOURCE: "segment", CONTINUATION_EVENT_SOURCE: "continuation"}
_ACCEPTED = pacing.QuotaPacer.on_accepted


class InjectedFault(RuntimeError):
    """The fault these tests inject."""


def kind_of(event: Any) -> str:
    if isinstance(event, dict) and "Records" in event:
        return "push"
    return KINDS.get(str(event.get("source")) if isinstance(event, dict) else "", "other")


def frame_of(event: Any) -> str:
    """The text of the frame the event delivers (the SNS message, or an internal event's base64 `data`)."""
    try:
        if "Records" in event:
            return str(event["Records"][0]["Sns"]["Message"])
        body = next(value for value in event.values() if isinstance(value, dict))
        return base64.b64decode(body["data"]).decode("utf-8", "replace")
    except (KeyError, IndexError, StopIteration, TypeError, ValueError):
        return ""


def _rules() -> dict[str, Any]:
    path = Path(os.environ["FAULTS_FILE"])
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}


def _attempt(request_id: str) -> int:
    folder = Path(os.environ["FAULTS_FILE"] + ".attempts")
    folder.mkdir(exist_ok=True)
    with (folder / request_id).open("ab") as marks:
        marks.write(b".")
        return marks.tell()


class _Posts:
    """Counts this invocation's answered posts; raises or reports the deadline as the rule says."""

    def __init__(self, rule: dict[str, Any], attempt: int) -> None:
        self.count = 0
        self._lock = threading.Lock()
        failing = attempt <= int(rule.get("failAttempts", 0))
        self.fail_at_start = failing and "afterPosts" not in rule
        self.fail_after = int(rule["afterPosts"]) if failing and "afterPosts" in rule else None
        self.deadline_after = rule.get("deadlineAfterPosts")

    def accepted(self) -> None:
        with self._lock:
            self.count += 1
            fail = self.fail_after is not None and self.count > self.fail_after
        if fail:
            raise InjectedFault(f"injected fault after {self.fail_after} posts")

    def deadline_near(self) -> bool:
        return self.deadline_after is not None and self.count >= int(self.deadline_after)


class _Context:
    """Lambda's context, but with its deadline near once `posts` says so."""

    def __init__(self, context: Any, posts: _Posts) -> None:
        self._context = context
        self._posts = posts

    def __getattr__(self, name: str) -> Any:
        return getattr(self._context, name)

    def get_remaining_time_in_millis(self) -> int:
        if self._posts.deadline_near():
            return DEADLINE_MARGIN_MS // 2
        return int(self._context.get_remaining_time_in_millis())


@contextmanager
def _counting(posts: _Posts) -> Iterator[None]:
    def on_accepted(pacer: pacing.QuotaPacer) -> None:
        posts.accepted()
        _ACCEPTED(pacer)

    setattr(pacing.QuotaPacer, "on_accepted", on_accepted)  # noqa: B010 -- a test double patched in for one invocation
    try:
        yield
    finally:
        setattr(pacing.QuotaPacer, "on_accepted", _ACCEPTED)  # noqa: B010


def handler(event: Any, context: Any) -> Any:
    rule = _rules().get(kind_of(event))
    if not rule or rule.get("match", "") not in frame_of(event):
        return app.handler(event, context)
    posts = _Posts(rule, _attempt(context.aws_request_id))
    if posts.fail_at_start:
        raise InjectedFault("injected fault at the start")
    with _counting(posts):
        return app.handler(event, _Context(context, posts))
