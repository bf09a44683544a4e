"""Typed requests: every event the Lambda can receive, parsed once from its raw dict.

`parse_event` never raises: an event of no known shape becomes `UnknownEvent`, which the handler logs and
answers with 400.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, TypeGuard

from lambda_src.protocol.identity import Identity, from_authorizer
from lambda_src.store.contract import MAX_SEGMENTS


@dataclass(frozen=True)
class ConnectRequest:
    connection_id: str
    request_id: str | None
    source_ip: str | None
    connected_at_ms: int
    query: Mapping[str, str]
    identity: Identity | None = None
    """What the `$connect` authorizer established (`requestContext.authorizer`); None without one."""


@dataclass(frozen=True)
class DisconnectRequest:
    connection_id: str
    request_id: str | None
    status_code: int | None
    reason: str | None
    identity: Identity | None = None


@dataclass(frozen=True)
class MessageRequest:
    connection_id: str
    request_id: str | None
    route_key: str
    body: str | None
    """The frame as text; None when a binary frame was not valid UTF-8."""
    received_at_ms: int
    identity: Identity | None = None
    """The sender as the `$connect` authorizer established it; API Gateway repeats it in every event."""


@dataclass(frozen=True)
class AuthorizeRequest:
    """API Gateway's REQUEST authorizer event for `$connect`: answered with an IAM policy, not a status."""

    method_arn: str
    connection_id: str | None
    request_id: str | None
    query: Mapping[str, str]
    headers: Mapping[str, str]


@dataclass(frozen=True)
class PushRecord:
    """One SNS notification; `attributes` keeps the String-typed message attributes."""

    message_id: str
    message: str
    attributes: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class PushRequest:
    records: tuple[PushRecord, ...]
    skipped: int
    """Records that were not SNS notifications (logged, not delivered)."""


@dataclass(frozen=True)
class Shard:
    """A slice of a large fan-out, posted by its own invocation (see `shards`)."""

    index: int
    data: bytes
    connection_ids: tuple[str, ...]
    room: str | None
    origin: str | None
    """The request id of the invocation that split the fan-out, to follow a broadcast through the logs."""
    part: str | None = None
    """The token of the shard's claim (`delivery.claims`); None in an event of older code."""

    def to_event(self) -> bytes:
        fields = {"index": self.index, "room": self.room, "origin": self.origin, "part": self.part}
        return _internal_event(SHARD_EVENT_SOURCE, "shard", fields, self.data, self.connection_ids)


@dataclass(frozen=True)
class Continuation:
    """The rest of a fan-out that an invocation could not post before its deadline (see `continuation`)."""

    data: bytes
    connection_ids: tuple[str, ...]
    room: str | None
    origin: str | None
    """The request id of the invocation whose fan-out this continues (the first of the chain)."""
    hop: int
    """1 for the first continuation of a fan-out, 2 for the continuation of that one, and so on."""
    part: str | None = None
    """The token of the continuation's claim (`delivery.claims`); None in an event of older code."""

    def to_event(self) -> bytes:
        fields = {"hop": self.hop, "room": self.room, "origin": self.origin, "part": self.part}
        return _internal_event(CONTINUATION_EVENT_SOURCE, "continuation", fields, self.data, self.connection_ids)


@dataclass(frozen=True)
class SegmentShard:
    """One segment of a broadcast to everyone: its invocation lists the segment itself and posts (see `segments`).

    Carries no ids, so its event is small whatever the audience; `exclude` is the sender of a broadcast sent with
    `echo: false`.
    """

    segment: int
    segments: int
    data: bytes
    origin: str | None
    """The request id of the invocation that split the broadcast into segments."""
    exclude: str | None = None
    part: str | None = None
    """The token of the segment's claim (`delivery.claims`); None in an event of older code."""

    def to_event(self) -> bytes:
        fields = {
            "segment": self.segment,
            "segments": self.segments,
            "origin": self.origin,
            "exclude": self.exclude,
            "part": self.part,
        }
        return _internal_event(SEGMENT_EVENT_SOURCE, "segment", fields, self.data)


