"""The fan-out's pacer (the quota's share measured per window, probed above it, with jitter) on a fake clock,
and the fan-out paced by it against a real HTTP server."""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass

import pytest

from lambda_src.app import handle
from lambda_src.aws import deadline
from lambda_src.aws.posting import DEADLINE_MARGIN_MS
from lambda_src.delivery.pacing import DRAIN, JITTER, MIN_RATE_PER_S, PROBE_GAINS, WINDOW_S, QuotaPacer
from lambda_src.services import Services

from .conftest import FakeContext, add_connections, invoke, message_event
from .connections_server import ConnectionsServer


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def pacer(clock: FakeClock) -> QuotaPacer:
    return QuotaPacer(clock=clock, sleep=clock.sleep, rng=random.Random(7))


def test_posts_go_unpaced_until_the_first_429() -> None:
    clock = FakeClock()
    paced = pacer(clock)

    for _ in range(1000):
        paced.wait()

    assert clock.slept == []
    assert paced.rate_per_s is None


def accepted(paced: QuotaPacer, posts: int) -> None:
    for _ in range(posts):
        paced.wait()
        paced.on_accepted()


def test_the_first_429_paces_at_the_share_the_quota_let_through_less_the_drain_with_jittered_gaps() -> None:
    clock = FakeClock()
    paced = pacer(clock)
    accepted(paced, 400)
    for _ in range(300):
        paced.wait()  # answered 429: they do not count as let through
    clock.now += 0.5  # 400 posts let through in half a second: 800 per second
    paced.on_throttled()

    assert paced.rate_per_s == pytest.approx(800 * (1 - DRAIN))
    clock.slept.clear()
    for _ in range(50):  # 50 posts at 720/s: well within one window, so the pace holds
        paced.wait()
    gap = 1 / (800 * (1 - DRAIN))
    assert all((1 - JITTER) * gap <= slept <= (1 + JITTER) * gap for slept in clock.slept[1:])
    assert len(set(clock.slept)) > 25, "jittered: the gaps differ"
    assert sum(clock.slept) == pytest.approx(49 * gap, rel=0.15)


A_WINDOW = WINDOW_S * 1.01
"""A step of the fake clock that closes one window (exactly WINDOW_S may fall short by a rounding)."""


def paced_at(clock: FakeClock, rate: int) -> QuotaPacer:
    """A pacer whose first 429 came after `rate` posts accepted in one second: pacing at rate * (1 - DRAIN)."""
    paced = pacer(clock)
    accepted(paced, rate)
    clock.now += 1.0
    paced.on_throttled()
    return paced


def test_a_window_with_a_429_paces_at_the_posts_accepted_in_that_window() -> None:
    clock = FakeClock()
    paced = paced_at(clock, 1000)
    for _ in range(30):  # 30 accepted and one 429 in the next window (0.2 s): a share of 150 per second
        paced.on_accepted()
    paced.on_throttled()
    clock.now += 2 * WINDOW_S
    paced.on_accepted()

    assert paced.rate_per_s == pytest.approx(31 / (2 * WINDOW_S) * (1 - DRAIN))
    assert (paced.throttled, paced.decreases) == (2, 2)


def test_windows_without_a_429_raise_the_pace_by_the_gains_in_turn_and_a_429_starts_them_again() -> None:
    clock = FakeClock()
    paced = paced_at(clock, 100)
    rates = [paced.rate_per_s]
    for _ in range(len(PROBE_GAINS) + 2):
        clock.now += A_WINDOW
        paced.on_accepted()
        rates.append(paced.rate_per_s)

    gains = [*PROBE_GAINS, PROBE_GAINS[-1], PROBE_GAINS[-1]]
    expected = [90.0]
    for gain in gains:
        expected.append(expected[-1] * gain)
    assert rates == pytest.approx(expected)

    paced.on_throttled()
    clock.now += A_WINDOW
    paced.on_accepted()  # the throttled window: a share of 1 post in one window
    clock.now += A_WINDOW
    paced.on_accepted()  # calm again: the first gain, not the last
    assert paced.rate_per_s == pytest.approx(max(MIN_RATE_PER_S, 1 / A_WINDOW * (1 - DRAIN)) * PROBE_GAINS[0])


