"""Ids sort in the order they were made, also many in one millisecond (app/rules/ids.py)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from app.rules.ids import _CROCKFORD, MonotonicUlids, new_id, ulid

MS = 1_764_600_000_000


def millisecond_of(value: str) -> int:
    return sum(_CROCKFORD.index(char) << (5 * (9 - n)) for n, char in enumerate(value[:10]))


@pytest.mark.parametrize("clock_ms", [
    pytest.param([MS] * 1000, id="a thousand in one millisecond"),
    pytest.param([MS + n for n in range(50)], id="one per millisecond"),
    pytest.param([MS, MS + 5, MS + 2, MS - 1000, MS + 5, MS + 6], id="the clock steps back"),
])
def test_each_ulid_sorts_after_the_one_made_before(clock_ms):
    ulids = MonotonicUlids()
    made = [ulids.next(ms) for ms in clock_ms]
    assert all(a < b for a, b in zip(made, made[1:]))
    assert all(len(u) == 26 for u in made)


def test_a_ulid_carries_the_newest_millisecond_seen():
    ulids = MonotonicUlids()
    made = [ulids.next(ms) for ms in (MS, MS + 7, MS + 3)]
    assert [millisecond_of(u) for u in made] == [MS, MS + 7, MS + 7]


def test_a_full_random_part_borrows_the_next_millisecond():
    ulids = MonotonicUlids()
    ulids._last = (MS << 80) | (2**80 - 1)  # the last id of MS that an increment can reach
    following = ulids.next(MS)
    assert millisecond_of(following) == MS + 1 and following[10:] == "0" * 16


def test_ids_made_by_many_threads_are_unique_and_each_threads_increase():
    def make(_):
        return [new_id("dlv") for _ in range(500)]

    with ThreadPoolExecutor(8) as pool:
        runs = list(pool.map(make, range(8)))
    assert len({i for run in runs for i in run}) == 8 * 500
    assert all(run == sorted(run) for run in runs)


def test_plain_ulid_encodes_the_given_millisecond():
    assert millisecond_of(ulid(MS)) == MS and ulid(MS) != ulid(MS)
