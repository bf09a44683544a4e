"""The `history` reply as bytes: every page fits the message limit, frames come back exactly, text stays text."""

from __future__ import annotations

import json

from lambda_src.limits import MAX_MESSAGE_BYTES
from lambda_src.protocol.message_ids import make_id
from lambda_src.rooms.history import OMITTED_TOO_LARGE, page_frame
from lambda_src.store.contract import HistoryEntry


def entry(n: int, data: bytes) -> HistoryEntry:
    return HistoryEntry(make_id(1_700_000_000_000, n), data)


def test_a_page_carries_json_frames_as_json_and_other_text_as_text() -> None:
    entries = [entry(1, b'{"type":"message","id":"x","message":"hi"}'), entry(2, b"plain"), entry(3, b"1e999")]

    page = json.loads(page_frame("r", entries, more=False))

    assert page == {
        "type": "history",
        "room": "r",
        "messages": [
            {"id": entries[0].message_id, "frame": {"type": "message", "id": "x", "message": "hi"}},
            {"id": entries[1].message_id, "text": "plain"},
            {"id": entries[2].message_id, "text": "1e999"},  # JSON that cannot be written back as JSON
        ],
        "next": None,
    }


def test_a_page_that_would_pass_the_message_limit_ends_early_with_the_cursor_of_the_rest() -> None:
    big = json.dumps({"blob": "x" * 50_000}).encode()
    entries = [entry(n, big) for n in range(4)]

    data = page_frame("r", entries, more=False)
    page = json.loads(data)

    assert len(data) <= MAX_MESSAGE_BYTES
    assert [m["id"] for m in page["messages"]] == [entries[0].message_id, entries[1].message_id]
    assert page["next"] == entries[1].message_id


def test_a_frame_too_large_for_any_page_is_named_as_omitted() -> None:
    near_limit = json.dumps({"blob": "x" * (MAX_MESSAGE_BYTES - 20)}).encode()

    page = json.loads(page_frame("r", [entry(1, near_limit), entry(2, b"{}")], more=False))

    assert page["messages"] == [
        {"id": entry(1, b"").message_id, "omitted": OMITTED_TOO_LARGE},
        {"id": entry(2, b"").message_id, "frame": {}},
    ]
    assert page["next"] is None


def test_more_from_the_store_gives_the_last_id_as_next_and_an_empty_page_has_none() -> None:
    entries = [entry(1, b"{}")]

    assert json.loads(page_frame("r", entries, more=True))["next"] == entries[0].message_id
    assert json.loads(page_frame("r", [], more=False)) == {"type": "history", "room": "r", "messages": [], "next": None}
