"""Shared pieces of the uplink tests: a real centre, a real journal, fast sleeps."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any

import pytest

from device.journal import Journal, NewRecord
from device.uplink import Uplink, UplinkConfig
from sim.central import CentralServer


class RecordingSleep:
    """An injectable sleep: records every wait asked for, really sleeps at most ``real_max_s``."""

    def __init__(self, real_max_s: float = 0.0) -> None:
        self.delays: list[float] = []
        self.real_max_s = real_max_s

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)
        await asyncio.sleep(min(seconds, self.real_max_s))


def new_record(i: int, t_wall: float | None = None) -> NewRecord:
    return NewRecord(
        t_wall=t_wall if t_wall is not None else 1_700_000_000.0 + i,
        clock_quality="synced",
        source="sim",
        profile="scangate",
        decision="accept" if i % 3 else "deny",
        reason="ok" if i % 3 else "expired",
        code_id=f"code-{i}",
        subject_ref=f"sref-{i % 97:04d}",
        kid="ab" * 8,
        latency_ms=12.5,
    )


def fill(journal: Journal, n: int, *, t0: float | None = None, step_s: float = 1.0) -> list[str]:
    ids = []
    for i in range(n):
        t = None if t0 is None else t0 + i * step_s
        ids.append(journal.record(new_record(i, t)).record_id)
    return ids


def make_journal(tmp: Path, terminal_id: str = "t-1") -> Journal:
    return Journal(tmp / f"journal-{terminal_id}.db", terminal_id=terminal_id,
                   min_free_bytes=0, quota_bytes=256 * 2**20)


def config(url: str, **overrides: Any) -> UplinkConfig:
    values: dict[str, Any] = {
        "base_url": url,
        "terminal_id": "t-1",
        "token": None,
        "ca_file": None,
        "batch_size": 100,
        "batch_interval_s": 0.05,
        "backoff_base_s": 0.05,
        "backoff_cap_s": 0.5,
        "heartbeat_interval_s": 0.2,
        "trust_poll_interval_s": 0.2,
        "timeout_s": 2.0,
    }
    if url.startswith("http://"):
        values["allow_insecure_http"] = True  # the stand-in on loopback
    values.update(overrides)
    return UplinkConfig(**values)


def make_uplink(cfg: UplinkConfig, journal: Journal, *, seed: int = 7,
                sleep: RecordingSleep | None = None, **kw: Any) -> Uplink:
    return Uplink(cfg, journal=journal, rng=random.Random(seed),
                  sleep=sleep or RecordingSleep(), **kw)


async def drain(uplink: Uplink, journal: Journal, *, max_steps: int = 200,
                real_pause_s: float = 0.0) -> list[float]:
    """Call ``step`` until the journal has nothing pending; returns the delays chosen."""
    delays = []
    for _ in range(max_steps):
        if journal.stats().pending == 0:
            return delays
        delays.append(await uplink.uploader.step())
        if real_pause_s:
            await asyncio.sleep(real_pause_s)
    raise AssertionError(f"journal not drained after {max_steps} steps: {journal.stats()}")


def wait_for(predicate: Callable[[], bool], timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.01)


def assert_exactly_once(server: CentralServer, expected_ids: list[str]) -> None:
    """Zero lost, zero duplicated: the centre holds exactly these ids, each processed once."""
    stored = server.store.record_ids()
    assert sorted(stored) == sorted(expected_ids)
    assert len(stored) == len(set(stored))
    assert server.store.max_times_received() == 1
    assert server.metrics.snapshot()["counters"].get("records_duplicate", 0) == 0


def started(tmp: Path, **kw: Any) -> Iterator[CentralServer]:
    server = CentralServer(tmp / "central.db", **kw)
    server.start()
    try:
        yield server
    finally:
        server.stop()


async def run_until_cancelled(loop: Coroutine[Any, Any, None], done: Callable[[], bool],
                              uplink: Uplink) -> None:
    """Run one of the uplink's loops as a task until ``done()``, cancel it (it must end
    cancelled, not return or fail), then close ``uplink``."""
    task = asyncio.create_task(loop)
    while not done():
        await asyncio.sleep(0.005)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await uplink.aclose()


# Fixtures: a test module opts in with ``server = uplink_support.server`` (and so on).


@pytest.fixture
def server(tmp_path: Path) -> Iterator[CentralServer]:
    """A stand-in centre on a real socket, with no trust list."""
    yield from started(tmp_path)


@pytest.fixture
def journal(tmp_path: Path) -> Iterator[Journal]:
    """A real journal file for terminal ``t-1``."""
    j = make_journal(tmp_path)
    yield j
    j.close()
