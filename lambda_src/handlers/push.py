"""Pushes from outside: SNS notifications delivered verbatim to every connection, a room, or one connection.

The publisher owns the format: the SNS `Message` is posted byte for byte, JSON or not. Message attributes
narrow the recipients: `connectionId` (one connection) takes precedence over `room` (its members). A push to a
room is kept in its history under a message id, which the verbatim body cannot carry (see `history`).
"""

from __future__ import annotations

from collections.abc import Iterable

from lambda_src.delivery.deliver import deliver
from lambda_src.delivery.fanout import FanoutSummary
from lambda_src.delivery.segments import deliver_to_everyone
from lambda_src.errors import ProtocolError, PushFailed
from lambda_src.limits import MAX_MESSAGE_BYTES
from lambda_src.observability import metrics
from lambda_src.protocol.events import PushRecord, PushRequest
from lambda_src.protocol.frames import validate_room
from lambda_src.protocol.message_ids import new_id
from lambda_src.rooms import history
from lambda_src.services import Services

ROOM_ATTRIBUTE = "room"
CONNECTION_ATTRIBUTE = "connectionId"


def on_push(request: PushRequest, services: Services) -> dict[str, int]:
    """Deliver every record; raises `PushFailed` if one could not be handled, so that Lambda retries the event.

    A record that is itself invalid (too large, a bad room attribute) is logged and dropped: a retry would fail
    the same way. SNS sends one record per event, so a retry repeats no other record's delivery.
    """
    delivered_records = 0
    refused_records = 0
    failures: list[str] = []
    for record in request.records:
        try:
            summary = deliver_record(record, services)
        except Exception as error:
            services.logger.exception("push failed", extra={"snsMessageId": record.message_id})
            failures.append(type(error).__name__)
            continue
        if summary is None:
            refused_records += 1
        else:
            delivered_records += 1
    if request.skipped:
        services.logger.warning("records skipped: not SNS notifications", extra={"skipped": request.skipped})
    if failures:
        raise PushFailed(f"{len(failures)} of {len(request.records)} records failed: {', '.join(failures)}")
    return {
        "statusCode": 200,
        "records": len(request.records),
        "delivered": delivered_records,
        "refused": refused_records,
    }


def deliver_record(record: PushRecord, services: Services) -> FanoutSummary | None:
    """Fan one notification out; None when the record itself is invalid (logged)."""
    data = record.message.encode("utf-8")
    if len(data) > MAX_MESSAGE_BYTES:
        services.logger.error(
            "push refused: message too large",
            extra={"snsMessageId": record.message_id, "bytes": len(data), "limit": MAX_MESSAGE_BYTES},
        )
        return None
    target = record.attributes.get(CONNECTION_ATTRIBUTE)
    room: str | None = None
    recipients: Iterable[str]
    if target:
        recipients = [target]
    elif ROOM_ATTRIBUTE in record.attributes:
        try:
            room = validate_room(record.attributes[ROOM_ATTRIBUTE])
        except ProtocolError as error:
            services.logger.error(
                "push refused: bad room attribute",
                extra={"snsMessageId": record.message_id, "error": error.message},
            )
            return None
        # The body stays verbatim: its id lives in the room's history only (docs/protocol.md, "History").
        history.keep(room, new_id(services.clock_ms()), data, services)
        recipients = services.store.room_members(room)
    else:
        services.logger.info("push", extra={"snsMessageId": record.message_id, "room": None, "target": None})
        return deliver_to_everyone(data=data, services=services, source=metrics.Source.PUSH)
    services.logger.info("push", extra={"snsMessageId": record.message_id, "room": room, "target": target})
    return deliver(connection_ids=recipients, data=data, room=room, services=services, source=metrics.Source.PUSH)
