"""Pushes from outside: SNS notifications delivered verbatim to every connection, a room, or one connection.

The publisher owns the format: the SNS `Message` is posted byte for byte, JSON or not. Message attributes
narrow the recipients: `connectionId` (one connection) takes precedence over `room` (its members).
"""

from __future__ import annotations

from collections.abc import Iterable

from .delivery import deliver
from .events import PushRecord, PushRequest
from .fanout import FanoutSummary
from .limits import MAX_MESSAGE_BYTES
from .protocol import ProtocolError, validate_room
from .services import Services

ROOM_ATTRIBUTE = "room"
CONNECTION_ATTRIBUTE = "connectionId"


def on_push(request: PushRequest, services: Services) -> dict[str, int]:
    """Deliver every record; a bad or failing record is logged and skipped, never stopping the others."""
    delivered_records = 0
    failed_records = 0
    for record in request.records:
        try:
            summary = deliver_record(record, services)
        except Exception:
            services.logger.exception("push failed", extra={"snsMessageId": record.message_id})
            failed_records += 1
            continue
        if summary is None:
            failed_records += 1
        else:
            delivered_records += 1
    if request.skipped:
        services.logger.warning("records skipped: not SNS notifications", extra={"skipped": request.skipped})
    return {
        "statusCode": 200 if failed_records == 0 else 500,
        "records": len(request.records),
        "delivered": delivered_records,
        "failed": failed_records,
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
        recipients = services.store.room_members(room)
    else:
        recipients = services.store.connection_ids()
    services.logger.info("push", extra={"snsMessageId": record.message_id, "room": room, "target": target})
    return deliver(connection_ids=recipients, data=data, room=room, services=services)
