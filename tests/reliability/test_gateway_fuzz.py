"""Fuzzing through the gateway: real WebSocket clients send random text frames to the local stack.

Text frames only: API Gateway closes a connection that sends a binary frame (1003), so random bytes travel as
text here (tests/integration/test_fidelity.py holds the binary-frame close).

Each bad frame gets at most one error frame, a client that is not addressed sees nothing, the connection
stays open, every frame a client reads is strict JSON (the clients parse with tests/strict_json.py: `NaN` or a
lone surrogate escape fails the test), and the Lambda's log group shows no failed invocation. The frames include
non-finite numbers, lone surrogate escapes, control and bidi characters and dot-only room names. CI runs 120
examples; `RELIABILITY_SCALE=full` runs 10,000 (the handler-level fuzz is tests/lambda_src/test_fuzz.py).
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from lambda_src.limits import MAX_FRAME_BYTES, MAX_MESSAGE_BYTES
from tests import strict_json

from .clients import RECEIVE_TIMEOUT_S, Client, client_url, close_clients, open_clients, run, sync
from .conftest import TOKEN, require_empty_store
from .moto_state import failures, log_lines, now_ms, stored_connection_ids, structured
from .scale import SIZES
from .stack_process import StackProcess

pytestmark = pytest.mark.timeout(SIZES.timeout_s + 120)

FRAGMENT_CHARS = MAX_FRAME_BYTES // 4
"""Characters per fragment of a long text message: at most 4 UTF-8 bytes each, so a fragment is a legal frame."""
REPLY_TYPES = {"error", "whoami", "joined", "left", "message", "direct"}
"""What the sender may be answered with; the gateway's own "Internal server error" frame has no type."""
ACTIONS = ["broadcast", "send", "whoami", "join", "leave", "", "BROADCAST", "$default", "$connect", "nope"]
NESTING_DEPTHS = range(900, 1010)
"""Around Python's recursion limit (1000), where parsing still succeeds but re-encoding may not."""
DEPTH_TIMEOUT_S = 120.0
EMPTY_ROOM = "nobody-here"
HUGE_CHARS = ["x", "é", "😀", "\u0000", '"', "\u2028"]
"""Huge strings of 1- to 4-byte characters and of characters JSON must escape, up to the 128 KB limit."""

# json.dumps writes lone surrogates as "\ud800" escapes (pure ASCII on the wire), NaN and the infinities as the
# non-JSON NaN/Infinity: both are frames a client can send and the service must refuse.
SURROGATES = st.integers(min_value=0xD800, max_value=0xDFFF).map(chr)
TRICKY_CHARS = st.sampled_from(["\x00", "\n", "\x1b", "\x85", "\u202e", "\u2066", "\u200b", "\ufeff", "\u2028"])
tricky_text = st.lists(st.characters() | SURROGATES | TRICKY_CHARS, max_size=20).map("".join)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=50) | tricky_text,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(tricky_text, children, max_size=4),
    max_leaves=20,
)
odd_text = st.text(alphabet=st.characters(codec="utf-8"), max_size=200)
RAW_VALUES = ["NaN", "-NaN", "Infinity", "-Infinity", "1e999", "-1e999", "1E400", '"\\ud800"', '["a\\udfffb"]']
"""JSON-looking tokens json.dumps never writes from a value: non-finite numbers and surrogate escapes as text."""
ROOM_NAMES = ["lobby", "a/b", "x" * 65, "", ".", "..", "...", "a..b"]
BAD_NAMES = {
    "right-to-left override": "eve\u202egnp.exe",
    "left-to-right isolate": "\u2066eve",
    "escape": "\x1b[31meve",
    "newline": "eve\nINFO forged",
    "zero-width space": "e\u200bve",
    "line separator": "eve\u2028",
}
"""Names `$connect` refuses with 400 `invalid_field` (percent-encoded UTF-8 in `?name=`)."""


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


def wire_bytes(char: str) -> int:
    """Bytes one character takes in a JSON string (escaped or not)."""
    return len(json.dumps(char, ensure_ascii=False).encode("utf-8")) - 2