def _internal_event(
    source: str, key: str, fields: Mapping[str, object], data: bytes, ids: tuple[str, ...] | None = None
) -> bytes:
    """The event one invocation of the function sends another: `{"source": ..., key: {fields, data, ids}}`."""
    body: dict[str, object] = {**fields, "data": base64.b64encode(data).decode("ascii")}
    if ids is not None:
        body["connectionIds"] = list(ids)
    return json.dumps({"source": source, key: body}, separators=(",", ":")).encode("utf-8")


@dataclass(frozen=True)
class UnknownEvent:
    reason: str


Request = (
    ConnectRequest
    | DisconnectRequest
    | MessageRequest
    | PushRequest
    | Shard
    | Continuation
    | SegmentShard
    | AuthorizeRequest
    | UnknownEvent
)

SHARD_EVENT_SOURCE = "wspush.shard"
CONTINUATION_EVENT_SOURCE = "wspush.continuation"
SEGMENT_EVENT_SOURCE = "wspush.segment"


def parse_event(event: object) -> Request:
    if not isinstance(event, Mapping):
        return UnknownEvent(f"event is a {type(event).__name__}, not an object")
    if "Records" in event:
        return _parse_push(event["Records"])
    if event.get("source") == SHARD_EVENT_SOURCE:
        return _parse_shard(event.get("shard"))
    if event.get("source") == CONTINUATION_EVENT_SOURCE:
        return _parse_continuation(event.get("continuation"))
    if event.get("source") == SEGMENT_EVENT_SOURCE:
        return _parse_segment(event.get("segment"))
    context = event.get("requestContext")
    if event.get("type") == "REQUEST" and isinstance(event.get("methodArn"), str):
        # Checked before eventType: the authorizer's event also says CONNECT.
        context = _mapping(context)
        return AuthorizeRequest(
            method_arn=event["methodArn"],
            connection_id=_str_or_none(context.get("connectionId")),
            request_id=_str_or_none(context.get("requestId")),
            query=_string_map(event.get("queryStringParameters")),
            headers=_string_map(event.get("headers")),
        )
    if not isinstance(context, Mapping):
        return UnknownEvent("event has neither Records nor requestContext")
    connection_id = context.get("connectionId")
    if not isinstance(connection_id, str) or not connection_id:
        return UnknownEvent("requestContext has no connectionId")
    request_id = _str_or_none(context.get("requestId"))
    event_type = context.get("eventType")
    if event_type == "CONNECT":
        identity = context.get("identity")
        return ConnectRequest(
            connection_id=connection_id,
            request_id=request_id,
            source_ip=_str_or_none(identity.get("sourceIp")) if isinstance(identity, Mapping) else None,
            connected_at_ms=_int_or(context.get("connectedAt"), 0),
            query=_string_map(event.get("queryStringParameters")),
            identity=from_authorizer(context.get("authorizer")),
        )
    if event_type == "DISCONNECT":
        status = context.get("disconnectStatusCode")
        return DisconnectRequest(
            connection_id=connection_id,
            request_id=request_id,
            status_code=status if isinstance(status, int) else None,
            reason=_str_or_none(context.get("disconnectReason")),
            identity=from_authorizer(context.get("authorizer")),
        )
    if event_type == "MESSAGE":
        route_key = context.get("routeKey")
        if not isinstance(route_key, str):
            return UnknownEvent("MESSAGE event has no routeKey")
        return MessageRequest(
            connection_id=connection_id,
            request_id=request_id,
            route_key=route_key,
            body=_body_text(event.get("body"), event.get("isBase64Encoded") is True),
            received_at_ms=_int_or(context.get("requestTimeEpoch"), 0),
            identity=from_authorizer(context.get("authorizer")),
        )
    return UnknownEvent(f"unknown eventType {str(event_type)[:40]!r}")


