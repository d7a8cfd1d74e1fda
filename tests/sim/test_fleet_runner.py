"""Shards and jobs: a city split over centre nodes is still one fleet in the report."""

from __future__ import annotations

import asyncio
import gc
import weakref
from pathlib import Path

import pytest

from sim.errors import SimError
from sim.fleet import scenario
from sim.fleet.context import Job
from sim.fleet.runner import _checked, _PeriodicCollector, default_shards, run
from sim.fleet.vtime import VirtualTimeLoop, run_virtual

CI = Path(__file__).resolve().parent.parent / "data" / "fleet" / "ci-hour.toml"


def test_shards_split_terminals_and_merge_back() -> None:
    sc = scenario.load(str(CI))
    one = run(sc, 2, terminals=10, workers=1, fleets=["scangate"])
    two = run(sc, 2, terminals=10, shards=2, workers=1, fleets=["scangate"])
    a, b = one.fleets["scangate"], two.fleets["scangate"]
    assert two.shards == 2 and [len(r) for r in two.per_shard.values()] == [2]
    # The same arrivals, split over two centre nodes: every scan decided, stored once.
    assert len(b.lat_t) == len(a.lat_t) and b.reasons == a.reasons
    assert sum(b.stored) == sum(b.decided) == sum(a.decided)
    assert b.capacity_rps == pytest.approx(a.capacity_rps)
    assert b.counters.get("duplicates", 0) == 0


def test_default_shards_keep_file_descriptors_in_bounds() -> None:
    assert default_shards(250) == 1
    assert default_shards(2500) == 1
    assert default_shards(10_000) == 4


def test_a_failed_job_is_one_clear_error() -> None:
    job = Job("scangate", scenario.load(str(CI)), 1, 4)

    def broken() -> None:
        raise RuntimeError("boom")

    with pytest.raises(SimError, match=r"the scangate fleet \(shard 1/1, scenario ci-hour, "
                                       r"seed 1\) failed: RuntimeError: boom"):
        _checked(job, broken)  # type: ignore[arg-type]


class _Node:
    def __init__(self) -> None:
        self.me = self  # a reference cycle: only the cyclic collector frees it


def test_old_garbage_is_collected_on_the_virtual_schedule() -> None:
    async def main(loop: VirtualTimeLoop) -> tuple[tuple[int, int, int], bool, bool]:
        collector = _PeriodicCollector(loop, 60.0)
        try:
            node = _Node()
            ref = weakref.ref(node)
            gc.collect(1)  # survives two young passes: now in the oldest generation
            gc.collect(1)
            del node
            await asyncio.sleep(59.0)
            for _ in range(200):  # young passes go on meanwhile
                gc.collect(1)
            alive_before = ref() is not None
            await asyncio.sleep(2.0)
            alive_after = ref() is not None
            return gc.get_threshold(), alive_before, alive_after
        finally:
            collector.stop()

    saved = gc.get_threshold()
    thresholds, before, after = run_virtual(main)
    assert gc.get_threshold() == saved  # the collector is as it was after the job
    assert thresholds[:2] == saved[:2] and thresholds[2] > saved[2]
    assert before and not after
