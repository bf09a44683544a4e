"""Every benchmark runs at a tiny size, as a subprocess, and writes the JSON its docs describe.

Timings are never asserted (benchmarks do not pass or fail on time); counts, structure and the figures that
are facts (package size, posts made, shards invoked) are.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from util.build import build_for, default_source
from util.dependencies import default_target

pytestmark = pytest.mark.stack

REPO_ROOT = Path(__file__).resolve().parents[2]
RUN_TIMEOUT_S = 240
WORKERS = 4
"""The stack's default: the benchmarks run with it unless told otherwise."""


def run_bench(module: str, json_path: Path, *args: str) -> dict[str, Any]:
    completed = subprocess.run(
        [sys.executable, "-m", f"bench.{module}", *args, "--json", str(json_path)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert f"wrote {json_path}" in completed.stdout, completed.stdout
    document: dict[str, Any] = json.loads(json_path.read_text(encoding="utf-8"))
    return document


def run_bench_refused(module: str, json_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """A benchmark run that is expected to stop before measuring: its output, and no JSON written."""
    completed = subprocess.run(
        [sys.executable, "-m", f"bench.{module}", *args, "--json", str(json_path)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert "Traceback" not in completed.stderr
    assert not json_path.exists()
    return completed


def assert_machine_facts(document: dict[str, Any], benchmark: str) -> None:
    assert document["benchmark"] == benchmark
    machine = document["machine"]
    assert set(machine) == {
        "date",
        "nproc",
        "memory_mb",
        "python",
        "platform",
        "load_average_at_start",
        "load_average_at_end",
        "reference_loop_ms",
        "reference_loop_cpu_ms",
        "finished",
        "commit",
        "uncommitted_changes",
    }
    assert machine["nproc"] >= 1
    assert machine["memory_mb"] > 0
    assert positive(machine["reference_loop_ms"])
    assert positive(machine["reference_loop_cpu_ms"])


def positive(value: Any) -> bool:
    return isinstance(value, int | float) and value > 0


def test_fanout_times_one_invocation_sharded_and_the_baseline_with_shard_size_reaching_the_function(
    tmp_path: Path,
) -> None:
    document = run_bench("fanout", tmp_path / "fanout.json", "--sizes", "20", "--repeat", "2", "--shard-sizes", "0,10")

    assert_machine_facts(document, "fanout")
    assert document["parameters"]["shard_sizes"] == [0, 10]
    assert document["parameters"]["latency_ms"] == 20.0
    [row] = document["results"]["sizes"]
    assert row["clients"] == 20
    assert set(row["ours"]) == {"0", "10"}
    for ours in row["ours"].values():
        for total, by_role in zip(ours["stack_cpu_s"], ours["stack_cpu_by_role_s"], strict=True):
            assert set(by_role) == {"workers", "gateway", "moto"}
            assert sum(by_role.values()) == pytest.approx(total)
        assert len(ours["runs_s"]) == 2
        assert all(positive(seconds) for seconds in ours["runs_s"])
        assert ours["min_s"] <= ours["median_s"] <= ours["max_s"]
    # SHARD_SIZE reached the function: one invocation of 20 posts; then the push to everyone split into segments,
    # each listed by an invocation of its own (a segment over 10, the estimate being a sample, splits once more).
    for run in row["ours"]["0"]["function"]:
        assert (run["function_posts"], run["function_fanouts"], run["function_failed_posts"]) == (20, 1, 0)
        assert run["function_segments"] is None
    for run in row["ours"]["10"]["function"]:
        assert (run["function_posts"], run["function_failed_posts"]) == (20, 0)
        assert run["function_segments"] >= 2
        assert run["function_segments_listed"] == list(range(run["function_segments"]))
        assert run["function_segment_listers"] == run["function_segments"]
        assert run["function_fanouts"] >= run["function_segments"]
    assert all(duplicates == 0 for ours in row["ours"].values() for duplicates in ours["duplicates"])
    assert row["baseline"]["posted"] == 20
    # Even the tiny baseline pays 20 sequential posts at 20 ms each.
    assert row["baseline"]["seconds"] >= 20 * 0.020
    for key, ours in row["ours"].items():
        assert row["ratio"][key] == pytest.approx(row["baseline"]["seconds"] / ours["median_s"])


def test_gateway_counts_connects_round_trips_broadcasts_and_idle_memory(tmp_path: Path) -> None:
    document = run_bench(
        "gateway",
        tmp_path / "gateway.json",
        "--connects",
        "20",
        "--broadcast-sizes",
        "10,5",
        "--idle",
        "30",
        "--echo-round-trips",
        "50",
        "--lambda-round-trips",
        "5",
        "--publish-round-trips",
        "3",
        "--repeat",
        "2",
    )

    assert_machine_facts(document, "gateway")
    results = document["results"]
    [connects] = results["connects"]
    assert (connects["clients"], connects["opened"], connects["failed"], connects["errors"]) == (20, 20, 0, {})
    assert positive(connects["per_s"])
    assert positive(connects["stack_cpu_ms_per_connect"])
    by_role = connects["stack_cpu_ms_per_connect_by_role"]
    assert set(by_role) == {"workers", "gateway", "moto"}
    assert sum(by_role.values()) == pytest.approx(connects["stack_cpu_ms_per_connect"])
    # Every connect stores its connection in S3: moto's own process did work.
    assert positive(by_role["moto"])
    direct = results["echo"]["connections_post"]
    assert (direct["round_trips"], direct["failed"]) == (50, 0)
    assert positive(direct["per_s"])
    assert results["echo"]["lambda_whoami"]["round_trips"] == 5
    published = results["echo"]["sns_publish"]
    assert (published["round_trips"], len(published["runs_s"])) == (3, 3)
    assert published["median_s"] == sorted(published["runs_s"])[1]
    assert [row["clients"] for row in results["broadcast"]] == [5, 10]
    for row in results["broadcast"]:
        assert len(row["runs_s"]) == 2
        assert all(positive(seconds) for seconds in row["runs_s"])
    memory = results["idle_memory"]
    assert memory["connections"] == 30
    assert memory["processes"] == 2 + WORKERS  # the stack, its embedded moto, the Lambda workers
    assert memory["stack_rss_mb"] > 0
    assert memory["stack_rss_before_mb"] > 0


def test_coldstart_reports_the_built_package_size_import_and_deploy_times(tmp_path: Path) -> None:
    document = run_bench("coldstart", tmp_path / "coldstart.json", "--runs", "1")

    assert_machine_facts(document, "coldstart")
    results = document["results"]
    # What `util lambda-build` ships: the source and its dependencies' wheels for the function's platform.
    package = build_for(default_source(), default_target())
    assert results["package"]["bytes"] == package.size
    assert results["package"]["files"] == len(package.files)
    assert set(results["import"]) == {"lambda", "bytecode_cached", "with_boto3"}
    for mode in results["import"].values():
        assert len(mode["import_ms_runs"]) == 1
        assert positive(mode["import_ms_median"])
        assert positive(mode["setup_ms_median"])
    assert len(results["deploy"]["forced_s_runs"]) == 1
    assert positive(results["deploy"]["forced_s_median"])
    assert positive(results["deploy"]["no_op_s"])


def test_post_cpu_measures_both_posters(tmp_path: Path) -> None:
    document = run_bench("post_cpu", tmp_path / "post_cpu.json", "--posts", "50", "--threads", "4")

    assert_machine_facts(document, "post_cpu")
    assert document["parameters"] == {"posts": 50, "threads": 4}
    results = document["results"]
    assert set(results) == {"boto3 post_to_connection", "SignedPoster", "fan_out", "boto3_over_signed"}
    for name in ("boto3 post_to_connection", "SignedPoster", "fan_out"):
        assert positive(results[name]["cpu_ms_per_post"])
        assert positive(results[name]["posts_per_s"])
    expected_ratio = results["boto3 post_to_connection"]["cpu_ms_per_post"] / results["SignedPoster"]["cpu_ms_per_post"]
    assert results["boto3_over_signed"] == pytest.approx(expected_ratio)


@pytest.mark.parametrize(
    ("module", "args", "message"),
    [
        ("fanout", ["--sizes", "100,zero"], "sizes must be positive integers separated by commas"),
        ("fanout", ["--shard-sizes", "0,-5"], "expected whole numbers (0 or more) separated by commas"),
        ("gateway", ["--repeat", "0"], "must be a positive integer, not '0'"),
        ("coldstart", ["--runs", "-1"], "must be a positive integer, not '-1'"),
        ("post_cpu", ["--threads", "0"], "must be a positive integer, not '0'"),
        ("pacing", ["--scenarios", "100:50"], "not RATE:POSTS:SHARD_SIZE: '100:50'"),
    ],
)
def test_bad_arguments_end_in_one_error_line_without_a_traceback(
    module: str, args: list[str], message: str, tmp_path: Path
) -> None:
    completed = run_bench_refused(module, tmp_path / "x.json", *args)

    assert completed.returncode == 2
    assert message in completed.stderr.strip().splitlines()[-1]


def test_settings_the_stack_refuses_end_in_one_error_line_naming_them(tmp_path: Path) -> None:
    completed = run_bench_refused("gateway", tmp_path / "x.json", "--workers", "65")

    assert completed.returncode == 1
    assert completed.stderr.strip().splitlines() == [
        "error: stack: bad stack settings: --workers must be between 1 and 64"
    ]


def test_an_idle_count_below_the_broadcast_audience_is_refused_before_any_stack_starts(tmp_path: Path) -> None:
    # The idle phase only ever opens connections: it would wait for a store that never shrinks to the count.
    completed = run_bench_refused("gateway", tmp_path / "x.json", "--broadcast-sizes", "1000", "--idle", "10")

    assert completed.returncode == 1
    assert completed.stderr.strip().splitlines() == [
        "error: --idle (10) must be at least the largest --broadcast-sizes (1000)"
    ]


def test_metrics_import_times_the_handler_at_both_revisions_and_each_emitter(tmp_path: Path) -> None:
    document = run_bench("metrics_import", tmp_path / "metrics_import.json", "--baseline", "HEAD", "--runs", "1")

    assert_machine_facts(document, "metrics_import")
    results = document["results"]
    assert set(results) == {
        "handler at HEAD",
        "handler, this tree",
        "hand-written lambda_src.observability.metrics",
        "aws-lambda-powertools Metrics",
        "aws-embedded-metrics metric_scope",
    }
    for name in ("handler at HEAD", "handler, this tree", "hand-written lambda_src.observability.metrics"):
        assert positive(results[name]["median_ms"]) and len(results[name]["runs_ms"]) == 1
    # The project's own environment has neither library: they are reported missing, not guessed.
    for name in ("aws-lambda-powertools Metrics", "aws-embedded-metrics metric_scope"):
        assert results[name] == {"missing": True}


def test_fanout_with_a_connections_rate_paces_to_it_delivers_all_and_counts_the_429s(tmp_path: Path) -> None:
    document = run_bench(
        "fanout",
        tmp_path / "fanout.json",
        *("--sizes", "120", "--repeat", "1", "--shard-sizes", "40", "--connections-rate", "60"),
    )

    assert document["parameters"]["connections_rate"] == 60
    [row] = document["results"]["sizes"]
    assert row["baseline"] is None, "boto3's baseline drops throttled posts: skipped under a rate"
    for run in row["ours"]["40"]["function"]:
        assert (run["function_posts"], run["function_failed_posts"]) == (120, 0)
        assert run["function_fanouts"] >= run["function_segments"] >= 3
        assert run["function_unfinished_posts"] == 0
        # 120 posts against a bucket of 30 refilled at 60 per second: the quota answered some with 429.
        assert run["function_throttled"] > 0
        assert positive(run["function_posting_window_s"])
        assert run["function_posts_per_s"] == pytest.approx(120 / run["function_posting_window_s"])


def test_pacing_delivers_every_post_of_every_shard_through_one_bucket_and_counts_the_429s(tmp_path: Path) -> None:
    # 3 shards of 40 at 60 posts/s: the bucket's burst (30) runs out in the first round trips, so 429s must come.
    document = run_bench("pacing", tmp_path / "pacing.json", "--scenarios", "60:120:40", "--lanes", "8")

    assert_machine_facts(document, "pacing")
    (row,) = document["results"]["scenarios"]
    assert (row["rate_per_s"], row["posts"], row["shard_size"], row["shards"]) == (60, 120, 40, 3)
    assert row["throttled"] > 0
    assert row["window_s"] > (120 - 30) / 60 * 0.9, "the bucket let through no more than its rate and burst"
    assert document["parameters"]["scenarios"] == ["60:120:40"]


def test_model_predicts_every_size_recommends_settings_and_compares_with_a_fanout_run(tmp_path: Path) -> None:
    fanout = {
        "parameters": {"latency_ms": 20.0, "workers": 4, "connections_rate": None},
        "results": {"sizes": [{"clients": 1000, "ours": {"0": {"median_s": 1.25}, "250": {"median_s": 1.0}}}]},
    }
    (tmp_path / "fanout.json").write_text(json.dumps(fanout), encoding="utf-8")

    document = run_bench(
        "model", tmp_path / "model.json", "--sizes", "1000,100000", "--validate", str(tmp_path / "fanout.json")
    )

    assert_machine_facts(document, "model")
    results = document["results"]
    small, large = results["predictions"]
    assert (small["clients"], large["clients"]) == (1000, 100_000)
    assert small["seconds"] < large["seconds"]
    # 100,000 posts at the default quota (10,000 per second, burst 5,000) take at least 9.5 s.
    assert large["bounds_s"]["quota"] == pytest.approx(9.5)
    assert large["seconds"] >= 9.5
    assert large["cost_usd"]["messages_usd"] == pytest.approx(0.10)
    assert large["total_usd"] == pytest.approx(sum(large["cost_usd"].values()))
    assert [r["clients"] for r in results["recommended"]] == [1000, 100_000]
    assert [(c["clients"], c["shard_size"], c["measured_s"]) for c in results["validation"]] == [
        (1000, 0, 1.25),
        (1000, 250, 1.0),
    ]
    for compared in results["validation"]:
        assert compared["error"] == pytest.approx(compared["predicted_s"] / compared["measured_s"] - 1)
    assert "docs.aws.amazon.com" in document["parameters"]["aws_sources"]["quotas"]


def test_history_costs_one_store_write_per_room_broadcast_and_a_read_answers_the_page(tmp_path: Path) -> None:
    document = run_bench("history", tmp_path / "history.json", "--sizes", "3", "--broadcasts", "3")

    assert_machine_facts(document, "history")
    rows = document["results"]["rows"]
    assert [(row["store"], row["members"]) for row in rows] == [("s3", 3), ("dynamodb", 3)]
    for row in rows:
        # History on adds exactly the history write to each broadcast; the posts are the same either way.
        assert row["on"]["store_requests_per_broadcast"] == row["off"]["store_requests_per_broadcast"] + 1
        assert (row["on"]["posts"], row["off"]["posts"]) == (3 * 3 + 1, 3 * 3)  # on: and the history reply
        assert row["off"]["read"] is None
        assert positive(row["on"]["median_ms"]) and positive(row["on"]["read"]["ms"])
