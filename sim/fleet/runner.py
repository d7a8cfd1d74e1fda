"""Running fleets: one job (fleet x shard) per worker process, results merged per fleet.

``run_job`` is what a worker runs: a fresh ``VirtualTimeLoop``, the shard's context,
the fleet built, run to the end of the day (plus the tail) and closed. ``run`` fans
the jobs of one scenario and seed out over a ``concurrent.futures`` process pool
(``workers`` processes; 1 = in this process) and merges each fleet's shards.
``run_many`` does the same for several (scenario, seed) runs at once: the way to use
more cores, or more machines with a job queue (docs/fleet.md).
"""

from __future__ import annotations

import functools
import gc
import logging
import math
import multiprocessing
import os
import resource
import time
from collections.abc import Callable, Iterable
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Protocol

from sim.errors import SimError
from sim.fleet.baselines import NaiveOnlineFleet, NaiveRetryFleet
from sim.fleet.context import Job, ShardContext
from sim.fleet.metrics import FleetResult, percentile
from sim.fleet.scenario import Scenario
from sim.fleet.terminals import ScangateFleet
from sim.fleet.vtime import VirtualTimeLoop, run_virtual

FLEETS = ("scangate", "naive_online", "naive_retry")
#: Terminals per shard at most by default: each scangate terminal keeps a SQLite
#: journal open (about five file descriptors), and a process may hold 20,000 here.
TERMINALS_PER_SHARD = 2500
#: Virtual seconds between two full garbage-collector passes during a run (None: when
#: Python's allocation counts say so; see ``_PeriodicCollector``).
GC_EVERY_VIRTUAL_S: float | None = 300.0


class Fleet(Protocol):
    name: str
    build_mb_per_terminal: float | None

    def build(self) -> None: ...

    async def run(self) -> None: ...

    def close(self) -> None: ...


_FACTORIES: dict[str, Callable[[ShardContext], Fleet]] = {
    "scangate": ScangateFleet,
    "naive_online": NaiveOnlineFleet,
    "naive_retry": NaiveRetryFleet,
}


