"""Request counters of the stand-in centre (the fleet simulation reads them)."""

from __future__ import annotations

import threading
import time
from typing import Any

MAX_LOG = 200_000


class Metrics:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.by_endpoint: dict[str, dict[str, int]] = {}
        self.counters: dict[str, int] = {}
        self._log: list[tuple[float, str, str, int, str | None]] = []

    def request(self, endpoint: str, terminal: str, status: int, fault: str | None) -> None:
        with self._lock:
            ep = self.by_endpoint.setdefault(endpoint, {"requests": 0})
            ep["requests"] += 1
            key = f"status_{status}" if status else "no_response"
            ep[key] = ep.get(key, 0) + 1
            if fault:
                ep[f"fault_{fault}"] = ep.get(f"fault_{fault}", 0) + 1
            if len(self._log) < MAX_LOG:
                self._log.append((time.monotonic(), endpoint, terminal, status, fault))

    def count(self, name: str, n: int = 1) -> None:
        with self._lock:
            self.counters[name] = self.counters.get(name, 0) + n

    def records(self, received: int, stored: int, duplicates: int) -> None:
        with self._lock:
            for name, n in (("records_received", received), ("records_stored", stored),
                            ("records_duplicate", duplicates)):
                self.counters[name] = self.counters.get(name, 0) + n

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "endpoints": {k: dict(v) for k, v in self.by_endpoint.items()},
                "counters": dict(self.counters),
            }

    def requests_log(self) -> list[dict[str, Any]]:
        """Every request: monotonic time, endpoint, terminal, status (0 = none), fault."""
        with self._lock:
            return [
                {"t": t, "endpoint": e, "terminal": term, "status": s, "fault": f}
                for t, e, term, s, f in self._log
            ]

    def endpoint(self, name: str) -> dict[str, int]:
        with self._lock:
            return dict(self.by_endpoint.get(name, {"requests": 0}))
