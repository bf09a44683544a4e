"""Room history: every message delivered to a room is kept (the newest `HISTORY_SIZE`, for
`HISTORY_RETENTION_HOURS`), and `history` reads it back after an id, oldest first, a page at a time.

`keep` writes an entry before its fan-out starts, so a frame anyone received is already readable: a client that
reconnects and asks for what came after the last id it saw gets exactly the messages it missed. The entry holds
the frame byte for byte as delivered (a push's body verbatim, a broadcast's frame with its `id`); a `history`
reply carries each one as `{"id", "frame": <the frame's JSON>}`, or `{"id", "text": <the frame>}` when it was not
JSON (a push's body may be anything). Retention is a key bound (`message_ids.time_prefix`), so a read never
returns an expired entry whatever the store's own expiry has deleted yet.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from lambda_src.errors import ErrorCode, ProtocolError
from lambda_src.limits import MAX_MESSAGE_BYTES
from lambda_src.protocol.frames import DECODER, encode
from lambda_src.protocol.message_ids import ID_CHARS, is_id, time_ms, time_prefix
from lambda_src.services import Services
from lambda_src.store.contract import HistoryEntry

OMITTED_TOO_LARGE = "too_large"
"""`omitted` of an entry whose frame cannot fit in any reply (a frame near the message limit)."""
MS_PER_HOUR = 3_600_000


def keep(room: str, message_id: str, data: bytes, services: Services) -> None:
    """Add a delivered frame to its room's history (nothing when history is off)."""
    if services.config.history_size == 0:
        return
    expires_at_s = (time_ms(message_id) + services.config.history_retention_hours * MS_PER_HOUR) // 1000
    services.store.append_history(room, HistoryEntry(message_id, data), expires_at_s)


def require_after(body: Mapping[str, Any]) -> str | None:
    value = body.get("after")
    if value is None:
        return None
    if not is_id(value):
        raise ProtocolError(ErrorCode.INVALID_FIELD, f"field 'after' must be a message id ({ID_CHARS} characters)")
    return str(value)


def require_limit(body: Mapping[str, Any], cap: int) -> int:
    value = body.get("limit", cap)
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= cap:
        raise ProtocolError(ErrorCode.INVALID_FIELD, f"field 'limit' must be an integer from 1 to {cap}")
    return value


def read(room: str, after: str | None, limit: int, services: Services) -> bytes:
    """The `history` reply: the page of `room`'s messages after `after` (the oldest kept when None)."""
    config = services.config
    if config.history_size == 0:
        raise ProtocolError(ErrorCode.HISTORY_DISABLED, "this service keeps no history (HISTORY_SIZE is 0)")
    oldest = time_prefix(services.clock_ms() - config.history_retention_hours * MS_PER_HOUR)
    bound = oldest if after is None or after < oldest else after
    entries, more = services.store.history(room, bound, limit, config.history_size)
    return page_frame(room, entries, more)


def page_frame(room: str, entries: list[HistoryEntry], more: bool) -> bytes:
    """`{"type":"history","room","messages","next"}` within the message limit; `next` is the `after` of the next
    page, null when this one ends the history. Entries that do not fit move to the next page."""
    header = len(encode({"type": "history", "room": room, "messages": [], "next": "0" * ID_CHARS}))
    used = header
    messages: list[bytes] = []
    last_id: str | None = None
    for entry in entries:
        item = _item(entry)
        if used + len(item) + 1 > MAX_MESSAGE_BYTES:
            if messages:
                more = True
                break
            item = encode({"id": entry.message_id, "omitted": OMITTED_TOO_LARGE})
        messages.append(item)
        used += len(item) + 1
        last_id = entry.message_id
    next_id = last_id if more and last_id is not None else None
    # The items are encoded already: splice them in rather than decode and encode each frame again.
    head = encode({"type": "history", "room": room})[:-1]
    return head + b',"messages":[' + b",".join(messages) + b'],"next":' + json.dumps(next_id).encode() + b"}"


def _item(entry: HistoryEntry) -> bytes:
    try:
        return encode({"id": entry.message_id, "frame": DECODER.decode(entry.data.decode("utf-8"))})
    except (ValueError, RecursionError):
        # Not JSON, or JSON that cannot be written back as JSON (`1e999`): a push's body may be any text, and it
        # is carried as text, exactly. (UnicodeDecodeError is a ValueError.)
        return encode({"id": entry.message_id, "text": entry.data.decode("utf-8", "replace")})
