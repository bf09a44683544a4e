"""The `ConnectionStore` contract: every implementation passes these, each on a real moto server.

Run against the S3 store and the DynamoDB store alike (the `store` fixture is parametrized by kind); a new
store joins `StoreKind` and must pass them unchanged.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from lambda_src.errors import StoreError
from lambda_src.protocol.message_ids import make_id, time_prefix
from lambda_src.store.contract import MAX_CLAIM_BYTES, ClaimRecord, Connection, ConnectionStore, HistoryEntry, Member
from lambda_src.store.open import StoreKind
from lambda_src.store.rate_limit import RateLimit, Spender
from util.local.ids import gateway_id

from .stores import open_fresh_store

pytestmark = pytest.mark.stack

AT_MS = 1_700_000_000_000
ODD_IDS = ("a/b+c=", "%41", "zzzz", "0", "L0SM9cOFvHcCIhw=", "with space")
"""Ids that must survive any key encoding; API Gateway's are base64 and may hold '/', '+' and '='."""


@pytest.fixture(params=list(StoreKind))
def store_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def store(store_kind: str, moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[ConnectionStore]:
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_endpoint)
    created, _ = open_fresh_store(store_kind, moto_endpoint)
    yield created


def connection(connection_id: str, name: str = "alice", source_ip: str | None = "127.0.0.1") -> Connection:
    return Connection(connection_id, name, AT_MS, source_ip)


def add_many(store: ConnectionStore, ids: list[str]) -> None:
    with ThreadPoolExecutor(max_workers=16) as pool:
        list(pool.map(lambda cid: store.add(connection(cid)), ids))


def test_an_added_connection_reads_back_exactly(store: ConnectionStore) -> None:
    store.add(connection("c1", "bob", "10.0.0.1"))

    assert store.get("c1") == Connection("c1", "bob", AT_MS, "10.0.0.1", ())


def test_a_connection_without_source_ip_reads_back_without_one(store: ConnectionStore) -> None:
    store.add(connection("c1", source_ip=None))

    assert store.get("c1") == Connection("c1", "alice", AT_MS, None, ())


def test_an_unknown_connection_reads_as_none(store: ConnectionStore) -> None:
    assert store.get("nobody") is None


def test_adding_again_replaces_the_record(store: ConnectionStore) -> None:
    store.add(connection("c1", "first"))
    store.add(connection("c1", "second"))

    assert store.get("c1") == connection("c1", "second")
    assert list(store.connection_ids()) == ["c1"]


def test_ids_of_any_shape_round_trip_through_records_rooms_and_listing(store: ConnectionStore) -> None:
    for cid in ODD_IDS:
        store.add(connection(cid))
        store.join(connection(cid), "lobby")

    assert sorted(store.connection_ids()) == sorted(ODD_IDS)
    assert sorted(store.room_members("lobby")) == sorted(ODD_IDS)
    assert all(store.get(cid) == Connection(cid, "alice", AT_MS, "127.0.0.1", ("lobby",)) for cid in ODD_IDS)


def test_join_adds_the_room_to_the_record_and_the_member_to_the_room(store: ConnectionStore) -> None:
    store.add(connection("c1"))

    joined = store.join(connection("c1"), "lobby")

    assert joined.rooms == ("lobby",)
    assert store.get("c1") == joined
    assert list(store.room_members("lobby")) == ["c1"]
    assert list(store.room_members("other")) == []


def test_joining_twice_keeps_one_membership(store: ConnectionStore) -> None:
    store.add(connection("c1"))
    once = store.join(connection("c1"), "lobby")

    twice = store.join(once, "lobby")

    assert twice.rooms == ("lobby",)
    assert list(store.room_members("lobby")) == ["c1"]


def test_joining_rooms_one_after_another_keeps_them_all(store: ConnectionStore) -> None:
    record = connection("c1")
    store.add(record)
    for room in ("a", "b", "c"):
        record = store.join(record, room)

    assert sorted(record.rooms) == ["a", "b", "c"]
    stored = store.get("c1")
    assert stored is not None
    assert sorted(stored.rooms) == ["a", "b", "c"]


