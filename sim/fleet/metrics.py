"""What one fleet's run measured: per-second series, decision latencies, counters.

A ``FleetRecorder`` lives in the process that runs the fleet; ``result()`` turns it into
a picklable ``FleetResult`` (plain arrays and numbers) for the report. Summaries
(percentiles, peaks, drain) are computed from a ``FleetResult`` by ``summarise``.

Series are in 1-second bins of virtual time. Request counts are the requests that
reached the centre (admitted or shed with 503/409); requests refused while the centre
is down or black-holed are counted apart (``refused``): no centre work is done for them.
"""

from __future__ import annotations

import math
from array import array
from dataclasses import dataclass, field
from typing import Any

ENDPOINTS = ("upload", "heartbeat", "trust-list", "verify")
STALL_S = 1.0
#: "After the recovery" means the first minute after it: when a centre that has just
#: come back is most fragile, and when a naive retry wave hits.
RECOVERY_WINDOW_S = 60


def _zeros(n: int, typecode: str = "l") -> array[Any]:
    return array(typecode, bytes(n * array(typecode).itemsize))


class FleetRecorder:
    def __init__(self, name: str, total_s: float, recovery_s: float | None = None) -> None:
        self.name = name
        self.recovery_s = recovery_s
        self.decided_pre = 0  # records decided before the recovery
        self.stored_pre = 0  # ... and stored at the centre
        self.last_pre_store_t: float | None = None
        self.n = math.ceil(total_s) + 2
        self.requests = {ep: _zeros(self.n) for ep in ENDPOINTS}
        self.shed = _zeros(self.n)
        self.refused = _zeros(self.n)
        self.timeouts = _zeros(self.n)
        self.queue = _zeros(self.n, "d")  # max requests queued at the centre in the bin
        self.decided = _zeros(self.n)  # records decided (to be stored at the centre)
        self.stored = _zeros(self.n)  # records stored at the centre for the first time
        self.lat_t = array("d")  # decision time (virtual s)
        self.lat_ms = array("d")  # gate decision latency (ms)
        self.counters: dict[str, int] = {}
        self.reasons: dict[str, int] = {}

    def bin(self, t: float) -> int:
        return min(max(int(t), 0), self.n - 1)

    def count(self, name: str, n: int = 1) -> None:
        self.counters[name] = self.counters.get(name, 0) + n

    def request(self, endpoint: str, t: float) -> None:
        self.requests[endpoint][self.bin(t)] += 1

    def queue_depth(self, t: float, depth: float) -> None:
        b = self.bin(t)
        if depth > self.queue[b]:
            self.queue[b] = depth

    def decision(self, t: float, latency_ms: float, reason: str, *, record: bool) -> None:
        self.lat_t.append(t)
        self.lat_ms.append(latency_ms)
        self.reasons[reason] = self.reasons.get(reason, 0) + 1
        if record:
            self.decided[self.bin(t)] += 1
            if self.recovery_s is not None and t < self.recovery_s:
                self.decided_pre += 1

    def stored_record(self, now: float, t_decided: float) -> None:
        """A record reached the centre for the first time at ``now``."""
        self.stored[self.bin(now)] += 1
        if self.recovery_s is not None and t_decided < self.recovery_s:
            self.stored_pre += 1
            self.last_pre_store_t = now

    def result(self, **extra: Any) -> FleetResult:
        counters = dict(self.counters)
        if self.recovery_s is not None:
            counters["decided_before_recovery"] = self.decided_pre
            counters["stored_before_recovery"] = self.stored_pre
        return FleetResult(
            name=self.name, requests={k: list(v) for k, v in self.requests.items()},
            shed=list(self.shed), refused=list(self.refused), timeouts=list(self.timeouts),
            queue=list(self.queue), decided=list(self.decided), stored=list(self.stored),
            lat_t=list(self.lat_t), lat_ms=list(self.lat_ms),
            counters=dict(sorted(counters.items())),
            reasons=dict(sorted(self.reasons.items())), drain_s=self._drain(), **extra)

    def _drain(self) -> float | None:
        """Seconds from the recovery until every record decided before it was stored
        (None without a recovery, or when some never were)."""
        if self.recovery_s is None or self.decided_pre == 0:
            return None
        if self.stored_pre < self.decided_pre or self.last_pre_store_t is None:
            return None
        return max(0.0, self.last_pre_store_t - self.recovery_s)


