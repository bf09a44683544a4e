"""The Python client's pieces that need no server: its protocol facts held equal to the function's (one source),
the backoff schedule, the state machine, and the sans-I/O recovery logic. The behaviour against a real stack is
test_python_scenarios.py."""

from __future__ import annotations

import ast
import inspect
import sys
from pathlib import Path

import pytest

import wspush_client
from lambda_src.errors import ErrorCode
from lambda_src.handlers.message import ACTIONS as SERVER_ACTIONS
from lambda_src.limits import MAX_FRAME_BYTES as SERVER_MAX_FRAME_BYTES
from lambda_src.protocol.message_ids import IdGenerator
from lambda_src.protocol.message_ids import time_prefix as server_time_prefix
from wspush_client import ACTIONS, Backoff, Client, State
from wspush_client._client import MAX_FRAME_BYTES, _fragments, redacted, with_query
from wspush_client._codes import Advice, status_advice
from wspush_client._ids import id_at, is_id, time_ms
from wspush_client._protocol import ERROR_CODES, FrameType, Push, parse
from wspush_client._recovery import RECOVERY_OVERLAP_MS, OverlapFilter, RecoveryCheck, RoomCursor
from wspush_client._state import TRANSITIONS, InvalidTransition, check_transition


def test_the_client_has_every_action_of_the_route_table_as_a_method() -> None:
    assert ACTIONS == SERVER_ACTIONS
    for action in SERVER_ACTIONS:
        assert inspect.iscoroutinefunction(getattr(Client, action)), f"Client has no method for {action!r}"


def test_the_client_knows_every_error_code_and_the_frame_limit_of_the_function() -> None:
    assert frozenset(code.value for code in ErrorCode) == ERROR_CODES
    assert MAX_FRAME_BYTES == SERVER_MAX_FRAME_BYTES


def test_the_client_package_imports_only_the_standard_library_and_websockets() -> None:
    package = Path(inspect.getfile(wspush_client)).parent
    imported: set[str] = set()
    for path in package.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                imported.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                imported.add(node.module.split(".")[0])
    assert imported - set(sys.stdlib_module_names) == {"websockets"}
    assert (package / "py.typed").exists()


def test_ids_read_and_built_by_the_client_agree_with_the_servers() -> None:
    message_id = IdGenerator().new(1_765_000_000_123)
    assert is_id(message_id)
    assert time_ms(message_id) == 1_765_000_000_123
    assert id_at(1_765_000_000_123).startswith(server_time_prefix(1_765_000_000_123))
    assert id_at(1_765_000_000_123) < message_id


def test_backoff_ceilings_double_from_the_base_to_the_cap_and_full_jitter_spans_zero_to_the_ceiling() -> None:
    schedule = Backoff()
    assert [schedule.ceiling(n) for n in range(7)] == [1, 2, 4, 8, 16, 20, 20]
    assert Backoff(random=lambda: 0.0).delay(3) == 0
    assert Backoff(random=lambda: 0.999).delay(3) == pytest.approx(7.992)
    assert schedule.ceiling(10_000) == 20
    with pytest.raises(ValueError, match="base_s"):
        Backoff(base_s=0)


def test_the_state_machine_allows_only_its_transitions() -> None:
    check_transition(State.CONNECTING, State.OPEN)
    check_transition(State.OPEN, State.RECONNECTING)
    with pytest.raises(InvalidTransition):
        check_transition(State.CLOSED, State.OPEN)
    with pytest.raises(InvalidTransition):
        check_transition(State.CONNECTING, State.RECONNECTING)
    assert TRANSITIONS[State.CLOSED] == frozenset()


def test_a_refusal_that_cannot_change_stops_and_the_rest_reconnect() -> None:
    assert [status_advice(s) for s in (400, 401, 403)] == [Advice.STOP] * 3
    assert [status_advice(s) for s in (429, 500, 502, 504)] == [Advice.RECONNECT] * 4


def test_a_cursor_drops_a_duplicate_id_and_recovery_starts_before_the_last_id_seen() -> None:
    cursor = RoomCursor(joined_at_ms=0)
    generator = IdGenerator()
    first, second = generator.new(10_000), generator.new(10_001)
    assert cursor.first_time(first) and cursor.first_time(second)
    assert not cursor.first_time(first)
    assert cursor.last_id == second
    assert cursor.recovery_after() == id_at(10_001 - RECOVERY_OVERLAP_MS)


def test_recovery_is_incomplete_when_history_no_longer_holds_the_last_id_seen() -> None:
    generator = IdGenerator()
    older, last, newer = generator.new(1_000), generator.new(2_000), generator.new(3_000)
    kept = RecoveryCheck(last)
    assert [kept.entry(i) for i in (older, last, newer)] == [True, True, True] and kept.end()
    trimmed = RecoveryCheck(last)
    assert trimmed.entry(newer) is False  # the oldest entry kept is already past the last id seen
    assert trimmed.end() is True  # reported once
    emptied = RecoveryCheck(last)
    assert emptied.end() is False  # nothing kept at all
    assert RecoveryCheck(None).end()


def test_the_overlap_filter_delivers_the_first_copy_of_an_id_less_frame_from_either_connection() -> None:
    overlap = OverlapFilter()
    assert overlap.admit(1, "x", 0.0)
    overlap.start()
    assert overlap.admit(1, "a", 0.0) and not overlap.admit(2, "a", 0.0)
    assert overlap.admit(2, "b", 0.0) and not overlap.admit(1, "b", 0.0)
    assert overlap.admit(1, "c", 0.0) and overlap.admit(1, "c", 0.0)  # two real messages on one connection
    overlap.finish(0.0)
    assert overlap.admit(2, "d", OverlapFilter.GRACE_S + 1) and overlap.admit(1, "d", OverlapFilter.GRACE_S + 1)


def test_a_message_over_32_kb_is_cut_into_frames_between_characters() -> None:
    text = "é" * 40_000  # two bytes each: a cut at 32768 bytes would otherwise be a character boundary by luck
    text = "a" + text
    pieces = _fragments(text)
    assert "".join(pieces) == text
    assert all(len(piece.encode()) <= MAX_FRAME_BYTES for piece in pieces)


def test_the_token_is_in_the_connect_url_and_in_nothing_logged() -> None:
    url = with_query("wss://x.example/live?token=old", "ada", "s3cret")
    assert "token=s3cret" in url and "old" not in url
    assert "s3cret" not in redacted(url)
    with pytest.raises(ValueError, match="not a WebSocket URL") as error:
        Client("https://x.example/live?token=s3cret")
    assert "s3cret" not in str(error.value)


def test_frames_that_are_not_the_services_own_are_pushes() -> None:
    assert parse("plain text") == Push(text="plain text", body=None)
    assert parse('{"hello":1}') == Push(text='{"hello":1}', body={"hello": 1})
    assert {kind.value for kind in FrameType} >= {"message", "direct", "presence", "error", "history"}