def huge_broadcast(char: str, count: int) -> str:
    return json.dumps({"action": "broadcast", "message": char * count}, ensure_ascii=False)


def frames(ids: list[str]) -> st.SearchStrategy[str | bytes]:
    """Every frame kind the issue names: random bytes (as text), random and deeply nested JSON, huge strings, odd
    unicode, and every field of every action with the wrong type (or, now and then, a right one)."""
    field_values = json_values | odd_text | st.sampled_from([*ids, *ROOM_NAMES, "AAAAAAAAAAAAAAA="])
    actions = st.fixed_dictionaries(
        {"action": st.sampled_from(ACTIONS) | json_values},
        optional={"message": field_values, "room": field_values, "echo": field_values, "to": field_values},
    ).map(json.dumps)
    raw_fields = st.tuples(
        st.sampled_from(ACTIONS),
        st.sampled_from(ids),
        st.sampled_from(["message", "room", "to", "echo", "extra"]),
        st.sampled_from(RAW_VALUES),
    ).map(lambda t: f'{{"action":{json.dumps(t[0])},"to":"{t[1]}","message":1,{json.dumps(t[2])}:{t[3]}}}')
    return st.one_of(
        st.binary(max_size=300).map(lambda raw: raw.decode("utf-8", errors="replace")),
        odd_text,
        json_values.map(json.dumps),
        st.integers(min_value=1, max_value=5000).map(nested),
        st.integers(min_value=1, max_value=5000).map(lambda d: f'{{"action":"broadcast","message":{nested(d)}}}'),
        st.sampled_from(HUGE_CHARS).flatmap(
            lambda char: st.integers(1, (MAX_MESSAGE_BYTES - 64) // wire_bytes(char)).map(
                lambda n: huge_broadcast(char, n)
            )
        ),
        actions,
        raw_fields,
    )


async def send(client: Client, frame: str | bytes) -> None:
    if isinstance(frame, str) and len(frame.encode("utf-8")) > MAX_FRAME_BYTES:
        # API Gateway takes at most 32 KB a frame: longer messages travel in fragments, as clients must send them.
        await client.socket.send([frame[i : i + FRAGMENT_CHARS] for i in range(0, len(frame), FRAGMENT_CHARS)])
    else:
        await client.socket.send(frame)


def reaches_others(frame: str | bytes) -> bool:
    """Only a frame naming `broadcast` or `send` may cause a frame to anyone but its sender."""
    try:
        # Lenient on purpose: this reads what the fuzzer sent (NaN included), not what the service answered.
        body = json.loads(frame)
    except (ValueError, RecursionError):
        return False
    return isinstance(body, dict) and body.get("action") in ("broadcast", "send")


def check_exchange(frame: str | bytes, fuzzer: Client, mine: list[Any], theirs: list[Any]) -> int:
    """The assertions of one example; returns the number of error frames (0 or 1) the fuzzer got."""
    assert all(isinstance(f, dict) and f.get("type") in REPLY_TYPES for f in mine), mine
    errors = [f for f in mine if f["type"] == "error"]
    assert len(errors) <= 1
    assert all(e["code"] != "internal_error" for e in errors)
    if errors:
        assert mine == errors and theirs == []
    assert len(theirs) <= 1
    if theirs:
        assert reaches_others(frame)
        assert theirs[0]["type"] in ("message", "direct")
        assert theirs[0]["from"]["connectionId"] == fuzzer.connection_id
    return len(errors)


@pytest.fixture
def pair(stack: StackProcess) -> Any:
    """A fuzzer and a bystander on one event loop that outlives the examples."""
    require_empty_store(stack)
    loop = asyncio.new_event_loop()
    clients = loop.run_until_complete(open_clients(stack.websocket_url, 2, "fuzz", TOKEN))
    try:
        yield loop, clients[0], clients[1]
    finally:
        loop.run_until_complete(close_clients(clients))
        loop.close()


