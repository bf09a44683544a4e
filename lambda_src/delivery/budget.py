"""The per-sender fan-out budget: how many posts a connection, and with an identity its user, may cause.

The message rate limit counts frames; a `broadcast` to N recipients is one frame and N posts, so a connection in a
large room, or a user with many connections, could still make the account post at N times its message rate. The
budget counts the posts: a message takes as many tokens as the posts it causes before anything is posted, and past
the budget it is refused with `rate_limited`. The buckets are `rate_limit`'s (GCRA, in the store, conditional
writes).

Whose bucket: without identity the connection's; with one, the user's (its `sub`), which all of the user's
connections spend from. That one bucket bounds each of those connections as well: every post a connection causes
is also its user's, so under one limit a user's bucket is always at least as spent as any of its connections' would
be, and a connection bucket beside it could never refuse what the user's admits. (A reconnect gets a fresh
connection bucket, never a fresh user bucket.)
"""

from __future__ import annotations

from lambda_src.errors import ErrorCode, ProtocolError
from lambda_src.observability import metrics
from lambda_src.protocol.identity import Identity
from lambda_src.services import Services
from lambda_src.store.rate_limit import Spender


def spend(connection_id: str, identity: Identity | None, posts: int, services: Services) -> None:
    """Take `posts` from the sender's budget (its user's with an identity, else its connection's), or raise
    `ProtocolError(rate_limited)`; nothing is taken from a refused message's budget."""
    limit = services.config.fanout_budget
    if limit is None or posts <= 0:
        return
    spender, spender_id = (
        (Spender.CONNECTION, connection_id) if identity is None else (Spender.USER, identity.principal_id)
    )
    admission = services.store.admit_posts(spender, spender_id, posts, services.clock_ms() * 1000, limit)
    if admission.allowed:
        return
    metrics.budget_refused(spender.value, posts)
    services.logger.info("over the fan-out budget", extra={"spender": spender.value, "posts": posts})
    raise ProtocolError(
        ErrorCode.RATE_LIMITED,
        f"too many posts: this message would reach {posts} connections, and your {spender.value} may cause "
        f"{limit.rate_per_s:g} posts a second; try again in {admission.retry_after_ms} ms",
    )
