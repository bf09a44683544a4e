"""Fuzzing the handler with hypothesis: no exception escapes, a bad frame gets at most one error frame, and
nobody else receives anything. CI runs a reduced number of examples; `FUZZ_EXAMPLES=10000` is the full run."""

from __future__ import annotations

import contextlib
import json
import os
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lambda_src.services import Services

from .conftest import add_connections, invoke, message_event
from .connections_server import ConnectionsServer

FUZZ_EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "150"))
SENDER = "fuzzer"
BYSTANDER = "bystander"
ACTIONS = ["broadcast", "send", "whoami", "join", "leave", "", "BROADCAST", "$default", "nope"]

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=50),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=20,
)
odd_text = st.text(alphabet=st.characters(codec="utf-8"), max_size=200)
field_values = json_values | odd_text | st.sampled_from(["lobby", "a/b", "x" * 65, SENDER, BYSTANDER, ""])

frames = st.one_of(
    st.binary(max_size=300).map(lambda b: b.decode("utf-8", errors="replace")),
    odd_text,
    json_values.map(json.dumps),
    st.integers(min_value=1, max_value=3000).map(lambda depth: "[" * depth + "]" * depth),
    st.fixed_dictionaries(
        {"action": st.sampled_from(ACTIONS) | json_values},
        optional={"message": field_values, "room": field_values, "echo": field_values, "to": field_values},
    ).map(json.dumps),
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
