"""Message ids: sortable as text in time order, strictly increasing within a process, and recognised exactly."""

from __future__ import annotations

from lambda_src.protocol.message_ids import ID_CHARS, IdGenerator, is_id, make_id, time_ms, time_prefix


def test_ids_of_later_milliseconds_sort_after_earlier_ones_as_text() -> None:
    assert make_id(1_700_000_000_000, 2**79) < make_id(1_700_000_000_001, 0)
    assert sorted([make_id(5, 1), make_id(3, 9), make_id(4, 0)]) == [make_id(3, 9), make_id(4, 0), make_id(5, 1)]


def test_ids_within_one_process_strictly_increase_even_in_one_millisecond_or_when_the_clock_steps_back() -> None:
    generator = IdGenerator()
    ids = [generator.new(1_800_000_000_000) for _ in range(500)] + [generator.new(1_799_999_999_000) for _ in range(10)]

    assert ids == sorted(ids)
    assert len(set(ids)) == len(ids)


def test_an_id_carries_its_millisecond_and_is_26_characters_of_crockford_base32() -> None:
    message_id = make_id(1_700_000_000_123, 42)

    assert len(message_id) == ID_CHARS == 26
    assert time_ms(message_id) == 1_700_000_000_123
    assert is_id(message_id)


def test_a_time_prefix_bounds_exactly_the_ids_of_that_millisecond_and_later() -> None:
    bound = time_prefix(1_700_000_000_000)

    assert make_id(1_699_999_999_999, 2**80 - 1) < bound < make_id(1_700_000_000_000, 0)


def test_only_well_formed_ids_are_ids() -> None:
    good = make_id(1_700_000_000_000, 2**79 + 12_345)

    assert not any(is_id(v) for v in (good.lower(), good[:-1], good + "0", "I" * 26, 26, None, "", "U" + good[1:]))
