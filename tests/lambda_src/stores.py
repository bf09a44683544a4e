"""Fresh connection stores of each kind on a real moto server, for the contract suite and the store tests."""

from __future__ import annotations

import itertools

import boto3

from lambda_src.store.contract import ConnectionStore
from lambda_src.store.dynamodb import DynamoDBConnectionStore
from lambda_src.store.open import StoreKind, open_store
from util.local.aws.resources import create_connections_table

__all__ = ["new_store_name", "open_fresh_store"]

_numbers = itertools.count()


def new_store_name(kind: str) -> str:
    return f"contract-{kind}-{next(_numbers)}"


def open_fresh_store(kind: str, endpoint_url: str, **dynamodb_options: object) -> tuple[ConnectionStore, str]:
    """A new, empty bucket or table on moto and the store on it; returns (store, bucket or table name)."""
    session = boto3.session.Session(region_name="us-east-1")
    name = new_store_name(kind)
    if kind == StoreKind.S3:
        session.client("s3", endpoint_url=endpoint_url).create_bucket(Bucket=name)
        return open_store(kind, name, session), name
    if kind == StoreKind.DYNAMODB:
        client = session.client("dynamodb", endpoint_url=endpoint_url)
        create_connections_table(client, name)
        if dynamodb_options:
            return DynamoDBConnectionStore(client, name, **dynamodb_options), name  # type: ignore[arg-type]
        return open_store(kind, name, session), name
    raise AssertionError(f"unknown store kind {kind}")
