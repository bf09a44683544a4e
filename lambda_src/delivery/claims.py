"""One poster per shard or segment, whoever starts it: a claim in the store, taken before posting.

An asynchronous Invoke whose answer was lost (a read timeout, a reset connection) may or may not have started the
shard's invocation, and Lambda itself may deliver one event more than once ("Occasionally, your function may
receive the same event multiple times, even if no error occurs": the Invoke API reference). So the splitter, when
it cannot tell, and every shard or segment invocation, when it starts, claim the part (`ConnectionStore.claim`, a
conditional create): the one that wins posts it, every other one posts nothing. The ambiguous case is delivered
once instead of twice or never. The price: a shard invocation that fails after its claim and is retried by Lambda
finds the claim taken and posts nothing more (at-most-once from there; docs/reliability.md).
"""

from __future__ import annotations

from lambda_src.services import Services


def shard_token(origin: str | None, index: int) -> str | None:
    """The claim of shard `index` of the fan-out that invocation `origin` split; None without an origin."""
    return None if origin is None else f"shard/{origin}/{index}"


def segment_token(origin: str | None, segment: int, segments: int) -> str | None:
    """The claim of one segment of the broadcast that invocation `origin` split; None without an origin."""
    return None if origin is None else f"segment/{origin}/{segment}-of-{segments}"


def take(token: str | None, services: Services) -> bool:
    """Whether this invocation posts the part: True when it won the claim (or there is nothing to claim by)."""
    return token is None or services.store.claim(token)
