"""The log context (lambda_src/observability/context.py): the ids of an invocation and the fields of a
`log_context` block reach every line logged inside it, on pool threads too, and nothing outlives its block."""

from __future__ import annotations

import io
import json
import logging

from lambda_src.delivery.pool import fanout_pool
from lambda_src.observability.context import invocation, log_context
from lambda_src.observability.logs import JsonFormatter


def capture() -> tuple[logging.Logger, io.StringIO]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger(f"test-log-context-{id(stream)}")
    logger.addHandler(handler)
    logger.propagate = False
    logger.setLevel(logging.INFO)
    return logger, stream


def lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_a_blocks_fields_and_the_invocations_ids_reach_a_line_logged_on_a_pool_thread() -> None:
    logger, stream = capture()
    pool = fanout_pool(2)
    try:
        with invocation("req-1", "conn-1"), log_context(shard=3, origin="req-0"):
            pool.submit(logger.info, "posted").result()
    finally:
        pool.shutdown()

    (line,) = lines(stream)
    assert (line["requestId"], line["connectionId"], line["shard"], line["origin"]) == ("req-1", "conn-1", 3, "req-0")


def test_an_inner_block_wins_and_the_outer_fields_come_back_after_it() -> None:
    logger, stream = capture()
    with invocation("req-1", None), log_context(segment=1, origin="a"):
        with log_context(origin="b", resumed=2):
            logger.info("inner")
        logger.info("outer")
    logger.info("after")

    inner, outer, after = lines(stream)
    assert (inner["segment"], inner["origin"], inner["resumed"]) == (1, "b", 2)
    assert (outer["origin"], "resumed" in outer) == ("a", False)
    assert (after["requestId"], "segment" in after, "origin" in after) == (None, False, False)


def test_a_lines_own_extra_fields_beat_the_context() -> None:
    logger, stream = capture()
    with log_context(origin="context"):
        logger.info("line", extra={"origin": "line"})

    assert lines(stream)[0]["origin"] == "line"


def test_a_new_invocation_starts_without_the_fields_of_the_last_one() -> None:
    logger, stream = capture()
    with log_context(shard=1), invocation("req-2", None):
        logger.info("fresh")

    assert "shard" not in lines(stream)[0]
