"""What the app sees, sans I/O: per-room cursors that drop duplicates by message id and say where recovery starts,
and the filter that drops the second copy of an id-less frame while two connections overlap in a rollover."""

from __future__ import annotations

from dataclasses import dataclass, field

from ._ids import id_at, time_ms

RECOVERY_OVERLAP_MS = 2_000
"""Recovery asks for history from this long before the last id seen, not from the id itself: messages of
concurrent senders can arrive slightly out of id order, and one stamped before the last id seen but not yet
received when the connection dropped is then recovered too. Those already seen are dropped by id; the last id
seen must be among them, which is how the client knows the history still reaches back that far."""
JOIN_SKEW_MS = 5_000
"""A room with no message seen yet is recovered from its join time (this client's clock) minus this much, so a
client clock ahead of the server's by up to this much loses nothing; what comes earlier is a message sent just
before the join, never a duplicate."""
SEEN_KEEP_MS = 4 * RECOVERY_OVERLAP_MS
"""Ids older than this before the newest seen cannot come back in a recovery: forgotten."""
SEEN_PRUNE_AT = 1_000


@dataclass
class RoomCursor:
    """One room's position: the newest id delivered and the recent ids delivered (for duplicates)."""

    joined_at_ms: int
    last_id: str | None = None
    seen: set[str] = field(default_factory=set)

    def first_time(self, message_id: str) -> bool:
        """True, and remembered, the first time `message_id` is offered; False for a duplicate."""
        if message_id in self.seen or (self.last_id is not None and time_ms(message_id) < self._forget_before()):
            return False
        self.seen.add(message_id)
        if self.last_id is None or message_id > self.last_id:
            self.last_id = message_id
        if len(self.seen) > SEEN_PRUNE_AT:
            bound = self._forget_before()
            self.seen = {seen for seen in self.seen if time_ms(seen) >= bound}
        return True

    def _forget_before(self) -> int:
        assert self.last_id is not None
        return time_ms(self.last_id) - SEEN_KEEP_MS

    def recovery_after(self) -> str:
        """The `after` of the first history request of a recovery."""
        if self.last_id is None:
            return id_at(self.joined_at_ms - JOIN_SKEW_MS)
        return id_at(time_ms(self.last_id) - RECOVERY_OVERLAP_MS)


@dataclass
class RecoveryCheck:
    """Reads a recovery's history entries in order and tells whether the last id seen was among them."""

    expected: str | None
    """The last id seen before the recovery (None: nothing to check)."""
    found: bool = False
    reported: bool = False

    def entry(self, message_id: str) -> bool:
        """False when this entry shows the recovery incomplete (reported once): it is past `expected`, which the
        history, oldest first, has not shown."""
        if self.expected is None or self.found or self.reported:
            return True
        if message_id == self.expected:
            self.found = True
            return True
        if message_id > self.expected:
            self.reported = True
            return False
        return True

    def end(self) -> bool:
        """False when the whole history was read without `expected` (and not reported yet)."""
        if self.expected is None or self.found or self.reported:
            return True
        self.reported = True
        return False


class OverlapFilter:
    """While two connections are open during a rollover, a frame without an id (a broadcast to everyone, a
    direct message, a push, presence) may arrive on both: the first copy is delivered, the second dropped. Copies
    of one fan-out are byte-identical, so the text is the key. Active from the new connection's open until a
    grace period after the old one closed."""

    GRACE_S = 2.0

    def __init__(self) -> None:
        self._counts: dict[str, dict[int, int]] = {}
        self._active = False
        self._ends_at: float | None = None

    def start(self) -> None:
        self._counts.clear()
        self._active = True
        self._ends_at = None

    def finish(self, now: float) -> None:
        self._ends_at = now + self.GRACE_S

    def admit(self, link: int, text: str, now: float) -> bool:
        """Whether this copy of `text`, received on connection `link`, is delivered."""
        if not self._active:
            return True
        if self._ends_at is not None and now > self._ends_at:
            self._active = False
            self._counts.clear()
            return True
        counts = self._counts.setdefault(text, {})
        for other, count in counts.items():
            if other != link and count > 0:
                counts[other] = count - 1
                return False
        counts[link] = counts.get(link, 0) + 1
        return True