def test_join_without_a_stored_record_stores_the_callers_copy(store: ConnectionStore) -> None:
    # A sender whose record expired may still join: the routes pass a default record in its place.
    joined = store.join(Connection("ghost", "anonymous", AT_MS), "lobby")

    assert joined == Connection("ghost", "anonymous", AT_MS, None, ("lobby",))
    assert store.get("ghost") == joined
    assert list(store.room_members("lobby")) == ["ghost"]


def test_leave_removes_the_room_from_the_record_and_the_member_from_the_room(store: ConnectionStore) -> None:
    store.add(connection("c1"))
    store.add(connection("c2"))
    in_both = store.join(store.join(connection("c1"), "a"), "b")
    store.join(connection("c2"), "a")

    left = store.leave(in_both, "a")

    assert left.rooms == ("b",)
    assert store.get("c1") == left
    assert list(store.room_members("a")) == ["c2"]
    assert list(store.room_members("b")) == ["c1"]


def test_leaving_the_last_room_leaves_a_record_with_no_rooms(store: ConnectionStore) -> None:
    store.add(connection("c1"))

    left = store.leave(store.join(connection("c1"), "a"), "a")

    assert left == connection("c1")
    assert store.get("c1") == connection("c1")


def test_remove_forgets_the_record_and_every_membership_it_lists(store: ConnectionStore) -> None:
    store.add(connection("c1"))
    store.add(connection("c2"))
    store.join(store.join(connection("c1"), "a"), "b")
    store.join(connection("c2"), "a")

    removed = store.remove(["c1"])

    assert removed == 3
    assert store.get("c1") is None
    assert list(store.connection_ids()) == ["c2"]
    assert list(store.room_members("a")) == ["c2"]
    assert list(store.room_members("b")) == []


def test_remove_with_a_room_hint_deletes_a_membership_the_record_does_not_list(store: ConnectionStore) -> None:
    store.add(connection("c1"))
    store.join(connection("c1"), "lobby")
    store.add(connection("c1"))  # a new record of the same id lists no rooms; the membership stays

    assert list(store.room_members("lobby")) == ["c1"]
    removed = store.remove(["c1"], room="lobby")

    assert removed == 2
    assert list(store.room_members("lobby")) == []
    assert store.get("c1") is None


def test_removing_unknown_or_repeated_ids_is_harmless(store: ConnectionStore) -> None:
    store.add(connection("c1"))

    assert store.remove([]) == 0
    assert store.remove(["nobody", "nobody"]) == 1
    assert store.remove(["c1", "c1"]) == 1
    assert list(store.connection_ids()) == []


def test_listing_and_removing_past_every_page_and_batch_size(store: ConnectionStore) -> None:
    # 1,050 is past S3's 1,000 keys a page and delete batch, and past DynamoDB's 25 deletes and 100 reads a batch.
    ids = [f"c{i:04d}" for i in range(1050)]
    add_many(store, ids)
    for cid in ids[:30]:
        store.join(connection(cid), "big")

    assert sorted(store.connection_ids()) == ids
    assert sorted(store.room_members("big")) == ids[:30]

    assert store.remove(ids) == len(ids) + 30
    assert list(store.connection_ids()) == []
    assert list(store.room_members("big")) == []


@pytest.mark.parametrize("segments", [1, 2, 3, 7, 64])
def test_segments_are_disjoint_and_together_list_every_connection(store: ConnectionStore, segments: int) -> None:
    ids = [gateway_id() for _ in range(300)] + list(ODD_IDS)
    add_many(store, ids)

    listed = [list(store.connection_ids(segment, segments)) for segment in range(segments)]

    flat = [cid for part in listed for cid in part]
    assert len(flat) == len(set(flat)), "a connection was listed by two segments"
    assert sorted(flat) == sorted(ids)


@pytest.mark.parametrize("expected", [1, 50, 5000])
def test_an_expected_size_changes_no_listing(store: ConnectionStore, expected: int) -> None:
    ids = [gateway_id() for _ in range(300)]
    add_many(store, ids)

    listed = [cid for segment in range(3) for cid in store.connection_ids(segment, 3, expected=expected)]

    assert sorted(listed) == sorted(ids)
    assert sorted(store.connection_ids(expected=expected)) == sorted(ids)


