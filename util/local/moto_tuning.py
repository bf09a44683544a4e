"""Two per-request costs of moto's server, removed in the embedded moto's process (see `moto_process`)."""

from __future__ import annotations

from datetime import datetime
from typing import Any


def trim_moto_overheads() -> None:
    """Remove two per-request costs of moto's server.

    Profiled under the benchmarks (docs/benchmarks.md), both answers never change in a running process:
    - moto finds a request's backend by listing its own package directory (`os.listdir` plus `isdir` on ~150
      entries) on every request: about a fifth of moto's CPU per S3 call. The listing is cached.
    - moto's response serializer re-parses every timestamp it has just formatted with dateutil; a
      ListObjectsV2 page of 1,000 keys spent ~90 ms of CPU on that. ISO 8601 strings with a zone (all that
      moto formats) are parsed with `datetime.fromisoformat`; anything else still goes to moto's own parser.
    Idempotent; a moto without these names is left as it is.
    """
    from moto import backends
    from moto.core import serialize as serialize_module

    serialize: Any = serialize_module  # its parser is an import moto does not re-export
    listing = backends.list_of_moto_modules
    if not getattr(listing, "wspush_cached", False):
        modules = tuple(listing())

        def cached_listing() -> tuple[str, ...]:
            return modules

        cached_listing.wspush_cached = True  # type: ignore[attr-defined]
        backends.list_of_moto_modules = cached_listing

    parse = getattr(serialize, "parse_to_aware_datetime", None)
    if parse is not None and not getattr(parse, "wspush_fast", False):

        def fast_parse(value: Any) -> Any:
            if isinstance(value, datetime) and value.tzinfo is not None:
                return value
            if isinstance(value, str):
                try:
                    parsed = datetime.fromisoformat(value)
                except ValueError:
                    return parse(value)
                if parsed.tzinfo is not None:
                    return parsed
            return parse(value)

        fast_parse.wspush_fast = True  # type: ignore[attr-defined]
        serialize.parse_to_aware_datetime = fast_parse
