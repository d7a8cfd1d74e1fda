"""State the daemon restores at start from the journal: the anti-passback window.

The decision stage keeps its window in memory and knows nothing of the journal; the
daemon refills it here, before the first scan. The journal holds every ACCEPTED record
with its code id, its ``t_wall`` and the clock quality it was stamped with. Time is
untrusted (no battery clock; monotonic time does not survive a reboot), so a record's
age is measured like this (docs/daemon.md, "Anti-passback across restarts"):

- at least the time from the record to the newest record in the journal (the last
  decision before the start), by the journal's own timestamps; the time the terminal
  was down counts as zero, since no clock vouched for it;
- more, if both now (``TimeFloor.now()``) and the record are ``synced``: then the time
  since the record by the clock.

A record younger than the window is remembered as accepted ``age`` seconds before the
start (one stamped after the last decision, the clock having gone back, counts as just
accepted). So the window errs towards denying a replay, never towards letting one
through, and no restored entry outlives ``anti_passback_s`` after the start.
"""

from __future__ import annotations

from typing import Protocol

from device.clock.floor import ClockQuality, TrustedTime
from device.decide.passback import PassbackMemory


class AcceptedRecords(Protocol):
    def last_decision_t(self) -> float | None: ...

    def accepted_since(self, t_from: float, limit: int) -> list[tuple[str, str, float]]: ...


def restore_passback(journal: AcceptedRecords, memory: PassbackMemory, now: TrustedTime,
                     mono: float) -> int:
    """Refill ``memory`` from the journal; ``mono`` is this process's monotonic time now.
    Returns the code ids remembered."""
    window = memory.window_s
    if window <= 0:
        return 0
    t_last = journal.last_decision_t()
    if t_last is None:
        return 0
    synced_now = now.quality is ClockQuality.SYNCED
    entries: list[tuple[str, float]] = []
    for code_id, quality, t_wall in journal.accepted_since(t_last - window,
                                                           memory.max_entries):
        age = max(t_last - t_wall, 0.0)
        if synced_now and quality == ClockQuality.SYNCED.value:
            age = max(age, now.t - t_wall)
        if age < window:
            entries.append((code_id, mono - age))
    return memory.restore(entries) if entries else 0
