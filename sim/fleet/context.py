"""What every fleet of one shard shares: the scenario, the loop, the arrivals, the codes.

A run is split into shards (``--shards``): shard ``s`` of ``k`` simulates the terminals
whose index is ``s`` modulo ``k`` against a centre node of capacity ``C x n_s / N``, as
a centre of ``k`` nodes behind a load balancer that pins each terminal to one node. Every
fleet (scangate and the baselines) is sharded the same way and sees the same arrivals.
"""

from __future__ import annotations

import asyncio
import math
from dataclasses import dataclass
from datetime import UTC, datetime

from sim.fleet.codes import WINDOW_S, CodeBook
from sim.fleet.load import Arrival, Curve, arrivals
from sim.fleet.metrics import FleetRecorder
from sim.fleet.scenario import CODE_KINDS, Scenario

#: The virtual wall clock of a scenario without a date (2022-01-04T00:00:00Z).
DEFAULT_EPOCH_DATE = "2022-01-04"


@dataclass(frozen=True)
class Job:
    """One fleet on one shard: what a worker process runs."""

    fleet: str
    scenario: Scenario
    seed: int
    terminals: int
    shard: int = 0
    shards: int = 1

    def indices(self) -> range:
        return range(self.shard, self.terminals, self.shards)


def epoch_for(scenario: Scenario) -> float:
    """Unix time of the start of the scenario's day (its date at start_h, UTC)."""
    date = scenario.date or DEFAULT_EPOCH_DATE
    try:
        midnight = datetime.strptime(date[:10], "%Y-%m-%d").replace(tzinfo=UTC).timestamp()
    except ValueError:
        midnight = datetime.strptime(DEFAULT_EPOCH_DATE, "%Y-%m-%d").replace(
            tzinfo=UTC).timestamp()
    return midnight + scenario.day.start_h * 3600.0


def capacity_rps(scenario: Scenario, curve: Curve, terminals: int) -> float:
    """The whole centre's capacity: ``headroom`` x the normal-day peak load of the
    design it was sized for (naive_online: one request per scan, plus heartbeats and
    trust-list polls)."""
    per_terminal = (curve.peak_normal() + 1.0 / scenario.naive.heartbeat_interval_s
                    + 1.0 / scenario.naive.trust_poll_interval_s)
    return scenario.centre.headroom * per_terminal * terminals


def expected_reason(kind: str, scenario: Scenario) -> str:
    if kind == "yellow" and scenario.policy.accept_yellow:
        return "ok"
    if kind == "replayed" and scenario.policy.anti_passback_s <= 0:
        return "ok"
    return CODE_KINDS[kind]


class ShardContext:
    """Built inside the worker: loop, recorder, arrivals and codes of one job."""

    def __init__(self, job: Job, loop: asyncio.AbstractEventLoop) -> None:
        self.job = job
        self.loop = loop
        sc = job.scenario
        self.scenario = sc
        self.epoch = epoch_for(sc)
        self.curve = Curve(sc)
        self.indices = list(job.indices())
        self.arrivals: dict[int, list[Arrival]] = {
            i: arrivals(sc, self.curve, job.seed, i) for i in self.indices}
        total = capacity_rps(sc, self.curve, job.terminals)
        self.capacity = total * len(self.indices) / job.terminals
        rec_h = sc.recovery_h()
        self.recovery_s = sc.day.at(rec_h) if rec_h is not None else None
        self.recorder = FleetRecorder(job.fleet, sc.day.total_s, self.recovery_s)
        self.codes = CodeBook(epoch=self.epoch, pool_size=self._pool_size(), seed=job.seed)
        self.trust_times = [sc.day.at(h) for h in sc.centre.trust_updates_h]
        self.expected = {k: expected_reason(k, sc) for k in CODE_KINDS}

    def _pool_size(self) -> int:
        """Codes per (kind, window): more than any gate shows of one kind in one window."""
        most = 1
        for arr in self.arrivals.values():
            seen: dict[tuple[str, int], int] = {}
            for a in arr:
                if a.kind == "replayed":
                    continue
                key = (a.kind, int(a.t // WINDOW_S))
                seen[key] = seen.get(key, 0) + 1
            if seen:
                most = max(most, max(seen.values()))
        return max(8, 1 << math.ceil(math.log2(most + 1)))

    def trust_version(self, t: float) -> int:
        """The trust-list version the centre publishes at virtual time ``t``."""
        return 1 + sum(1 for u in self.trust_times if t >= u)

    def terminal_id(self, index: int) -> str:
        return f"gate-{index:06d}"

    def boot_time(self, index: int) -> float:
        """When terminal ``index`` starts its uplink: spread over ``boot_spread_s``."""
        spread = self.scenario.boot_spread_s
        if spread <= 0:
            return 0.0
        # A fixed low-discrepancy spread (golden ratio): same for every fleet and seed.
        return ((index * 0.6180339887498949) % 1.0) * spread
