"""bench.model's arithmetic: the closed loop of posts in flight, and segment shards as the function starts them."""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import replace

import pytest

from bench.model import LocalCpu, Settings, _sample_sizes, aws, closed_loop_throughput, local, predict
from lambda_src.delivery.segments import estimate_connections, segment_count


def test_a_closed_loop_far_below_its_server_is_the_posts_in_flight_over_the_round_trip() -> None:
    # 4 in flight, 20 ms delay, 0.1 ms of service: almost no queueing.
    assert closed_loop_throughput(4, 0.020, [0.0001]) == pytest.approx(4 / 0.0201, rel=0.01)


def test_a_closed_loop_far_past_its_server_is_the_busiest_servers_rate() -> None:
    # 1,000 in flight against a 1 ms server: the server's 1,000 per second, whatever the delay.
    assert closed_loop_throughput(1000, 0.020, [0.001, 0.0002]) == pytest.approx(1000, rel=0.01)


def test_a_closed_loop_near_its_knee_queues_below_both_asymptotes() -> None:
    # 64 in flight over 20 ms offer 3,200 per second to a server of 3,333: the queue costs throughput.
    throughput = closed_loop_throughput(64, 0.020, [0.0003])
    assert throughput < min(64 / 0.0203, 1 / 0.0003)
    assert throughput > 0.8 * min(64 / 0.0203, 1 / 0.0003)


@pytest.mark.parametrize("n", [1_500, 10_000, 100_000, 1_000_000])
def test_the_models_samples_are_the_ones_the_estimate_lists(n: int) -> None:
    listed: list[int] = []

    class Store:
        """n ids dealt evenly to segments: only what `estimate_connections` reads."""

        def connection_ids(self, segment: int = 0, segments: int = 1, expected: int | None = None) -> Iterator[str]:
            ids = range(segment, n, segments)
            listed.append(len(ids))
            return (str(i) for i in ids)

    estimate_connections(Store())  # type: ignore[arg-type]

    sizes = _sample_sizes(n)
    assert len(sizes) == len(listed)
    assert all(abs(size - count) <= 1 for size, count in zip(sizes, listed, strict=True))


@pytest.mark.parametrize("n", [10_000, 100_000, 1_000_000])
def test_a_broadcast_past_the_shard_size_goes_out_in_as_many_shards_as_the_function_starts(n: int) -> None:
    prediction = predict(n, Settings(shard_size=1000), aws(1769))

    assert prediction["shards"] == segment_count(n, 1000)
    assert predict(n, Settings(shard_size=0), aws(1769))["shards"] == 1


def test_the_local_stacks_segments_of_a_wave_list_one_after_another_in_its_one_moto() -> None:
    measured = LocalCpu(
        post_cpu_s=0.0001,
        cpu_per_recipient_s=0.0005,
        source="test",
        gateway_cpu_per_post_s=0.0002,
        store_cpu_per_key_s=0.00015,
    )
    serial = predict(10_000, Settings(shard_size=1000), local(measured=measured))
    parallel = predict(10_000, Settings(shard_size=1000), replace(local(measured=measured), store_cpu_per_key_s=0.0))

    # One moto lists every key of the store once, one after another: 10,000 keys at 0.15 ms are 1.5 s at least.
    # The waves of 4 workers can pad that by at most one wave of the largest segments.
    segments = segment_count(10_000, 1000)
    largest_segment = math.ceil(10_000 / segments)
    gained = serial["bounds_s"]["concurrency"] - parallel["bounds_s"]["concurrency"]
    assert 10_000 * 0.00015 <= gained <= 10_000 * 0.00015 + 4 * largest_segment * 0.00015
