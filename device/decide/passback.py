"""Anti-passback memory: code ids accepted recently, by monotonic time (the wall clock lies).

It lives in memory; the daemon refills it at start from the journal's recent ACCEPTED
records (``restore``: the decision stage itself never reads the journal; the rule for
ageing those records under an untrusted clock is in docs/daemon.md).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable


class PassbackMemory:
    """Code ids accepted recently, oldest first; bounded in size and by the window."""

    def __init__(self, window_s: float, *, max_entries: int = 100_000) -> None:
        self.window_s = window_s
        self.max_entries = max_entries
        self._seen: OrderedDict[str, float] = OrderedDict()

    def _prune(self, t_mono: float) -> None:
        while self._seen:
            code_id, t = next(iter(self._seen.items()))
            if t_mono - t < self.window_s and len(self._seen) <= self.max_entries:
                break
            del self._seen[code_id]

    def seen_within(self, code_id: str, t_mono: float) -> bool:
        self._prune(t_mono)
        t = self._seen.get(code_id)
        return t is not None and t_mono - t < self.window_s

    def remember(self, code_id: str, t_mono: float) -> None:
        self._seen[code_id] = t_mono
        self._seen.move_to_end(code_id)
        self._prune(t_mono)

    def restore(self, accepted: Iterable[tuple[str, float]]) -> int:
        """Remember code ids accepted before a restart: ``(code_id, t_mono)`` pairs with
        ``t_mono`` on this process's monotonic clock (usually in the past, even negative).
        Kept: the latest time per code id, oldest first, at most ``max_entries``. Returns
        how many code ids are remembered now."""
        merged = dict(self._seen)
        for code_id, t in accepted:
            if t > merged.get(code_id, float("-inf")):
                merged[code_id] = t
        ordered = sorted(merged.items(), key=lambda kv: kv[1])
        newest = ordered[max(0, len(ordered) - self.max_entries):]
        self._seen = OrderedDict(newest)  # oldest first, as _prune expects
        return len(self._seen)

    def __len__(self) -> int:
        return len(self._seen)
