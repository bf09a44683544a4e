"""The S3 connection store past one page of listing and one batch of deletes."""

from __future__ import annotations

from lambda_src.services import Services
from lambda_src.store import S3_DELETE_BATCH

from .conftest import add_connections


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
    services.store._s3.delete_object(Bucket=services.config.connections_bucket, Key="connections/b")  # type: ignore[attr-defined]

    services.store.remove(["b"], room="lobby")

    assert list(services.store.room_members("lobby")) == []
