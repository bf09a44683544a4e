"""Pushes from outside: SNS notifications delivered verbatim to every connection, a room, or one connection.

The publisher owns the format: the SNS `Message` is posted byte for byte, JSON or not. Message attributes
narrow the recipients: `connectionId` (one connection) takes precedence over `room` (its members). A push to a
room is kept in its history under a message id, which the verbatim body cannot carry (see `history`).

Idempotent: a push is named by its `idempotencyKey` attribute if it has one, else by its SNS `MessageId` (the same
for every delivery of one notification), and that name is its claim (`delivery.claims`). Within
`IDEMPOTENCY_WINDOW_S` of its first attempt, a push of the same name reaches nobody it reached already: SNS
delivering it again, Lambda running it again, a publisher that publishes it again after a timeout. After the window
the same key is a new message. A retry or replay of a push that did not complete resumes it whenever it comes (the
claim is kept `claims.CLAIM_TTL_S`).
"""

from __future__ import annotations

import hashlib
from collections import Counter
from enum import Enum

from lambda_src.delivery import claims
from lambda_src.delivery.deliver import deliver
from lambda_src.delivery.plan import Delivery
from lambda_src.delivery.segments import deliver_to_everyone
from lambda_src.errors import ProtocolError, PushFailed
from lambda_src.limits import MAX_MESSAGE_BYTES
from lambda_src.observability import metrics
from lambda_src.observability.context import current_request_id
from lambda_src.protocol.events import PushRecord, PushRequest
from lambda_src.protocol.frames import validate_room
from lambda_src.protocol.message_ids import new_id
from lambda_src.rooms import history
from lambda_src.services import Services

ROOM_ATTRIBUTE = "room"
CONNECTION_ATTRIBUTE = "connectionId"
IDEMPOTENCY_ATTRIBUTE = "idempotencyKey"
IDEMPOTENCY_WINDOW_S = 300
"""How long a completed push's name stays taken, counted from its first attempt: 5 minutes, as Centrifugo keeps an
idempotency key. A push that did not complete is resumed by its retries and replays whenever they come."""
MESSAGE_ID_FACT = "messageId"
"""The history id a room push's claim keeps for its retries."""
SOURCE = metrics.Source.PUSH


class RecordOutcome(Enum):
    DELIVERED = "delivered"
    REFUSED = "refused"
    """The record itself is invalid (logged): a retry would fail the same way."""
    DUPLICATE = "duplicate"
    """Its claim says it was delivered already (SNS delivered it again, or Lambda ran the event again)."""


def on_push(request: PushRequest, services: Services) -> dict[str, int]:
    """Deliver every record; raises `PushFailed` if one could not be handled, so that Lambda retries the event.

    A record that is itself invalid (too large, a bad room attribute) is logged and dropped: a retry would fail
    the same way. Each record is a part with a claim (`delivery.claims`), so the retry of an event posts nothing its
    records had posted: neither a record that was delivered, nor the recipients a failed one had reached.
    """
    outcomes: Counter[RecordOutcome] = Counter()
    failures: list[str] = []
    for record in request.records:
        try:
            outcomes[deliver_record(record, services)] += 1
        except Exception as error:
            services.logger.exception("push failed", extra={"snsMessageId": record.message_id})
            failures.append(_error_name(error))
    if request.skipped:
        services.logger.warning("records skipped: not SNS notifications", extra={"skipped": request.skipped})
    if failures:
        raise PushFailed(f"{len(failures)} of {len(request.records)} records failed: {', '.join(failures)}")
    return {
        "statusCode": 200,
        "records": len(request.records),
        "delivered": outcomes[RecordOutcome.DELIVERED],
        "refused": outcomes[RecordOutcome.REFUSED],
        "duplicates": outcomes[RecordOutcome.DUPLICATE],
    }


def _error_name(error: BaseException) -> str:
    """The error's type, and the AWS error code it carries when that says more (`ClientError (SlowDown)`)."""
    name = type(error).__name__
    response = getattr(error, "response", None)
    code = response.get("Error", {}).get("Code") if isinstance(response, dict) else None
    return f"{name} ({code})" if isinstance(code, str) and code and code != name else name


def push_token(record: PushRecord) -> str:
    """The token of the record's claim: its idempotency key if it has one, else its SNS message id."""
    key = record.attributes.get(IDEMPOTENCY_ATTRIBUTE)
    if key:
        # Hashed: a key is the publisher's text of any length; 128 bits keep two keys apart.
        return f"push/key/{hashlib.blake2b(key.encode('utf-8', 'surrogatepass'), digest_size=16).hexdigest()}"
    return f"push/sns/{record.message_id or current_request_id() or 'none'}"


def deliver_record(record: PushRecord, services: Services) -> RecordOutcome:
    """Fan one notification out, to whoever its claim has not answered yet."""
    data = record.message.encode("utf-8")
    if len(data) > MAX_MESSAGE_BYTES:
        services.logger.error(
            "push refused: message too large",
            extra={"snsMessageId": record.message_id, "bytes": len(data), "limit": MAX_MESSAGE_BYTES},
        )
        return RecordOutcome.REFUSED
    target = record.attributes.get(CONNECTION_ATTRIBUTE)
    room: str | None = None
    if not target and ROOM_ATTRIBUTE in record.attributes:
        try:
            room = validate_room(record.attributes[ROOM_ATTRIBUTE])
        except ProtocolError as error:
            services.logger.error(
                "push refused: bad room attribute",
                extra={"snsMessageId": record.message_id, "error": error.message},
            )
            return RecordOutcome.REFUSED
    part = claims.hold(push_token(record), services, wait=True, window_s=IDEMPOTENCY_WINDOW_S)
    if part is None:
        services.logger.info(
            "push already delivered: not posted again",
            extra={"snsMessageId": record.message_id, "idempotencyKey": record.attributes.get(IDEMPOTENCY_ATTRIBUTE)},
        )
        return RecordOutcome.DUPLICATE
    with part:
        services.logger.info("push", extra={"snsMessageId": record.message_id, "room": room, "target": target})
        if target:
            deliver([target], Delivery(data, source=SOURCE), services, part=part)
        elif room is not None:
            if services.config.history_size:
                # The body stays verbatim: its id lives in the room's history only (docs/protocol.md, "History"). A
                # retry keeps the first attempt's id, so the room keeps one entry.
                message_id = part.remember(MESSAGE_ID_FACT, new_id(services.clock_ms()))
                history.keep(room, message_id, data, services)
            recipients = services.store.room_members(room)
            deliver(recipients, Delivery(data, room, SOURCE), services, part=part)
        else:
            deliver_to_everyone(data=data, services=services, source=SOURCE, part=part)
    return RecordOutcome.DELIVERED
