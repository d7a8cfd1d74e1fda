"""Faults the stand-in central engine injects, switched on and off at runtime by tests.

    server.faults.set("503", retry_after="2")          # every request until cleared
    server.faults.set("partition", endpoint="upload", times=1)
    server.faults.add("500", times=2); server.faults.add("reset", times=1)  # in order
    server.faults.clear()

Kinds:
    down       connection reset as soon as it is accepted, and on any request on an
               existing keep-alive connection (the centre is gone)
    slow       the request is processed after ``delay_s`` (clients time out; the
               centre still finishes the work, as a real overloaded centre does)
    500        HTTP 500, nothing processed
    503, 429   HTTP 503 / 429, nothing processed, ``Retry-After: <retry_after>`` if given
    truncate   processed and stored, then half of the response is sent and the
               connection closed (Content-Length promised more)
    reset      the request is read, nothing processed, the connection reset (RST)
    partition  processed and STORED, then the connection is reset without a response:
               the terminal cannot know the batch arrived
    status     answer HTTP ``code`` (e.g. 400, 401, 413), nothing processed
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import TypedDict, Unpack

from sim.errors import ScenarioError

KINDS = frozenset(
    {"down", "slow", "500", "503", "429", "truncate", "reset", "partition", "status"}
)
ENDPOINTS = frozenset({"upload", "heartbeat", "trust-list", "enrolment", "cacerts",
                       "reenrolment", "trust-root", "identity", "retire"})


@dataclass
class Fault:
    kind: str
    endpoint: str | None = None  # None: every endpoint
    times: int | None = None  # None: until cleared
    retry_after: str | None = None  # for 503/429: "<seconds>" or an HTTP-date
    delay_s: float = 2.0  # for slow
    code: int = 400  # for status


class FaultOptions(TypedDict, total=False):
    """The options of ``Faults.set`` and ``Faults.add`` (defaults as in ``Fault``)."""

    endpoint: str | None
    times: int | None
    retry_after: str | int | None
    delay_s: float
    code: int


class Faults:
    """A thread-safe ordered list of active faults; the first one that matches is used."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []
        self.injected: dict[str, int] = {}

    def _make(
        self,
        kind: str,
        *,
        endpoint: str | None = None,
        times: int | None = None,
        retry_after: str | int | None = None,
        delay_s: float = 2.0,
        code: int = 400,
    ) -> Fault:
        if kind not in KINDS:
            raise ScenarioError(f"unknown central fault {kind!r}; known: {sorted(KINDS)}")
        if endpoint is not None and endpoint not in ENDPOINTS:
            raise ScenarioError(f"unknown endpoint {endpoint!r}; known: {sorted(ENDPOINTS)}")
        if times is not None and times < 1:
            raise ScenarioError("fault times must be >= 1 (or None for until cleared)")
        if not 400 <= code <= 599:
            raise ScenarioError(f"fault status code {code}: must be 400..599")
        ra = str(retry_after) if retry_after is not None else None
        return Fault(kind, endpoint, times, ra, delay_s, code)

    def set(self, kind: str, **options: Unpack[FaultOptions]) -> None:
        """Replace every active fault with this one."""
        fault = self._make(kind, **options)
        with self._lock:
            self._faults = [fault]

    def add(self, kind: str, **options: Unpack[FaultOptions]) -> None:
        """Append a fault after the active ones (used once the earlier ones are spent)."""
        fault = self._make(kind, **options)
        with self._lock:
            self._faults.append(fault)

    def clear(self) -> None:
        with self._lock:
            self._faults = []

    def active(self) -> list[Fault]:
        with self._lock:
            return list(self._faults)

    def is_down(self) -> bool:
        with self._lock:
            return any(f.kind == "down" for f in self._faults)

    def take(self, endpoint: str) -> Fault | None:
        """The fault to apply to one request on ``endpoint`` (consumes one use)."""
        with self._lock:
            for i, fault in enumerate(self._faults):
                if fault.kind == "down" or fault.endpoint not in (None, endpoint):
                    continue
                if fault.times is not None:
                    fault.times -= 1
                    if fault.times <= 0:
                        del self._faults[i]
                self.injected[fault.kind] = self.injected.get(fault.kind, 0) + 1
                return fault
            return None

    def count_down(self) -> None:
        with self._lock:
            self.injected["down"] = self.injected.get("down", 0) + 1