def test_a_fan_out_whose_first_posts_are_all_throttled_finds_its_share_within_a_second() -> None:
    # The case that collapsed the first pacer: a shard starting while others have emptied the bucket.
    clock = FakeClock()
    paced = pacer(clock)
    paced.wait()
    paced.on_throttled()
    assert paced.rate_per_s == MIN_RATE_PER_S
    for _ in range(10):
        clock.now += A_WINDOW
        paced.on_accepted()

    rate = paced.rate_per_s
    assert rate is not None and rate > 50


def test_the_rate_never_falls_below_the_floor() -> None:
    clock = FakeClock()
    paced = pacer(clock)
    for _ in range(50):
        paced.wait()
        paced.on_throttled()  # nothing let through at all
        clock.now += 10.0

    assert paced.rate_per_s is not None and paced.rate_per_s >= MIN_RATE_PER_S


def test_a_thread_waiting_for_its_slot_gives_up_when_asked_and_takes_no_slot() -> None:
    # At the floor rate a queue of threads can outlast the invocation: each asks its deadline on every nap.
    clock = FakeClock()
    paced = pacer(clock)
    paced.wait()
    paced.on_throttled()  # nothing let through: the floor, one post per second
    paced.wait()  # this slot is taken: the next is a second away
    give_up_at = clock.now + 0.12

    assert paced.wait_unless(lambda: clock.now >= give_up_at) is None
    assert clock.now < give_up_at + 0.1  # it gave up within one nap of being told to
    assert paced.wait_unless(lambda: True) is None


# -- the fan-out, paced -----------------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def _capture_service_logs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="wspush")


def _summary(caplog: pytest.LogCaptureFixture) -> dict[str, object]:
    [record] = [r for r in caplog.records if r.getMessage() == "fanout"]
    keys = ("recipients", "delivered", "failed", "unfinished", "throttled", "postsPerS")
    return {key: getattr(record, key) for key in keys}


def test_a_post_throttled_many_times_is_delivered_once_and_the_429s_are_counted(
    services: Services, connections_server: ConnectionsServer, caplog: pytest.LogCaptureFixture
) -> None:
    ids = [f"conn-{i:02d}" for i in range(40)]
    add_connections(services, ids)
    # More 429s than the poster's attempts for server errors: a throttled post is never dropped.
    connections_server.scripted = {"conn-05": [429] * 8, "conn-06": [429] * 3}

    invoke(services, message_event("conn-00", {"action": "broadcast", "message": "hi"}))

    assert sorted(connections_server.delivered_to()) == ids
    assert connections_server.attempts["conn-05"] == 9
    summary = _summary(caplog)
    assert {k: v for k, v in summary.items() if k != "postsPerS"} == {
        "recipients": 40,
        "delivered": 40,
        "failed": 0,
        "unfinished": 0,
        "throttled": 11,
    }
    assert isinstance(summary["postsPerS"], float) and summary["postsPerS"] > 0


@dataclass
class ShortContext(FakeContext):
    remaining_ms: int = DEADLINE_MARGIN_MS

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


def test_near_the_deadline_the_fan_out_leaves_the_rest_unfinished_instead_of_posting(
    services: Services, connections_server: ConnectionsServer, caplog: pytest.LogCaptureFixture
) -> None:
    ids = [f"conn-{i:02d}" for i in range(10)]
    add_connections(services, ids)

    handle(message_event("conn-00", {"action": "broadcast", "message": "hi"}), ShortContext(), services)

    assert connections_server.delivered_to() == []
    assert _summary(caplog)["unfinished"] == 10
    assert _summary(caplog)["delivered"] == 0


def test_the_deadline_is_read_from_the_bound_context_and_unbound_after() -> None:
    token = deadline.bind(ShortContext(remaining_ms=5000))
    try:
        assert deadline.remaining_ms() == 5000
        assert not deadline.near(4999)
        assert deadline.near(5000)
    finally:
        deadline.unbind(token)
    assert deadline.remaining_ms() is None
    assert not deadline.near(10**9)
