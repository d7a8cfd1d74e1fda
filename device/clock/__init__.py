"""Time, which the terminal does not trust (a Pi has no battery clock).

``clocks``: the ``Clock`` seam, ``SystemClock`` (real) and ``ManualClock`` (driven by
tests and the simulator). ``floor``: ``TimeFloor``, the persisted monotonic floor of
known-good time and the clock quality every decision carries (docs/time.md).
"""

from device.clock.clocks import Clock, ManualClock, SystemClock
from device.clock.floor import ClockQuality, TimeFloor, TrustedTime

__all__ = ["Clock", "ClockQuality", "ManualClock", "SystemClock", "TimeFloor", "TrustedTime"]
