"""Fuzzing the handler with hypothesis: no exception escapes, a bad frame gets at most one error frame, nobody
else receives anything, and every frame the service sends is strict JSON (`tests/strict_json.py`). The inputs
include non-finite numbers, lone surrogate escapes, control and bidi characters and dot-only room names.
CI runs a reduced number of examples; `FUZZ_EXAMPLES=10000` is the full run."""

from __future__ import annotations

import contextlib
import json
import os
import unicodedata
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lambda_src.protocol.frames import NAME_ALLOWED_FORMAT_CHARS, NAME_REFUSED_CATEGORIES
from lambda_src.services import Services
from tests.strict_json import loads

from .conftest import add_connections, connect_event, invoke, message_event
from .connections_server import ConnectionsServer

FUZZ_EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "150"))
SENDER = "fuzzer"
BYSTANDER = "bystander"
ACTIONS = ["broadcast", "send", "whoami", "join", "leave", "", "BROADCAST", "$default", "nope"]

# Characters that break naive handling: lone surrogates (json.dumps writes them as "\ud800" escapes), controls,
# bidi overrides and isolates, zero-width and invisible tag characters, line separators.
SURROGATES = st.integers(min_value=0xD800, max_value=0xDFFF).map(chr)
TRICKY_CHARS = st.sampled_from(["\x00", "\n", "\x1b", "\x85", "\u202e", "\u2066", "\u200b", "\ufeff", "\u2028"])
tricky_text = st.lists(st.characters() | SURROGATES | TRICKY_CHARS, max_size=20).map("".join)
json_values = st.recursive(
    # floats() includes NaN and the infinities, which json.dumps writes as the non-JSON NaN/Infinity.
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=50) | tricky_text,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(tricky_text, children, max_size=4),
    max_leaves=20,
)
odd_text = st.text(alphabet=st.characters(codec="utf-8"), max_size=200)
ROOM_NAMES = ["lobby", "a/b", "x" * 65, "", ".", "..", "...", "a..b", ".hidden"]
field_values = json_values | odd_text | st.sampled_from([*ROOM_NAMES, SENDER, BYSTANDER])
RAW_VALUES = ["NaN", "-NaN", "Infinity", "-Infinity", "1e999", "-1e999", "1E400", '"\\ud800"', '["a\\udfffb"]']
"""JSON-looking tokens json.dumps never writes from a value: non-finite numbers and surrogate escapes as text."""
raw_field_frames = st.tuples(
    st.sampled_from(ACTIONS), st.sampled_from(["message", "room", "to", "echo", "extra"]), st.sampled_from(RAW_VALUES)
).map(lambda t: f'{{"action":{json.dumps(t[0])},"to":"{BYSTANDER}","message":1,{json.dumps(t[1])}:{t[2]}}}')

frames = st.one_of(
    st.binary(max_size=300).map(lambda b: b.decode("utf-8", errors="replace")),
    odd_text,
    json_values.map(json.dumps),
    st.integers(min_value=1, max_value=3000).map(lambda depth: "[" * depth + "]" * depth),
    st.fixed_dictionaries(
        {"action": st.sampled_from(ACTIONS) | json_values},
        optional={"message": field_values, "room": field_values, "echo": field_values, "to": field_values},
    ).map(json.dumps),
    raw_field_frames,
)

# A frame the sender is allowed to be answered with: anything but a fan-out to others.
REPLY_TYPES = {"error", "whoami", "joined", "left", "message", "direct"}


@settings(
    max_examples=FUZZ_EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(body=frames, route_key=st.sampled_from([None, "$default", "broadcast", "send", "join"]))
def test_fuzzed_frames_never_escape_and_never_reach_bystanders(
    services: Services, connections_server: ConnectionsServer, body: str, route_key: str | None
) -> None:
    connections_server.reset()
    if services.store.get(SENDER) is None:
        add_connections(services, [SENDER, BYSTANDER])
    parsed: Any = None
    with contextlib.suppress(ValueError, RecursionError):
        parsed = json.loads(body)
    event = message_event(SENDER, body, route_key)
    if route_key is None and isinstance(parsed, dict):
        event = message_event(SENDER, parsed)

    result = invoke(services, event)

    assert result["statusCode"] in (200, 400)
    sender_frames = connections_server.frames(SENDER)
    errors = [f for f in sender_frames if isinstance(f, dict) and f.get("type") == "error"]
    assert len(errors) <= 1
    if result["statusCode"] == 400:
        assert len(errors) == 1 and sender_frames == errors
    others = [cid for cid in connections_server.delivered_to() if cid != SENDER]
    if others:
        # Only a valid broadcast (or a send to the bystander) may reach someone else.
        assert result["statusCode"] == 200 and isinstance(parsed, dict)
        assert parsed.get("action") in ("broadcast", "send") or route_key in ("broadcast", "send")
    assert all(isinstance(f, dict) and f.get("type") in REPLY_TYPES for f in sender_frames)
    # What a browser's JSON.parse would read: every frame to anyone, strictly (frames() already parsed strictly).
    for _, data in connections_server.posts:
        loads(data)


def _refused_by_the_name_rule(char: str) -> bool:
    return unicodedata.category(char) in NAME_REFUSED_CATEGORIES and char not in NAME_ALLOWED_FORMAT_CHARS


@settings(
    max_examples=FUZZ_EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(name=tricky_text | st.text(max_size=70))
def test_fuzzed_names_are_accepted_as_given_or_refused_with_a_strict_json_error_body(
    services: Services, connections_server: ConnectionsServer, name: str
) -> None:
    connections_server.reset()

    result = invoke(services, connect_event("fuzzed-name", {"name": name}))

    if result["statusCode"] == 400:
        body = loads(result["body"])
        assert (body["type"], body["code"]) in {("error", "invalid_field"), ("error", "name_too_long")}
        assert len(name) > 64 or any(_refused_by_the_name_rule(c) for c in name)
        return
    assert result == {"statusCode": 200}
    assert len(name) <= 64 and not any(_refused_by_the_name_rule(c) for c in name)
    invoke(services, message_event("fuzzed-name", {"action": "whoami"}))
    (reply,) = connections_server.frames("fuzzed-name")
    assert reply == {"type": "whoami", "connectionId": "fuzzed-name", "name": name or "anonymous"}