def test_segments_share_random_ids_evenly(store: ConnectionStore) -> None:
    ids = [gateway_id() for _ in range(2000)]
    add_many(store, ids)

    sizes = [sum(1 for _ in store.connection_ids(segment, 4)) for segment in range(4)]

    assert sum(sizes) == 2000
    # 500 expected each; a binomial spread of 19 makes anything outside 380..620 a broken split, not bad luck.
    assert all(380 <= size <= 620 for size in sizes), sizes


@pytest.mark.parametrize(("segment", "segments"), [(0, 0), (2, 2), (-1, 3), (0, 1_000_001)])
def test_a_segment_outside_its_count_is_refused(store: ConnectionStore, segment: int, segments: int) -> None:
    with pytest.raises(StoreError, match="segment"):
        list(store.connection_ids(segment, segments))


CONCURRENT_JOINS = 12


def test_concurrent_joins_of_one_connection_lose_no_room(store: ConnectionStore) -> None:
    record = connection("c1")
    store.add(record)
    rooms = [f"room-{i}" for i in range(CONCURRENT_JOINS)]
    start = threading.Barrier(CONCURRENT_JOINS)

    def join(room: str) -> None:
        start.wait()
        store.join(record, room)  # every caller holds the same copy, as concurrent invocations would

    with ThreadPoolExecutor(max_workers=CONCURRENT_JOINS) as pool:
        list(pool.map(join, rooms))

    stored = store.get("c1")
    assert stored is not None
    assert sorted(stored.rooms) == sorted(rooms)
    assert all(list(store.room_members(room)) == ["c1"] for room in rooms)


