"""Retry pacing: exponential backoff with FULL jitter and a cap, and Retry-After parsing.

Full jitter (AWS architecture blog, "Exponential Backoff And Jitter"): the n-th retry
waits ``uniform(0, min(cap, base * 2**n))``. 250 terminals that lost the centre at the
same moment therefore come back spread over the whole window instead of in lock-step.
The first attempt after start is jittered too (``first_delay``), so a site whose power
comes back does not hit the centre with every gate in the same second.

``Retry-After`` (RFC 9110 §10.2.3) is honoured as a *minimum*: the terminal waits at
least that long, plus a jitter of up to ``max(base, retry_after / 2)`` (capped), so a
centre that tells every terminal "30" does not get them all back at second 30.
An HTTP-date is measured against the response's own ``Date`` header when there is one
(the terminal's clock is untrusted), else against the terminal's clock.
"""

from __future__ import annotations

import math
import random
from datetime import UTC
from email.utils import parsedate_to_datetime


class Backoff:
    """Full-jitter exponential backoff. ``rng`` is injectable for deterministic tests."""

    def __init__(self, *, base_s: float, cap_s: float, rng: random.Random | None = None) -> None:
        if base_s <= 0 or cap_s < base_s:
            raise ValueError("Backoff: need 0 < base_s <= cap_s")
        self.base_s = base_s
        self.cap_s = cap_s
        self.rng = rng if rng is not None else random.Random()

    def ceiling(self, attempt: int) -> float:
        """Upper bound of the wait before retry number ``attempt`` (0 = first retry)."""
        if attempt < 0:
            raise ValueError("Backoff.ceiling: attempt must be >= 0")
        exp = min(attempt, 62)  # 2**62 * base is far past any cap; avoids float overflow
        return min(self.cap_s, self.base_s * math.pow(2.0, exp))

    def delay(self, attempt: int) -> float:
        """Seconds to wait before retry number ``attempt``: uniform(0, ceiling)."""
        return self.rng.uniform(0.0, self.ceiling(attempt))

    def first_delay(self, window_s: float) -> float:
        """Jittered wait before the first attempt after start: uniform(0, window_s)."""
        return self.rng.uniform(0.0, max(0.0, window_s))

    def jittered_interval(self, interval_s: float, spread: float = 0.5) -> float:
        """A periodic interval with jitter: uniform(interval*(1-spread), interval*(1+spread))."""
        return self.rng.uniform(interval_s * (1.0 - spread), interval_s * (1.0 + spread))

    def after_retry_after(self, retry_after_s: float) -> float:
        """Honour a Retry-After: at least ``retry_after_s``, plus jitter so retries spread."""
        spread = min(self.cap_s, max(self.base_s, retry_after_s / 2.0))
        return retry_after_s + self.rng.uniform(0.0, spread)


def parse_retry_after(
    value: str | None,
    *,
    now: float,
    response_date: str | None = None,
    max_s: float = 6 * 3600.0,
) -> float | None:
    """Parse a Retry-After header (delay-seconds or HTTP-date) to seconds from now.

    Returns None when absent or unparseable (the caller then uses its own backoff);
    never negative; clamped to ``max_s`` so a broken centre cannot park a terminal forever.
    """
    if value is None:
        return None
    text = value.strip()
    if not text or len(text) > 64:
        return None
    if text.isdigit():
        return min(float(int(text)), max_s)
    when = parse_http_date(text)
    if when is None:
        return None
    reference = parse_http_date(response_date)
    if reference is None:
        reference = now
    return min(max(0.0, when - reference), max_s)


def parse_http_date(value: str | None) -> float | None:
    """An HTTP ``Date`` header as Unix seconds, or None."""
    if not value or len(value) > 64:
        return None
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if parsed.tzinfo is None:  # "-0000": RFC 5322 says UTC with unknown origin
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()
