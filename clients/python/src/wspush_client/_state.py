"""The client's states and the transitions between them: an explicit machine, so no code path can reach a
state from one it must not (an `open` after `closed`, a `reconnecting` before the first `open`)."""

from __future__ import annotations

from enum import StrEnum


class State(StrEnum):
    IDLE = "idle"
    """Made, `connect()` not called yet."""
    CONNECTING = "connecting"
    """The first connection is being made (retried with backoff until it opens or is refused)."""
    OPEN = "open"
    """Connected, rooms rejoined and recovered: actions may be sent. A rollover stays in this state."""
    RECONNECTING = "reconnecting"
    """A working connection dropped: waiting for the backoff, or connecting, rejoining and recovering."""
    CLOSED = "closed"
    """For good: `close()` was called, or the server refused the token (final)."""


TRANSITIONS: dict[State, frozenset[State]] = {
    State.IDLE: frozenset({State.CONNECTING, State.CLOSED}),
    State.CONNECTING: frozenset({State.OPEN, State.CLOSED}),
    State.OPEN: frozenset({State.RECONNECTING, State.CLOSED}),
    State.RECONNECTING: frozenset({State.OPEN, State.CLOSED}),
    State.CLOSED: frozenset(),
}


class InvalidTransition(RuntimeError):
    """A bug in the client: a transition the machine does not have."""


def check_transition(current: State, new: State) -> None:
    if new not in TRANSITIONS[current]:
        raise InvalidTransition(f"no transition from {current} to {new}")
