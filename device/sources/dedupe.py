"""One code, one decision: suppress the same code read again soon from the same source.

A phone held in front of a camera gives ~30 reads a second. ``Deduper.admit(scan)``
is True for the first read of a (source, payload) pair and False while the same pair
keeps being read within ``window_s`` of its previous read (the window slides with each
repeat, so a phone held still for ten seconds gives one decision). A different code,
or the same code from another source, passes at once. Times are ``Scan.t_mono``.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import AsyncIterator

from device.sources.base import Scan


class Deduper:
    def __init__(self, window_s: float = 3.0, *, max_entries: int = 4096) -> None:
        if window_s < 0:
            raise ValueError("window_s must be >= 0")
        if max_entries < 1:
            raise ValueError("max_entries must be >= 1")
        self.window_s = window_s
        self.max_entries = max_entries
        self._last: OrderedDict[tuple[str, bytes], float] = OrderedDict()
        self.admitted = 0
        self.suppressed = 0

    def admit(self, scan: Scan) -> bool:
        now = scan.t_mono
        self._prune(now)
        key = (scan.source, scan.payload)
        last = self._last.pop(key, None)
        self._last[key] = now  # most recent at the end
        while len(self._last) > self.max_entries:
            self._last.popitem(last=False)
        if last is not None and 0 <= now - last < self.window_s:
            self.suppressed += 1
            return False
        self.admitted += 1
        return True

    def _prune(self, now: float) -> None:
        while self._last:
            key, t = next(iter(self._last.items()))
            if now - t < self.window_s:
                break
            del self._last[key]

    async def filter(self, scans: AsyncIterator[Scan]) -> AsyncIterator[Scan]:
        """The admitted scans of an async stream."""
        async for scan in scans:
            if self.admit(scan):
                yield scan

    def status(self) -> dict[str, object]:
        return {"window_s": self.window_s, "admitted": self.admitted, "suppressed": self.suppressed}
