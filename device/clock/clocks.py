"""The clock seam. Time is untrusted: see ``device.clock.floor`` for the known-good floor.

``SystemClock`` is the real backend; ``ManualClock`` is a fake that tests and the
simulator drive (like gpiozero's MockFactory, it ships with the product).
"""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    def now(self) -> float:
        """Wall-clock time, Unix seconds (may be wrong: a Pi has no battery clock)."""
        ...

    def monotonic(self) -> float:
        """Seconds from an arbitrary origin; never goes back."""
        ...


class SystemClock:
    def now(self) -> float:
        return time.time()

    def monotonic(self) -> float:
        return time.monotonic()


class ManualClock:
    """A clock that only moves when told to. Records nothing, drives everything."""

    def __init__(self, now: float = 1_700_000_000.0, monotonic: float = 1000.0) -> None:
        self._now = now
        self._mono = monotonic

    def now(self) -> float:
        return self._now

    def monotonic(self) -> float:
        return self._mono

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("ManualClock.advance: seconds must be >= 0")
        self._now += seconds
        self._mono += seconds

    def set_wall(self, now: float) -> None:
        """Jump the wall clock (e.g. to 1970) without moving monotonic time."""
        self._now = now
