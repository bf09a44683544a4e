"""The fan-out's pacer (AIMD with jitter) on a fake clock, and the fan-out paced by it against a real HTTP server."""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass

import pytest

from lambda_src import deadline
from lambda_src.app import handle
from lambda_src.fanout import DEADLINE_MARGIN_MS
from lambda_src.pacing import CUT_INTERVAL_S, DECREASE_FACTOR, JITTER, MIN_RATE_PER_S, RECOVERY_S, AimdPacer
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


def pacer(clock: FakeClock) -> AimdPacer:
    return AimdPacer(clock=clock, sleep=clock.sleep, rng=random.Random(7))


def test_posts_go_unpaced_until_the_first_429() -> None:
    clock = FakeClock()
    paced = pacer(clock)

    for _ in range(1000):
        paced.wait()

    assert clock.slept == []
    assert paced.rate_per_s is None


def accepted(paced: AimdPacer, posts: int) -> None:
    for _ in range(posts):
        paced.wait()
        paced.on_accepted()


def test_the_first_429_paces_at_half_the_rate_the_quota_let_through_with_jittered_gaps() -> None:
    clock = FakeClock()
    paced = pacer(clock)
    accepted(paced, 400)
    for _ in range(300):
        paced.wait()  # answered 429: they do not count as let through
    clock.now += 0.5  # 400 posts let through in half a second: 800 per second
    paced.on_throttled(clock.now)

    assert paced.rate_per_s == pytest.approx(800 * DECREASE_FACTOR)
    clock.slept.clear()
    for _ in range(100):
        paced.wait()
    # The rate climbs while these posts go out (additive increase); every gap lies between the two rates' gaps.
    fastest = paced.rate_per_s
    assert fastest is not None and 400 < fastest < 500
    assert all((1 - JITTER) / fastest <= slept <= (1 + JITTER) / 400 for slept in clock.slept[1:])
    assert len(set(clock.slept)) > 50, "jittered: the gaps differ"
    assert 100 / fastest * 0.9 <= sum(clock.slept) <= 100 / 400 * 1.1


def test_429s_for_posts_sent_before_the_cut_or_within_the_cut_interval_do_not_cut_again() -> None:
    clock = FakeClock()
    paced = pacer(clock)
    accepted(paced, 100)
    in_flight = [paced.wait() for _ in range(64)]
    clock.now += 0.1
    paced.on_throttled(in_flight[0])
    rate = paced.rate_per_s
    assert rate == pytest.approx(100 / 0.1 * DECREASE_FACTOR)

    for sent_at in in_flight[1:]:
        paced.on_throttled(sent_at)
    paced.on_throttled(paced.wait())  # sent after the cut, but the bucket had no time to refill: no news

    assert (paced.throttled, paced.decreases) == (65, 1)
    accepted(paced, 50)
    clock.now += CUT_INTERVAL_S
    paced.on_throttled(paced.wait())  # a cut interval later: news
    assert paced.decreases == 2
    current = paced.rate_per_s
    assert current is not None and rate is not None and current < rate


def test_the_rate_climbs_back_to_where_it_was_cut_in_the_recovery_time() -> None:
    clock = FakeClock()
    paced = pacer(clock)
    accepted(paced, 1000)
    clock.now += 1.0
    paced.on_throttled(clock.now)
    assert paced.rate_per_s == pytest.approx(500)

    clock.now += RECOVERY_S / 2
    paced.wait()
    assert paced.rate_per_s == pytest.approx(750)
    clock.now += RECOVERY_S / 2
    paced.wait()
    assert paced.rate_per_s == pytest.approx(1000)


def test_the_rate_never_falls_below_the_floor() -> None:
    clock = FakeClock()
    paced = pacer(clock)
    for _ in range(50):
        paced.on_throttled(paced.wait())  # nothing let through at all
        clock.now += 10.0

    assert paced.rate_per_s is not None and paced.rate_per_s >= MIN_RATE_PER_S


def test_a_thread_waiting_for_its_slot_gives_up_when_asked_and_takes_no_slot() -> None:
    # At the floor rate a queue of threads can outlast the invocation: each asks its deadline on every nap.
    clock = FakeClock()
    paced = pacer(clock)
    paced.on_throttled(paced.wait())
    clock.now += CUT_INTERVAL_S
    paced.on_throttled(paced.wait())
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
