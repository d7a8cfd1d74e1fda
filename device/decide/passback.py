"""Anti-passback memory: code ids accepted recently, by monotonic time (the wall clock lies)."""

from __future__ import annotations

from collections import OrderedDict


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

    def __len__(self) -> int:
        return len(self._seen)