@dataclass
class FleetResult:
    name: str
    requests: dict[str, list[int]]
    shed: list[int]
    refused: list[int]
    timeouts: list[int]
    queue: list[float]
    decided: list[int]
    stored: list[int]
    lat_t: list[float]
    lat_ms: list[float]
    counters: dict[str, int]
    reasons: dict[str, int]
    drain_s: float | None = None
    latency_measured: bool = True  # False: gate latency is virtual (waits on the centre)
    wall_s: float = 0.0
    peak_rss_mb: float = 0.0
    build_mb_per_terminal: float | None = None
    capacity_rps: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

    def total_requests(self) -> list[int]:
        return [sum(v) for v in zip(*self.requests.values(), strict=True)]


def percentile(values: list[float], q: float) -> float | None:
    """The ``q``-th percentile (0..100), nearest-rank; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, math.ceil(q / 100.0 * len(ordered)) - 1))
    return ordered[k]


def in_windows(t: float, windows: list[tuple[float, float]]) -> bool:
    return any(lo <= t < hi for lo, hi in windows)


def summarise(r: FleetResult, *, outages: list[tuple[float, float]],
              recovery_s: float | None, day_s: float) -> dict[str, Any]:
    """The report's ``fleets.<name>`` figures (see docs/fleet.md for each)."""
    c = r.counters
    lat = r.lat_ms
    outage_lat = [ms for t, ms in zip(r.lat_t, lat, strict=True) if in_windows(t, outages)]
    normal_lat = [ms for t, ms in zip(r.lat_t, lat, strict=True) if not in_windows(t, outages)]
    total = r.total_requests()
    active = total[: int(day_s) + 1]
    mean = sum(active) / len(active) if active else 0.0
    peak = max(total) if total else 0
    after = None
    if recovery_s is not None:
        lo = int(recovery_s)
        after = max(total[lo:lo + RECOVERY_WINDOW_S], default=0)
    decided_records = sum(r.decided)
    stored = sum(r.stored)
    unique = c.get("unique_batches", 0)
    attempts = sum(r.requests["upload"])
    p99_out = percentile(outage_lat, 99)
    p99_norm = percentile(normal_lat, 99)
    return {
        "decisions": len(lat),
        "stalled": sum(1 for ms in lat if ms > STALL_S * 1000),
        "failed": c.get("failed", 0),
        "decision_p50_ms": _r(percentile(lat, 50)),
        "decision_p99_ms": _r(percentile(lat, 99)),
        "decision_p99_ms_outage": _r(p99_out),
        "decision_p99_ms_normal": _r(p99_norm),
        "decision_p99_outage_ratio": (_r(p99_out / p99_norm) if p99_out is not None
                                      and p99_norm else None),
        "decision_latency_measured": r.latency_measured,
        "centre_requests": sum(total),
        "centre_peak_rps": peak,
        "centre_peak_rps_after_recovery": after,
        "centre_mean_rps": _r(mean),
        "centre_peak_to_mean": _r(peak / mean) if mean > 0 else None,
        "centre_shed_503": sum(r.shed),
        "centre_refused_while_down": sum(r.refused),
        "client_timeouts": sum(r.timeouts),
        "centre_peak_queue": _r(max(r.queue, default=0.0)),
        "upload_requests": attempts,
        "unique_batches": unique,
        "work_amplification": _r(attempts / unique) if unique else None,
        "records_decided": decided_records,
        "records_stored": stored,
        "drain_s": _r(r.drain_s, 1),
        "lost": max(0, decided_records - stored) + c.get("journal_lost", 0),
        "duplicates": c.get("duplicates", 0),
        "duplicates_stored": c.get("duplicates_stored", 0),
        "mismatches": c.get("mismatches", 0),
        "reasons": r.reasons,
        "counters": c,
    }


def backlog(r: FleetResult) -> list[int]:
    """Records decided but not yet stored at the centre, at the end of each second."""
    out = []
    level = 0
    for d, s in zip(r.decided, r.stored, strict=True):
        level += d - s
        out.append(level)
    return out


def _r(x: float | None, nd: int = 3) -> float | None:
    return None if x is None else round(float(x), nd)
