"""Backoff: full jitter within bounds, capped, deterministic with a seeded rng;
Retry-After as seconds or HTTP-date."""

from __future__ import annotations

import random
from email.utils import formatdate

import pytest

from device.uplink.backoff import Backoff, parse_http_date, parse_retry_after


def test_full_jitter_bounds_and_cap() -> None:
    b = Backoff(base_s=1.0, cap_s=30.0, rng=random.Random(1))
    for attempt in range(12):
        ceiling = min(30.0, 2.0**attempt)
        assert b.ceiling(attempt) == ceiling
        samples = [b.delay(attempt) for _ in range(400)]
        assert all(0.0 <= s <= ceiling for s in samples)
        # FULL jitter: the whole range [0, ceiling] is used, not just the top of it.
        assert min(samples) < 0.1 * ceiling
        assert max(samples) > 0.9 * ceiling
    assert b.ceiling(10_000) == 30.0  # capped, no overflow


def test_deterministic_with_seeded_rng() -> None:
    a = Backoff(base_s=0.5, cap_s=60.0, rng=random.Random(42))
    b = Backoff(base_s=0.5, cap_s=60.0, rng=random.Random(42))
    assert [a.delay(n) for n in range(10)] == [b.delay(n) for n in range(10)]
    c = Backoff(base_s=0.5, cap_s=60.0, rng=random.Random(43))
    assert [a.delay(n) for n in range(10)] != [c.delay(n) for n in range(10)]


def test_first_attempt_is_jittered() -> None:
    b = Backoff(base_s=1.0, cap_s=10.0, rng=random.Random(3))
    firsts = [b.first_delay(5.0) for _ in range(200)]
    assert all(0.0 <= f <= 5.0 for f in firsts)
    assert len({round(f, 3) for f in firsts}) > 150  # spread, not one fixed start time
    assert min(firsts) < 0.5 and max(firsts) > 4.5


def test_retry_after_is_a_minimum_plus_jitter() -> None:
    b = Backoff(base_s=1.0, cap_s=300.0, rng=random.Random(5))
    waits = [b.after_retry_after(30.0) for _ in range(200)]
    assert all(30.0 <= w <= 45.0 for w in waits)
    assert max(waits) - min(waits) > 10.0  # terminals told "30" do not all return at 30


def test_retry_after_seconds() -> None:
    assert parse_retry_after("120", now=0.0) == 120.0
    assert parse_retry_after(" 0 ", now=0.0) == 0.0
    assert parse_retry_after("999999", now=0.0, max_s=3600.0) == 3600.0


def test_retry_after_http_date_against_response_date() -> None:
    server_now = 1_800_000_000.0
    retry = formatdate(server_now + 90, usegmt=True)
    date = formatdate(server_now, usegmt=True)
    # The terminal's clock says 1970: the centre's own Date is the reference.
    assert parse_retry_after(retry, now=0.0, response_date=date) == 90.0
    # Without a Date header the terminal's clock is used.
    assert parse_retry_after(retry, now=server_now + 30) == 60.0
    # A date in the past means "now".
    assert parse_retry_after(formatdate(server_now - 10, usegmt=True), now=server_now) == 0.0


@pytest.mark.parametrize("bad", [None, "", "soon", "-5", "1.5", "Mon, 99 Foo 2026", "x" * 100])
def test_retry_after_garbage_is_ignored(bad: str | None) -> None:
    assert parse_retry_after(bad, now=1000.0) is None


def test_http_date_minus_zero_is_utc() -> None:
    assert parse_http_date("Fri, 27 Nov 2026 04:00:00 -0000") == parse_http_date(
        "Fri, 27 Nov 2026 04:00:00 GMT"
    )
    assert parse_http_date("garbage") is None


def test_backoff_rejects_bad_parameters() -> None:
    with pytest.raises(ValueError):
        Backoff(base_s=0.0, cap_s=1.0)
    with pytest.raises(ValueError):
        Backoff(base_s=2.0, cap_s=1.0)
