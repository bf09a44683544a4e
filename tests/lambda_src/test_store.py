"""The S3 store's own layout: the only tests that read the bucket's keys (the contract suite covers behaviour)."""

from __future__ import annotations

import boto3
import pytest

from lambda_src.services import Services
from lambda_src.store.s3 import (
    BASE64_SYMBOLS,
    CONNECTIONS_PREFIX,
    LIST_PAGE_KEYS,
    S3_DELETE_BATCH,
    S3ConnectionStore,
    connection_key,
    first_page_keys,
    membership_key,
    segment_bound,
)

from .conftest import add_connections

pytestmark = pytest.mark.stack


def test_listing_and_removing_more_than_one_page_and_batch(services: Services) -> None:
    ids = [f"c{i:04d}" for i in range(S3_DELETE_BATCH + 50)]
    add_connections(services, ids, rooms={"big": ids[:20]})

    assert sorted(services.store.connection_ids()) == ids
    assert sorted(services.store.room_members("big")) == ids[:20]

    deleted = services.store.remove(ids)

    assert deleted == len(ids) + 20
    assert list(services.store.connection_ids()) == []
    assert list(services.store.room_members("big")) == []


def test_remove_with_room_hint_deletes_a_membership_without_record(services: Services) -> None:
    add_connections(services, ["a"], rooms={"lobby": ["a"]})
    services.store.remove(["a"])
    add_connections(services, ["b"], rooms={"lobby": ["b"]})
    boto3.client("s3").delete_object(Bucket=services.config.connections_bucket, Key="connections/b")

    services.store.remove(["b"], room="lobby")

    assert list(services.store.room_members("lobby")) == []


def test_keys_are_the_documented_layout_with_ids_percent_encoded(services: Services) -> None:
    add_connections(services, ["a/b+c="], rooms={"lobby": ["a/b+c="]})

    listing = boto3.client("s3").list_objects_v2(Bucket=services.config.connections_bucket)
    keys = sorted(item["Key"] for item in listing.get("Contents", []))

    assert keys == ["connections/a%2Fb%2Bc%3D", "rooms/lobby/a%2Fb%2Bc%3D"]
    assert keys == sorted([connection_key("a/b+c="), membership_key("lobby", "a/b+c=")])


def test_a_segment_lists_only_its_own_key_range(services: Services, monkeypatch: pytest.MonkeyPatch) -> None:
    # The point of segments on S3: each lists its own range of keys, not the whole prefix filtered.
    ids = ["A000", "M000", "g000", "z000"]
    add_connections(services, ids)
    store = services.store
    assert isinstance(store, S3ConnectionStore)
    calls: list[dict[str, object]] = []
    client = store._s3  # the S3 store's own test may watch its client
    real = client.list_objects_v2

    def spy(**kwargs: object) -> object:
        calls.append(kwargs)
        return real(**kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(client, "list_objects_v2", spy)

    parts = [list(store.connection_ids(segment, 4)) for segment in range(4)]

    assert parts == [["A000"], ["M000"], ["g000"], ["z000"]]
    assert [call.get("StartAfter") for call in calls] == [
        None,
        *(CONNECTIONS_PREFIX + str(segment_bound(k, 4)) for k in (1, 2, 3)),
    ]


def test_an_expected_size_sizes_the_first_page_and_the_rest_pages_on_whole(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A range's page is cut at MaxKeys, not at the range's end: without the hint a segment of 1/4,096 of the store
    # fetched 1,000 keys to keep one or two.
    ids = [f"c{i:03d}" for i in range(150)]
    add_connections(services, ids)
    store = services.store
    assert isinstance(store, S3ConnectionStore)
    calls: list[dict[str, object]] = []
    client = store._s3
    real = client.list_objects_v2

    def spy(**kwargs: object) -> object:
        calls.append(kwargs)
        return real(**kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(client, "list_objects_v2", spy)

    assert sorted(store.connection_ids(expected=40)) == ids  # more than expected: nothing is left out
    assert [call["MaxKeys"] for call in calls] == [first_page_keys(40), LIST_PAGE_KEYS]
    assert first_page_keys(40) == 58
    calls.clear()
    assert sorted(store.connection_ids()) == ids
    assert [call["MaxKeys"] for call in calls] == [LIST_PAGE_KEYS]
    assert (first_page_keys(0), first_page_keys(5000)) == (8, LIST_PAGE_KEYS)


def test_segment_bounds_rise_and_cut_the_alphabet_evenly() -> None:
    bounds = [segment_bound(k, 4) for k in range(5)]

    assert bounds[0] is None and bounds[4] is None
    # 64 symbols in key order ("%2B" for '+', "%2F" for '/', digits, upper, lower): a quarter is 16 symbols.
    assert BASE64_SYMBOLS[:3] == ("%2B", "%2F", "0")
    assert bounds[1:4] == ["E%2B%2B", "U%2B%2B", "k%2B%2B"]
    inner = [str(segment_bound(k, 1000)) for k in range(1, 1000)]
    assert inner == sorted(inner)
    assert len(set(inner)) == 999
