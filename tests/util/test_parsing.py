"""Pure pieces of `util`, tested in-process: typed lines, URLs, --since, log and frame rendering, errors."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError
from rich.text import Text

from util.connect import QUIT, LineError, redacted, refusal_reason, room_change, translate_line, with_query
from util.errors import InputError, UnknownWorkspace, describe, exit_code
from util.frame_output import compact_line, json_line, pretty
from util.tail_logs import LogEvent, parse_since, render
from util.terraform import first_error_line

NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
NOW_MS = int(NOW.timestamp() * 1000)


@pytest.mark.parametrize(
    ("line", "frame"),
    [
        ("hello", {"action": "broadcast", "message": "hello"}),
        ("  padded  ", {"action": "broadcast", "message": "padded"}),
        ("/whoami", {"action": "whoami"}),
        ("/join lobby", {"action": "join", "room": "lobby"}),
        ("/leave lobby", {"action": "leave", "room": "lobby"}),
        ("/members lobby", {"action": "members", "room": "lobby"}),
        ("/history lobby", {"action": "history", "room": "lobby"}),
        ("/send abc= hello there", {"action": "send", "to": "abc=", "message": "hello there"}),
        ('{"action": "broadcast", "message": 1, "echo": false}', {"action": "broadcast", "message": 1, "echo": False}),
    ],
)
def test_translate_line_builds_the_protocol_frame(line: str, frame: dict[str, object]) -> None:
    translated = translate_line(line)
    assert isinstance(translated, str)
    assert json.loads(translated) == frame


def test_translate_line_sends_a_json_line_byte_for_byte() -> None:
    assert translate_line('{"action":"whoami" }') == '{"action":"whoami" }'


def test_translate_line_ignores_blank_lines_and_knows_quit() -> None:
    assert translate_line("   ") is None
    assert translate_line("/quit") is QUIT


@pytest.mark.parametrize(
    ("line", "error"),
    [
        ("{broken", "not valid JSON"),
        ("/join", "usage: /join ROOM"),
        ("/join two words", "usage: /join ROOM"),
        ("/history", "usage: /history ROOM"),
        ("/members a b", "usage: /members ROOM"),
        ("/send abc=", "usage: /send CONNECTION_ID TEXT"),
        ("/shout hi", "unknown command /shout"),
    ],
)
def test_translate_line_refuses_malformed_lines(line: str, error: str) -> None:
    with pytest.raises(LineError, match=error):
        translate_line(line)


def test_with_query_sets_name_and_token_and_keeps_other_parameters() -> None:
    url = with_query("wss://abc.execute-api.eu-west-1.amazonaws.com/live?x=1&name=old", "Ada", "t0k")
    assert url == "wss://abc.execute-api.eu-west-1.amazonaws.com/live?x=1&name=Ada&token=t0k"


def test_redacted_hides_only_the_token_value() -> None:
    assert redacted("ws://h:1/live?name=Ada&token=t0k") == "ws://h:1/live?name=Ada&token=***"


def test_with_query_refuses_other_schemes() -> None:
    with pytest.raises(InputError, match="not a WebSocket URL"):
        with_query("https://example.com/live", None, None)


@pytest.mark.parametrize(
    ("text", "ago_s"), [("30s", 30), ("10m", 600), ("2h", 7200), ("1d", 86400), ("1w", 604800), (" 5 m ", 300)]
)
def test_parse_since_reads_durations(text: str, ago_s: int) -> None:
    assert parse_since(text, NOW) == NOW_MS - ago_s * 1000


def test_parse_since_reads_iso_times_as_utc_unless_zoned() -> None:
    assert parse_since("2026-01-02T03:00:00", NOW) == NOW_MS - 245_000
    assert parse_since("2026-01-02T04:00:00+01:00", NOW) == NOW_MS - 245_000


@pytest.mark.parametrize("text", ["", "10", "m10", "ten minutes", "10y", "-5m"])
def test_parse_since_refuses_anything_else(text: str) -> None:
    with pytest.raises(InputError, match="invalid --since"):
        parse_since(text, NOW)


def test_render_shows_level_message_and_fields_of_a_json_line() -> None:
    message = json.dumps(
        {"timestamp": "x", "level": "WARNING", "message": "slow", "logger": "wspush", "ms": 12, "room": "a b"}
    )
    line = render(LogEvent(timestamp_ms=NOW_MS + 7, source="lambda", event_id="1", message=message))
    assert line.plain == '2026-01-02T03:04:05.007Z lambda WARNING slow  ms=12 room="a b"'
    assert any(span.style == "yellow" for span in line.spans)


def test_render_puts_an_exception_under_its_line() -> None:
    message = json.dumps({"level": "ERROR", "message": "boom", "exception": "Traceback\n  File x\nValueError"})
    line = render(LogEvent(timestamp_ms=NOW_MS, source="lambda", event_id="1", message=message))
    assert line.plain.splitlines()[1:] == ["    Traceback", "      File x", "    ValueError"]


def test_pretty_marks_the_direction_and_highlights_only_the_frame() -> None:
    moment = datetime(2026, 1, 2, 3, 4, 5, 678_900)
    (line,) = pretty('{"a":[1]}', moment, "<", width=80)
    assert isinstance(line, Text)
    assert line.plain == '< 03:04:05.678 {"a": [1]}'
    # The time is dim; the frame's own spans are the JSON highlighter's, not the time's style.
    frame_styles = {str(span.style) for span in line.spans if span.start >= len("< 03:04:05.678 ")}
    assert "dim" not in frame_styles and frame_styles, line.spans
    (binary,) = pretty(b"\x00\x01", moment, ">", width=80)
    assert isinstance(binary, Text)
    assert binary.plain == "> 03:04:05.678 <binary frame, 2 bytes>"


def test_compact_and_json_lines_are_one_line_each() -> None:
    moment = datetime(2026, 1, 2, 3, 4, 5, 678_900, tzinfo=UTC)
    assert compact_line('{\n "a": [1, 2]\n}') == '{"a":[1,2]}'
    assert compact_line("two\nlines") == "two\\nlines"
    assert json.loads(json_line('{"a": 1}', moment)) == {"time": "2026-01-02T03:04:05.678+00:00", "frame": {"a": 1}}
    assert json.loads(json_line("hi", moment)) == {"time": "2026-01-02T03:04:05.678+00:00", "text": "hi"}


def test_refusal_reason_reads_the_error_frame_or_the_body() -> None:
    assert refusal_reason(b'{"type": "error", "code": "bad_name", "error": "a name is at most 64 characters"}') == (
        "a name is at most 64 characters"
    )
    assert refusal_reason(b"Forbidden\n") == "Forbidden"
    assert refusal_reason(b"x" * 1000).endswith("...")


def test_room_change_tracks_join_and_leave_only() -> None:
    assert room_change('{"action": "join", "room": "r"}') == ("join", "r")
    assert room_change('{"action":"leave","room":"r"}') == ("leave", "r")
    assert room_change('{"action": "broadcast", "message": "join"}') is None
    assert room_change("not json") is None


def test_first_error_line_skips_warnings_and_joins_the_reason() -> None:
    stderr = (
        "╷\n│ Warning: Unable to open CLI configuration file\n╵\n"
        "╷\n│ Error: Backend initialization required\n│\n│ Reason: Unsetting the previously set backend\n╵\n"
    )
    assert first_error_line(stderr) == "Backend initialization required: Reason: Unsetting the previously set backend"


def test_describe_turns_library_errors_into_one_line() -> None:
    client_error = ClientError({"Error": {"Code": "AccessDenied", "Message": "not\nallowed"}}, operation_name="Publish")
    assert describe(client_error) == "Publish failed: AccessDenied: not allowed"
    assert describe(EndpointConnectionError(endpoint_url="http://127.0.0.1:9")) == (
        "cannot reach http://127.0.0.1:9: is it running?"
    )
    assert describe(ValueError("odd")) == "unexpected ValueError: odd (run with --debug for the traceback)"


def test_exit_codes_separate_bad_input_from_failures() -> None:
    assert exit_code(InputError("x")) == 2
    assert exit_code(UnknownWorkspace("x")) == 1
    assert exit_code(KeyboardInterrupt()) == 130
    assert exit_code(RuntimeError()) == 1
