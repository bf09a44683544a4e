"""Continuations: the part of a fan-out an invocation could not post before its deadline, handed to a new one.

A fan-out stops starting posts when its invocation nears its deadline (`fanout.DEADLINE_MARGIN_MS`); what it did
not post (`FanoutSummary.unfinished`) goes to `handoff`, which starts asynchronous invocations of this same
function, each with an event (`events.Continuation`) carrying the frame and its share of the remaining ids. A
continuation posts like any fan-out and, if its own deadline comes first, continues in turn: a slow
`@connections` delays delivery, it loses none. The events are packed to fit Lambda's asynchronous payload
limit, so a remainder too large for one event becomes several.

Each continuation is a part of its own (`claims`): its event names its claim, after the part that handed it on and
its place in the hand-off, so a retry of that part that hands on again finds the same claims. A continuation that
cannot be started leaves its recipients unposted: an asynchronous part then raises (`DeliveryIncomplete`), and its
retry posts them. What a continuation cannot protect: an invocation that is killed (its timeout reached, the process
dead) before it hands off. The margin exists so that it never gets there; docs/reliability.md says what is
at-least-once here.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator

from lambda_src.delivery import claims
from lambda_src.delivery.plan import Delivery, Lineage
from lambda_src.limits import MAX_ASYNC_PAYLOAD_BYTES
from lambda_src.observability.context import current_request_id
from lambda_src.protocol.events import Continuation
from lambda_src.services import Services

PAYLOAD_HEADROOM_BYTES = 1024
"""Room for the event's fixed fields (source, hop, room of at most 64 characters, origin, part)."""
MAX_HOPS = 1000
"""A chain this long stops (logged as an ERROR): only a fan-out that makes no progress at all (a function
timeout below the deadline margin, an `@connections` that never answers) chains that often, and it must not
chain for ever. At the default 30 s timeout, 1,000 hops are over 8 hours of posting."""


def pack(connection_ids: Iterable[str], data: bytes) -> Iterator[list[str]]:
    """Group the ids into lists, each of whose continuation events (with `data`) fits one asynchronous invocation."""
    budget = MAX_ASYNC_PAYLOAD_BYTES - PAYLOAD_HEADROOM_BYTES - 4 * ((len(data) + 2) // 3)
    current: list[str] = []
    used = 0
    for connection_id in connection_ids:
        cost = len(json.dumps(connection_id)) + 1
        if current and used + cost > budget:
            yield current
            current, used = [], 0
        current.append(connection_id)
        used += cost
    if current:
        yield current


def handoff(
    services: Services, delivery: Delivery, lineage: Lineage, parent: str
) -> Callable[[tuple[str, ...]], tuple[str, ...]] | None:
    """What a fan-out calls with its unposted ids: starts the continuation after `lineage`'s hop for them, returns
    the ids it handed on. `parent` names the part handing them on (`claims.splitting_parent`): continuation k's
    claim is named after it.

    None when this function cannot invoke itself (no function name, as in a test without an invoker).
    """
    invoker = services.invoker
    if invoker is None:
        return None
    data, room, hop = delivery.data, delivery.room, lineage.hop + 1
    origin = lineage.origin if lineage.origin is not None else current_request_id()

    def start(ids: tuple[str, ...]) -> tuple[str, ...]:
        if hop > MAX_HOPS:
            services.logger.error(
                "continuation chain too long; recipients not delivered",
                extra={"hop": hop, "lost": len(ids), "origin": origin},
            )
            return ()
        continued: list[str] = []
        events = 0
        for k, group in enumerate(pack(ids, data)):
            part = claims.child_token("continuation", parent, f"{hop}-{k}")
            event = Continuation(data, tuple(group), room, origin, hop, part).to_event()
            try:
                invoker.invoke_async(event)
            except Exception as error:
                services.logger.error(
                    "continuation not started; recipients not delivered",
                    extra={"hop": hop, "lost": len(group), "error": type(error).__name__, "origin": origin},
                )
                continue
            continued.extend(group)
            events += 1
        services.logger.info(
            "continued", extra={"hop": hop, "recipients": len(continued), "invocations": events, "origin": origin}
        )
        return tuple(continued)

    return start