class _Counting(logging.Handler):
    """Counts the device's log records by level instead of printing thousands of
    expected "centre unreachable" warnings."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.counts: dict[str, int] = {}

    def emit(self, record: logging.LogRecord) -> None:
        key = f"log_{record.levelname.lower()}"
        self.counts[key] = self.counts.get(key, 0) + 1


class _PeriodicCollector:
    """During a run, the garbage collector's full passes every ``every_s`` virtual
    seconds instead of whenever allocations say so.

    Young garbage (the cycles of a failed request: an exception, its traceback and the
    client's frames) is still freed by Python's automatic young-generation passes. A
    full pass walks every object alive outside the frozen terminals (the centre's
    idempotency keys, every task and future in flight) and was triggered by
    allocation counts hundreds of times a run: 34 of 198 CPU-s of a 2,500-terminal
    shard. Once every ``every_s`` virtual seconds is enough to keep the old garbage
    bounded. ``every_s`` None leaves the collector as it was.
    """

    #: The oldest generation's threshold while the run lasts: automatic full passes
    #: only in a run far longer than any scenario (they are done on the schedule).
    FULL_PASS_THRESHOLD = 1_000_000

    def __init__(self, loop: VirtualTimeLoop, every_s: float | None) -> None:
        self.loop = loop
        self.thresholds = gc.get_threshold()
        self.running = every_s is not None
        if every_s is not None:
            young, middle, _old = self.thresholds
            gc.set_threshold(young, middle, self.FULL_PASS_THRESHOLD)
            # A ticker, not a timer: the run's events stay those of a run without it.
            loop.set_ticker(every_s, gc.collect)

    def stop(self) -> None:
        if self.running:
            self.loop.set_ticker(None)
            self.running = False
        gc.set_threshold(*self.thresholds)


def run_job(job: Job) -> FleetResult:
    """Run one fleet on one shard to the end; the measurements (in a worker process)."""
    wall0 = time.perf_counter()
    cpu0 = time.process_time()
    device_log = logging.getLogger("device")
    handler = _Counting()
    saved = (device_log.handlers[:], device_log.propagate, device_log.level)
    device_log.handlers = [handler]
    device_log.propagate = False
    device_log.setLevel(logging.WARNING)
    try:
        async def main(loop: VirtualTimeLoop) -> FleetResult:
            ctx = ShardContext(job, loop)
            fleet = _FACTORIES[job.fleet](ctx)
            try:
                fleet.build()
                gc.collect()
                gc.freeze()  # the terminals live all run: keep them out of GC passes
                collector = _PeriodicCollector(loop, GC_EVERY_VIRTUAL_S)
                try:
                    await fleet.run()
                finally:
                    collector.stop()
            finally:
                fleet.close()
                gc.unfreeze()
            extra: dict[str, Any] = {}
            if isinstance(fleet, ScangateFleet):
                extra["files_mb_per_terminal"] = fleet.files_mb_per_terminal
            if isinstance(fleet, NaiveOnlineFleet):
                extra["queue_wait_p99_s"] = percentile(fleet.queue_waits, 99)
                extra["queue_wait_max_s"] = max(fleet.queue_waits, default=0.0)
            for k, v in handler.counts.items():
                ctx.recorder.count(k, v)
            return ctx.recorder.result(
                latency_measured=job.fleet != "naive_online",
                build_mb_per_terminal=fleet.build_mb_per_terminal,
                capacity_rps=ctx.capacity, extra=extra)

        result = run_virtual(main)
    finally:
        device_log.handlers, device_log.propagate, level = saved
        device_log.setLevel(level)
    result.wall_s = time.perf_counter() - wall0
    result.extra["cpu_s"] = time.process_time() - cpu0
    result.peak_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return result


@dataclass
class RunOutput:
    scenario: Scenario
    seed: int
    terminals: int
    shards: int
    fleets: dict[str, FleetResult]
    wall_s: float
    peak_rss_mb: float
    per_shard: dict[str, list[FleetResult]] = field(default_factory=dict)


def default_shards(terminals: int) -> int:
    return max(1, math.ceil(terminals / TERMINALS_PER_SHARD))


def jobs_for(scenario: Scenario, seed: int, terminals: int, shards: int,
             fleets: Iterable[str] = FLEETS) -> list[Job]:
    # scangate first: its jobs are the longest, so they start first on the pool.
    return [Job(f, scenario, seed, terminals, s, shards) for f in fleets for s in range(shards)]


def _executor(workers: int) -> Executor | None:
    if workers <= 1:
        return None
    return ProcessPoolExecutor(max_workers=workers,
                               mp_context=multiprocessing.get_context("spawn"))


def run_many(runs: list[tuple[Scenario, int]], *, terminals: int | None = None,
             shards: int | None = None, workers: int | None = None,
             fleets: Iterable[str] = FLEETS) -> list[RunOutput]:
    """Run several (scenario, seed) pairs, every fleet and shard of each as one job."""
    fleets = tuple(fleets)
    plans = []
    for scenario, seed in runs:
        n = terminals or scenario.terminals
        k = shards or default_shards(n)
        plans.append((scenario, seed, n, k, jobs_for(scenario, seed, n, k, fleets)))
    n_jobs = sum(len(p[4]) for p in plans)
    workers = min(workers or os.cpu_count() or 1, n_jobs)
    wall0 = time.perf_counter()
    pool = _executor(workers)
    try:
        done: list[list[FleetResult]] = []
        if pool is None:
            done = [[_checked(j, functools.partial(run_job, j)) for j in p[4]] for p in plans]
        else:
            futures: list[list[Future[FleetResult]]] = [
                [pool.submit(run_job, j) for j in p[4]] for p in plans]
            done = [[_checked(j, f.result) for j, f in zip(p[4], fs, strict=True)]
                    for p, fs in zip(plans, futures, strict=True)]
    finally:
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
    wall = time.perf_counter() - wall0
    self_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    outputs = []
    for (scenario, seed, n, k, jobs), results in zip(plans, done, strict=True):
        per: dict[str, list[FleetResult]] = {}
        for job, res in zip(jobs, results, strict=True):
            per.setdefault(job.fleet, []).append(res)
        merged = {name: merge(name, rs) for name, rs in per.items()}
        peak = max([self_rss, *(r.peak_rss_mb for r in results)])
        outputs.append(RunOutput(scenario, seed, n, k, merged, wall, peak, per))
    return outputs


def _checked(job: Job, get: Callable[[], FleetResult]) -> FleetResult:
    """A job's result; a job that failed (a bug, a worker killed for memory) becomes a
    ``SimError`` naming it."""
    try:
        return get()
    except SimError:
        raise
    except Exception as exc:
        raise SimError(f"the {job.fleet} fleet (shard {job.shard + 1}/{job.shards}, scenario "
                       f"{job.scenario.name}, seed {job.seed}) failed: "
                       f"{type(exc).__name__}: {exc}") from exc


def run(scenario: Scenario, seed: int, **kw: Any) -> RunOutput:
    return run_many([(scenario, seed)], **kw)[0]


def merge(name: str, parts: list[FleetResult]) -> FleetResult:
    """One fleet's shards as one fleet: series and counters summed, latencies pooled."""
    if len(parts) == 1:
        return parts[0]

    def add(series: list[list[Any]]) -> list[Any]:
        return [sum(v) for v in zip(*series, strict=True)]

    counters: dict[str, int] = {}
    reasons: dict[str, int] = {}
    for p in parts:
        for k, v in p.counters.items():
            counters[k] = counters.get(k, 0) + v
        for k, v in p.reasons.items():
            reasons[k] = reasons.get(k, 0) + v
    pairs = sorted((t, ms) for p in parts for t, ms in zip(p.lat_t, p.lat_ms, strict=True))
    extra: dict[str, Any] = {}
    for key in ("queue_wait_p99_s", "queue_wait_max_s", "files_mb_per_terminal"):
        values = [p.extra[key] for p in parts if p.extra.get(key) is not None]
        if values:
            extra[key] = max(values)
    extra["cpu_s"] = sum(p.extra.get("cpu_s", 0.0) for p in parts)
    mbs = [p.build_mb_per_terminal for p in parts if p.build_mb_per_terminal is not None]
    return FleetResult(
        name=name,
        requests={ep: add([p.requests[ep] for p in parts]) for ep in parts[0].requests},
        shed=add([p.shed for p in parts]), refused=add([p.refused for p in parts]),
        timeouts=add([p.timeouts for p in parts]), queue=add([p.queue for p in parts]),
        decided=add([p.decided for p in parts]), stored=add([p.stored for p in parts]),
        lat_t=[t for t, _ in pairs], lat_ms=[ms for _, ms in pairs],
        counters=dict(sorted(counters.items())), reasons=dict(sorted(reasons.items())),
        drain_s=_merged_drain(parts, counters),
        latency_measured=parts[0].latency_measured,
        wall_s=max(p.wall_s for p in parts),
        peak_rss_mb=max(p.peak_rss_mb for p in parts),
        build_mb_per_terminal=sum(mbs) / len(mbs) if mbs else None,
        capacity_rps=sum(p.capacity_rps for p in parts), extra=extra)


def _merged_drain(parts: list[FleetResult], counters: dict[str, int]) -> float | None:
    """Every shard drained: the slowest one's drain; otherwise None (not drained)."""
    if counters.get("stored_before_recovery", 0) < counters.get("decided_before_recovery", 0):
        return None
    drains = [p.drain_s for p in parts if p.drain_s is not None]
    return max(drains) if drains else None