def test_fuzzed_frames_get_at_most_one_error_frame_and_never_reach_bystanders(
    stack: StackProcess, pair: tuple[asyncio.AbstractEventLoop, Client, Client]
) -> None:
    loop, fuzzer, bystander = pair
    started_ms = now_ms()
    counts: Counter[str] = Counter()

    async def exchange(frame: str | bytes) -> tuple[list[Any], list[Any]]:
        await send(fuzzer, frame)
        mine = await sync(fuzzer)
        return mine, await sync(bystander)

    @settings(
        max_examples=SIZES.fuzz_examples,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
    )
    @given(data=st.data())
    def one_frame(data: st.DataObject) -> None:
        frame = data.draw(frames([fuzzer.connection_id, bystander.connection_id]))
        mine, theirs = loop.run_until_complete(asyncio.wait_for(exchange(frame), 60))
        counts["frames"] += 1
        counts["errors"] += check_exchange(frame, fuzzer, mine, theirs)
        counts["reached others"] += len(theirs)

    one_frame()

    lines = log_lines(stack.outputs, "lambda_log_group", started_ms)
    assert failures(lines) == []
    mine = [e for e in structured(lines) if e["connectionId"] == fuzzer.connection_id]
    rejected = [e for e in mine if e["message"] == "rejected"]
    assert len(rejected) == counts["errors"]
    access = [json.loads(line) for line in log_lines(stack.outputs, "api_log_group", started_ms)]
    messages = [e for e in access if e["eventType"] == "MESSAGE"]
    assert len(messages) == 3 * counts["frames"]
    assert {(e["status"], e["integrationStatus"]) for e in messages} <= {(200, 200), (200, 400)}
    print(f"\ngateway fuzz: {dict(counts)}")


def test_messages_nested_around_the_recursion_limit_get_a_frame_back_never_a_failure(
    stack: StackProcess, pair: tuple[asyncio.AbstractEventLoop, Client, Client]
) -> None:
    """Found by this suite: a message nested just deep enough to parse, but not to re-encode, escaped the route."""
    loop, fuzzer, bystander = pair
    started_ms = now_ms()

    async def main() -> tuple[list[Any], list[Any]]:
        for depth in NESTING_DEPTHS:
            # To a room nobody is in: the frame is still built (and may fail), but nobody has to parse it here.
            body = f'{{"action":"broadcast","room":"{EMPTY_ROOM}","echo":false,"message":{nested(depth)}}}'
            await fuzzer.socket.send(body)
        return await sync(fuzzer), await sync(bystander)

    mine, theirs = loop.run_until_complete(asyncio.wait_for(main(), DEPTH_TIMEOUT_S))

    codes = Counter((frame["type"], frame["code"]) for frame in mine)
    assert set(codes) <= {("error", "invalid_json"), ("error", "invalid_field")}
    assert codes[("error", "invalid_json")] > 0  # the range does reach past what parses
    assert theirs == []
    lines = log_lines(stack.outputs, "lambda_log_group", started_ms)
    assert failures(lines) == []
    rejected = [e for e in structured(lines) if e["message"] == "rejected"]
    assert len(rejected) == len(mine)


def test_names_with_control_or_bidi_characters_are_refused_at_the_handshake_with_invalid_field(
    stack: StackProcess,
) -> None:
    require_empty_store(stack)
    started_ms = now_ms()

    async def refusal(name: str) -> tuple[int, bytes]:
        with pytest.raises(InvalidStatus) as refused:
            await connect(client_url(stack.websocket_url, name, TOKEN), open_timeout=RECEIVE_TIMEOUT_S)
        return refused.value.response.status_code, bytes(refused.value.response.body or b"")

    async def main() -> dict[str, tuple[int, bytes]]:
        return {case: await refusal(name) for case, name in BAD_NAMES.items()}

    answers = run(main(), DEPTH_TIMEOUT_S)

    for case, (status, body) in answers.items():
        assert status == 400, case
        frame = strict_json.loads(body)
        assert (frame["type"], frame["code"]) == ("error", "invalid_field"), case
    assert stored_connection_ids(stack.outputs) == set()
    assert failures(log_lines(stack.outputs, "lambda_log_group", started_ms)) == []