def _parse_push(records: object) -> PushRequest | UnknownEvent:
    if not isinstance(records, list):
        return UnknownEvent("Records is not a list")
    parsed: list[PushRecord] = []
    skipped = 0
    for record in records:
        sns = record.get("Sns") if isinstance(record, Mapping) else None
        is_sns = isinstance(record, Mapping) and record.get("EventSource") == "aws:sns"
        if not is_sns or not isinstance(sns, Mapping) or not isinstance(sns.get("Message"), str):
            skipped += 1
            continue
        attributes = {
            name: attr["Value"]
            for name, attr in _mapping(sns.get("MessageAttributes")).items()
            if isinstance(attr, Mapping) and attr.get("Type") == "String" and isinstance(attr.get("Value"), str)
        }
        parsed.append(PushRecord(str(sns.get("MessageId", "")), sns["Message"], attributes))
    if not parsed and skipped:
        return UnknownEvent(f"none of the {skipped} records is an SNS notification")
    return PushRequest(tuple(parsed), skipped)


def _parse_shard(shard: object) -> Shard | UnknownEvent:
    if not isinstance(shard, Mapping):
        return UnknownEvent("shard event without shard")
    index, room = shard.get("index"), shard.get("room")
    parsed = _data_and_ids(shard, "shard")
    if isinstance(parsed, UnknownEvent):
        return parsed
    data, ids = parsed
    if not (isinstance(index, int) and (room is None or isinstance(room, str))):
        return UnknownEvent("shard index or room malformed")
    return Shard(index, data, ids, room, _str_or_none(shard.get("origin")), _str_or_none(shard.get("part")))


def _parse_continuation(continuation: object) -> Continuation | UnknownEvent:
    if not isinstance(continuation, Mapping):
        return UnknownEvent("continuation event without continuation")
    hop, room = continuation.get("hop"), continuation.get("room")
    parsed = _data_and_ids(continuation, "continuation")
    if isinstance(parsed, UnknownEvent):
        return parsed
    data, ids = parsed
    if not (_int_or(hop, 0) >= 1 and (room is None or isinstance(room, str))):
        return UnknownEvent("continuation hop or room malformed")
    return Continuation(
        data,
        ids,
        room,
        _str_or_none(continuation.get("origin")),
        _int_or(hop, 1),
        _str_or_none(continuation.get("part")),
    )


def _parse_segment(segment: object) -> SegmentShard | UnknownEvent:
    if not isinstance(segment, Mapping):
        return UnknownEvent("segment event without segment")
    index, total, exclude = segment.get("segment"), segment.get("segments"), segment.get("exclude")
    if not (_is_int(index) and _is_int(total) and 0 <= index < total <= MAX_SEGMENTS):
        return UnknownEvent("segment index or count malformed")
    if not (exclude is None or isinstance(exclude, str)):
        return UnknownEvent("segment exclude is not a string")
    data = _data(segment, "segment")
    if isinstance(data, UnknownEvent):
        return data
    return SegmentShard(
        index, total, data, _str_or_none(segment.get("origin")), exclude, _str_or_none(segment.get("part"))
    )


def _data(body: Mapping[str, Any], what: str) -> bytes | UnknownEvent:
    try:
        return base64.b64decode(str(body.get("data")), validate=True)
    except binascii.Error:
        return UnknownEvent(f"{what} data is not base64")


def _data_and_ids(body: Mapping[str, Any], what: str) -> tuple[bytes, tuple[str, ...]] | UnknownEvent:
    """An internal event's frame and recipients, or what is wrong with them."""
    data = _data(body, what)
    if isinstance(data, UnknownEvent):
        return data
    ids = body.get("connectionIds")
    if not (isinstance(ids, list) and all(isinstance(i, str) for i in ids)):
        return UnknownEvent(f"{what} connectionIds is not a list of strings")
    return data, tuple(ids)


def _is_int(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _body_text(body: object, is_base64: bool) -> str | None:
    if not isinstance(body, str):
        return None
    if not is_base64:
        return body
    try:
        return base64.b64decode(body, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None


def _mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _string_map(value: object) -> dict[str, str]:
    return {str(k): v for k, v in _mapping(value).items() if isinstance(v, str)}


def _str_or_none(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _int_or(value: object, default: int) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else default
