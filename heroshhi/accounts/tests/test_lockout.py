"""The throttle counters themselves (the sign-in tests cover the policy end to end)."""

from __future__ import annotations

from django.core.cache import cache

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


def test_the_wait_is_told_in_minutes_rounded_up_then_in_hours():
    assert lockout.RetryAfter.until(1000.5, now=1000.0).minutes == 1
    assert lockout.RetryAfter.until(1000.0 + 15 * 60, now=1000.0).minutes == 15
    assert lockout.RetryAfter.until(1000.0 + 15 * 60 + 1, now=1000.0).minutes == 16
    assert lockout.RetryAfter(minutes=90).hours is None
    assert lockout.RetryAfter(minutes=91).hours == 2
    assert lockout.RetryAfter(minutes=24 * 60).hours == 24


def test_the_gate_waits_for_the_longest_running_cool_off(clock: FrozenClock):
    email, ip = "someone@example.test", "203.0.113.5"
    for _ in range(lockout.LOGIN_PAIR.threshold):
        lockout.login_failure(email=email, ip=ip)
    until = clock.now + lockout.LOGIN_ACCOUNT.cooloff_seconds
    cache.set(lockout._lock_key(lockout.LOGIN_ACCOUNT, email), until)
    gate = lockout.login_gate(email=email, ip=ip)
    assert gate.locked_by == lockout.LOGIN_PAIR.name
    assert gate.retry_after == lockout.RetryAfter(minutes=24 * 60)


def test_a_release_ends_the_pair_locks_of_an_address_but_not_later_ones(clock: FrozenClock):
    email = "someone@example.test"
    for ip in ("203.0.113.5", "198.51.100.7"):
        for _ in range(lockout.LOGIN_PAIR.threshold):
            lockout.login_failure(email=email, ip=ip)
    assert set(lockout.accounts_locked_until(emails=[email])) == {email}
    clock.advance(10)
    lockout.account_release(email=email)
    assert lockout.login_gate(email=email, ip="203.0.113.5").open
    assert lockout.login_gate(email=email, ip="198.51.100.7").open
    assert lockout.accounts_locked_until(emails=[email]) == {}
    clock.advance(10)
    for _ in range(lockout.LOGIN_PAIR.threshold):
        lockout.login_failure(email=email, ip="203.0.113.5")
    assert not lockout.login_gate(email=email, ip="203.0.113.5").open
    assert lockout.accounts_locked_until(emails=[email]) == {
        email: clock.now + lockout.LOGIN_PAIR.cooloff_seconds
    }


def test_the_per_address_notes_carry_no_email():
    key = lockout._address_note_key("login-released", "Alice@A.example")
    assert "alice" not in key.lower()
    assert key == lockout._address_note_key("login-released", " alice@a.example")