def test_concurrent_leaves_and_joins_of_one_connection_each_land(store: ConnectionStore) -> None:
    kept = [f"kept-{i}" for i in range(CONCURRENT_JOINS // 2)]
    left = [f"left-{i}" for i in range(CONCURRENT_JOINS // 2)]
    record = connection("c1")
    store.add(record)
    for room in left:
        record = store.join(record, room)
    start = threading.Barrier(CONCURRENT_JOINS)

    def change(room: str) -> None:
        start.wait()
        if room in left:
            store.leave(record, room)
        else:
            store.join(record, room)

    with ThreadPoolExecutor(max_workers=CONCURRENT_JOINS) as pool:
        list(pool.map(change, kept + left))

    stored = store.get("c1")
    assert stored is not None
    assert sorted(stored.rooms) == sorted(kept)


CLAIM_BODY = b'{"owner": "req-1"}\n\x00\xff binary'
FAR_S = 4_000_000_000
"""An expiry far in the future (epoch seconds, in 2096)."""


def test_a_claim_reads_as_none_until_it_is_written(store: ConnectionStore) -> None:
    assert store.read_claim("shard/req-1/0") is None


def test_a_claim_is_created_once_and_reads_back_byte_for_byte(store: ConnectionStore) -> None:
    version = store.write_claim("shard/req-1/0", CLAIM_BODY, None, FAR_S)

    assert version is not None
    assert store.write_claim("shard/req-1/0", b"second", None, FAR_S) is None
    assert store.read_claim("shard/req-1/0") == ClaimRecord(CLAIM_BODY, version)
    assert store.read_claim("shard/req-1/1") is None
    assert list(store.connection_ids()) == []


def test_a_claim_is_rewritten_only_at_the_version_last_read(store: ConnectionStore) -> None:
    first = store.write_claim("push/k", b"one", None, FAR_S)
    assert first is not None
    second = store.write_claim("push/k", b"two", first, FAR_S)
    assert second is not None and second != first

    assert store.write_claim("push/k", b"stale", first, FAR_S) is None
    assert store.read_claim("push/k") == ClaimRecord(b"two", second)


def test_an_expired_claim_reads_as_absent_and_is_created_anew(store: ConnectionStore) -> None:
    old = store.write_claim("push/old", b"old", None, 1_000)  # expired in 1970
    assert old is not None
    assert store.read_claim("push/old") is None

    renewed = store.write_claim("push/old", b"new", None, FAR_S)

    assert renewed is not None
    assert store.read_claim("push/old") == ClaimRecord(b"new", renewed)


def test_a_claim_record_over_the_limit_is_refused(store: ConnectionStore) -> None:
    assert store.write_claim("shard/large", b"x" * MAX_CLAIM_BYTES, None, FAR_S) is not None
    with pytest.raises(StoreError):
        store.write_claim("shard/larger", b"x" * (MAX_CLAIM_BYTES + 1), None, FAR_S)


@pytest.mark.parametrize("existing", [False, True], ids=["create", "update"])
def test_concurrent_writers_of_a_claim_at_one_version_have_exactly_one_winner(
    store: ConnectionStore, existing: bool
) -> None:
    version = store.write_claim("segment/req-2/3-of-8", b"first", None, FAR_S) if existing else None
    start = threading.Barrier(CONCURRENT_JOINS)

    def write(n: int) -> str | None:
        start.wait()
        return store.write_claim("segment/req-2/3-of-8", f"writer {n}".encode(), version, FAR_S)

    with ThreadPoolExecutor(max_workers=CONCURRENT_JOINS) as pool:
        written = list(pool.map(write, range(CONCURRENT_JOINS)))

    winners = [(n, v) for n, v in enumerate(written) if v is not None]
    assert len(winners) == 1
    [(n, won)] = winners
    assert store.read_claim("segment/req-2/3-of-8") == ClaimRecord(f"writer {n}".encode(), won)


# --- Presence and history (issue 17) ---


def history_ids(count: int, start_ms: int = AT_MS) -> list[str]:
    # Two ids in each millisecond, so that order within one millisecond is covered too.
    return [make_id(start_ms + i // 2, i) for i in range(count)]


def test_members_lists_each_member_with_its_name_and_join_time_a_page_at_a_time(store: ConnectionStore) -> None:
    for number, cid in enumerate(["a", "b", "c"]):
        store.add(connection(cid, f"user-{cid}"))
        store.join(connection(cid, f"user-{cid}"), "lobby", AT_MS + number)

    first, cursor = store.members("lobby", None, 2)
    rest, end = store.members("lobby", cursor, 2)

    assert first == [Member("a", "user-a", AT_MS), Member("b", "user-b", AT_MS + 1)]
    assert cursor == "b"
    assert rest == [Member("c", "user-c", AT_MS + 2)]
    assert end is None


def test_members_of_an_empty_room_is_an_empty_last_page(store: ConnectionStore) -> None:
    assert store.members("nobody-here", None, 10) == ([], None)


def test_a_left_member_is_no_longer_listed(store: ConnectionStore) -> None:
    alice = store.join(connection("a"), "lobby", AT_MS)
    store.join(connection("b", "bob"), "lobby", AT_MS)
    store.leave(alice, "lobby")

    assert store.members("lobby", None, 10) == ([Member("b", "bob", AT_MS)], None)


def test_history_reads_back_after_an_id_oldest_first_byte_for_byte(store: ConnectionStore) -> None:
    ids = history_ids(5)
    for number, message_id in enumerate(ids):
        store.append_history("lobby", HistoryEntry(message_id, f'{{"n":{number}}}'.encode()), 2_000_000_000)

    entries, more = store.history("lobby", ids[1], 10, 100)

    assert entries == [HistoryEntry(ids[n], f'{{"n":{n}}}'.encode()) for n in (2, 3, 4)]
    assert more is False


def test_history_pages_by_limit_and_says_more_follow(store: ConnectionStore) -> None:
    ids = history_ids(5)
    for message_id in ids:
        store.append_history("lobby", HistoryEntry(message_id, b"x"), 2_000_000_000)

    first, more = store.history("lobby", "", 2, 100)
    second, more_after = store.history("lobby", first[-1].message_id, 2, 100)
    last, none_after = store.history("lobby", second[-1].message_id, 2, 100)

    assert [e.message_id for e in first + second + last] == ids
    assert (more, more_after, none_after) == (True, True, False)


def test_history_keeps_only_the_newest_window_of_messages(store: ConnectionStore) -> None:
    ids = history_ids(6)
    for message_id in ids:
        store.append_history("lobby", HistoryEntry(message_id, b"x"), 2_000_000_000)

    entries, more = store.history("lobby", "", 10, 3)

    assert [e.message_id for e in entries] == ids[3:]
    assert more is False


def test_history_after_a_time_prefix_skips_older_messages(store: ConnectionStore) -> None:
    # The retention bound: a prefix made from a time sorts before every id of that millisecond and after all older.
    old, new = make_id(AT_MS, 7), make_id(AT_MS + 60_000, 0)
    store.append_history("lobby", HistoryEntry(old, b"old"), 2_000_000_000)
    store.append_history("lobby", HistoryEntry(new, b"new"), 2_000_000_000)

    entries, _ = store.history("lobby", time_prefix(AT_MS + 1), 10, 100)

    assert entries == [HistoryEntry(new, b"new")]


def test_histories_of_rooms_are_separate_and_an_empty_one_reads_empty(store: ConnectionStore) -> None:
    message_id = make_id(AT_MS, 1)
    store.append_history("a", HistoryEntry(message_id, b"in a"), 2_000_000_000)
    store.append_history("a.b", HistoryEntry(make_id(AT_MS, 2), b"in a.b"), 2_000_000_000)

    assert store.history("a", "", 10, 100) == ([HistoryEntry(message_id, b"in a")], False)
    assert store.history("empty", "", 10, 100) == ([], False)


def test_writing_a_history_id_again_keeps_one_entry(store: ConnectionStore) -> None:
    message_id = make_id(AT_MS, 3)
    store.append_history("lobby", HistoryEntry(message_id, b"first"), 2_000_000_000)
    store.append_history("lobby", HistoryEntry(message_id, b"again"), 2_000_000_000)

    assert store.history("lobby", "", 10, 100) == ([HistoryEntry(message_id, b"again")], False)


# --- Rate limiting (issue 15) ---


LIMIT = RateLimit(rate_per_s=2.0, burst=3)
"""Rate limit of the contract: 3 at once, then one every 500 ms (500,000 us)."""
NOW_US = AT_MS * 1000


def admitted(store: ConnectionStore, connection_id: str, at_us: int, count: int) -> list[bool]:
    return [store.admit_message(connection_id, at_us, LIMIT).allowed for _ in range(count)]


def test_a_new_connection_may_send_its_burst_at_once_and_no_more(store: ConnectionStore) -> None:
    assert admitted(store, "c1", NOW_US, LIMIT.burst + 2) == [True] * LIMIT.burst + [False, False]


def test_a_refused_message_says_when_the_next_one_is_admitted(store: ConnectionStore) -> None:
    admitted(store, "c1", NOW_US, LIMIT.burst)
    refused = store.admit_message("c1", NOW_US + 100_000, LIMIT)

    assert (refused.allowed, refused.retry_after_ms) == (False, 400)
    assert admitted(store, "c1", NOW_US + 499_999, 1) == [False]
    assert admitted(store, "c1", NOW_US + 500_000, 2) == [True, False]


def test_an_idle_connection_gets_back_its_burst_and_no_more(store: ConnectionStore) -> None:
    admitted(store, "c1", NOW_US, LIMIT.burst)
    an_hour_later = NOW_US + 3_600 * 1_000_000

    assert admitted(store, "c1", an_hour_later, LIMIT.burst + 1) == [True] * LIMIT.burst + [False]


def test_connections_have_buckets_of_their_own(store: ConnectionStore) -> None:
    admitted(store, "c1", NOW_US, LIMIT.burst)

    assert admitted(store, "c2", NOW_US, 1) == [True]
    assert admitted(store, ODD_IDS[0], NOW_US, LIMIT.burst + 1) == [True] * LIMIT.burst + [False]


def test_remove_forgets_the_rate_state_but_does_not_count_it(store: ConnectionStore) -> None:
    store.add(connection("c1"))
    admitted(store, "c1", NOW_US, LIMIT.burst)

    assert store.remove(["c1"]) == 1
    assert admitted(store, "c1", NOW_US, 1) == [True]


def test_the_rate_state_is_not_listed_as_a_connection(store: ConnectionStore) -> None:
    store.add(connection("c1"))
    admitted(store, "c2", NOW_US, 1)

    assert list(store.connection_ids()) == ["c1"]
    assert store.get("c2") is None


CONCURRENT_MESSAGES = 12
CONCURRENT_BURST = 5


def test_concurrent_messages_of_one_connection_admit_exactly_the_burst(store: ConnectionStore) -> None:
    limit = RateLimit(rate_per_s=0.001, burst=CONCURRENT_BURST)  # no token comes back during the test
    start = threading.Barrier(CONCURRENT_MESSAGES)

    def send(_: int) -> bool:
        start.wait()  # all at once, as concurrent invocations for one connection's frames would
        return store.admit_message("c1", NOW_US, limit).allowed

    with ThreadPoolExecutor(max_workers=CONCURRENT_MESSAGES) as pool:
        answers = list(pool.map(send, range(CONCURRENT_MESSAGES)))

    assert answers.count(True) == CONCURRENT_BURST
    assert store.admit_message("c1", NOW_US, limit).allowed is False


# --- The fan-out budget (issue 31): the same bucket, a message costing the posts it causes ---


BUDGET = RateLimit(rate_per_s=10.0, burst=10)
"""Posts of the contract: 10 at once, then one every 100 ms (100,000 us)."""


def spent(store: ConnectionStore, spender: Spender, spender_id: str, at_us: int, posts: list[int]) -> list[bool]:
    return [store.admit_posts(spender, spender_id, cost, at_us, BUDGET).allowed for cost in posts]


@pytest.mark.parametrize("spender", list(Spender))
def test_a_budget_admits_posts_up_to_its_burst_at_once_and_refuses_past_it(
    store: ConnectionStore, spender: Spender
) -> None:
    assert spent(store, spender, "s1", NOW_US, [4, 4, 3, 2, 1]) == [True, True, False, True, False]


def test_a_full_budget_admits_one_fan_out_past_its_burst_and_is_then_in_debt(store: ConnectionStore) -> None:
    assert spent(store, Spender.CONNECTION, "c1", NOW_US, [50, 1]) == [True, False]
    refused = store.admit_posts(Spender.CONNECTION, "c1", 1, NOW_US, BUDGET)

    # 50 posts at 10 a second: the next single post fits once 41 of them are paid back, 4.1 s later.
    assert (refused.allowed, refused.retry_after_ms) == (False, 4100)
    assert spent(store, Spender.CONNECTION, "c1", NOW_US + 4_099_999, [1]) == [False]
    assert spent(store, Spender.CONNECTION, "c1", NOW_US + 4_100_000, [1, 1]) == [True, False]


def test_budgets_are_kept_apart_by_spender_and_from_the_message_rate(store: ConnectionStore) -> None:
    spent(store, Spender.CONNECTION, "x", NOW_US, [10])

    assert spent(store, Spender.USER, "x", NOW_US, [10]) == [True], "a user and a connection of one id are two"
    assert spent(store, Spender.CONNECTION, ODD_IDS[0], NOW_US, [10, 1]) == [True, False]
    assert admitted(store, "x", NOW_US, LIMIT.burst) == [True] * LIMIT.burst, "the message rate is its own bucket"


def test_remove_forgets_a_connections_budget_and_a_budget_is_never_listed(store: ConnectionStore) -> None:
    store.add(connection("c1"))
    spent(store, Spender.CONNECTION, "c1", NOW_US, [10])
    spent(store, Spender.USER, "u1", NOW_US, [10])

    assert list(store.connection_ids()) == ["c1"]
    assert store.remove(["c1"]) == 1
    assert spent(store, Spender.CONNECTION, "c1", NOW_US, [10]) == [True]
    assert list(store.connection_ids()) == []


def test_concurrent_fan_outs_of_one_user_spend_exactly_its_burst(store: ConnectionStore) -> None:
    budget = RateLimit(rate_per_s=0.001, burst=CONCURRENT_BURST * 2)  # nothing comes back during the test
    start = threading.Barrier(CONCURRENT_MESSAGES)

    def fan_out(_: int) -> bool:
        start.wait()
        return store.admit_posts(Spender.USER, "u1", 2, NOW_US, budget).allowed

    with ThreadPoolExecutor(max_workers=CONCURRENT_MESSAGES) as pool:
        answers = list(pool.map(fan_out, range(CONCURRENT_MESSAGES)))

    assert answers.count(True) == CONCURRENT_BURST
