"""The throttle counters themselves (the sign-in tests cover the policy end to end)."""

from __future__ import annotations

from heroshhi.accounts import lockout
from heroshhi.accounts.tests.conftest import FrozenClock

UNIT = lockout.Throttle("unit", threshold=3, window_seconds=600, cooloff_seconds=300)


def test_it_trips_once_at_the_threshold_and_locks_for_the_cool_off(clock: FrozenClock):
    assert [lockout.record_failure(UNIT, "k") for _ in range(3)] == [False, False, True]
    assert lockout.is_locked(UNIT, "k")
    assert not lockout.is_locked(UNIT, "other")
    clock.advance(299)
    assert lockout.is_locked(UNIT, "k")
    clock.advance(2)
    assert not lockout.is_locked(UNIT, "k")


def test_failures_spread_beyond_the_window_do_not_trip_it(clock: FrozenClock):
    for _ in range(6):
        assert not lockout.record_failure(UNIT, "k")
        clock.advance(600)


def test_the_previous_window_still_counts_while_it_overlaps(clock: FrozenClock):
    lockout.record_failure(UNIT, "k")
    lockout.record_failure(UNIT, "k")
    clock.advance(600 - clock.now % 600 + 60)  # 60 s into the next window: they weigh 0.9
    assert not lockout.record_failure(UNIT, "k")  # 2 x 0.9 + 1 = 2.8
    assert lockout.record_failure(UNIT, "k")  # 2 x 0.9 + 2 = 3.8


def test_clear_failures_keeps_a_running_cool_off(clock: FrozenClock):
    for _ in range(3):
        lockout.record_failure(UNIT, "k")
    lockout.clear_failures(UNIT, "k")
    assert lockout.is_locked(UNIT, "k")
    lockout.clear(UNIT, "k")
    assert not lockout.is_locked(UNIT, "k")


def test_cache_keys_carry_no_email(clock: FrozenClock):
    key = lockout.pair_key("Alice@A.example ", "203.0.113.5")
    assert key == lockout.pair_key("alice@a.example", "203.0.113.5")
    assert "alice" not in lockout._count_key(lockout.LOGIN_PAIR, key, 1)
    assert "alice" not in lockout._lock_key(lockout.LOGIN_PAIR, key)
