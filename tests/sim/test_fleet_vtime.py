"""The virtual-time loop: waits become clock jumps, executor calls run inline, in order."""

from __future__ import annotations

import asyncio
import time

import pytest

from sim.fleet.vtime import LoopClock, SimulationStalled, VirtualTimeLoop, run_virtual


def test_an_hour_of_sleeps_takes_no_real_time() -> None:
    async def main(loop: VirtualTimeLoop) -> float:
        await asyncio.gather(*(asyncio.sleep(3600 - i) for i in range(100)))
        return loop.time()

    t0 = time.monotonic()
    assert run_virtual(main) == pytest.approx(3600)
    assert time.monotonic() - t0 < 5  # generous: the point is "not an hour"


def test_timers_fire_in_time_order_and_timeouts_use_virtual_time() -> None:
    order: list[tuple[str, float]] = []

    async def sleeper(name: str, delay: float, loop: VirtualTimeLoop) -> None:
        await asyncio.sleep(delay)
        order.append((name, loop.time()))

    async def main(loop: VirtualTimeLoop) -> None:
        await asyncio.gather(sleeper("b", 2.5, loop), sleeper("a", 1.0, loop))
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(30):
                await asyncio.sleep(600)
        order.append(("timeout", loop.time()))

    run_virtual(main, start=100.0)
    assert order == [("a", 101.0), ("b", 102.5), ("timeout", 132.5)]


def test_to_thread_runs_inline_and_takes_no_virtual_time() -> None:
    import threading

    seen: list[str] = []

    def work(x: int) -> int:
        seen.append(threading.current_thread().name)
        return x * 2

    async def main(loop: VirtualTimeLoop) -> tuple[int, float]:
        value = await asyncio.to_thread(work, 21)
        with pytest.raises(ZeroDivisionError):
            await asyncio.to_thread(lambda: 1 / 0)
        return value, loop.time()

    assert run_virtual(main) == (42, 0.0)
    assert seen == [threading.main_thread().name]


def test_a_wait_on_nothing_is_reported_not_hung() -> None:
    async def main(loop: VirtualTimeLoop) -> None:
        await loop.create_future()  # nobody will ever resolve it

    with pytest.raises(SimulationStalled):
        run_virtual(main)


def test_loop_clock_follows_the_loop() -> None:
    async def main(loop: VirtualTimeLoop) -> tuple[float, float]:
        clock = LoopClock(loop, epoch=1_700_000_000.0)
        await asyncio.sleep(90)
        return clock.now(), clock.monotonic()

    assert run_virtual(main) == (1_700_000_090.0, 90.0)


def test_a_ticker_runs_between_events_without_moving_them() -> None:
    """The clock is the float sum of its jumps: a timer of its own would add jumps and
    could move later events by a rounding error. A ticker adds none."""
    def times(ticker: bool) -> tuple[list[float], list[float]]:
        seen: list[float] = []
        ticks: list[float] = []

        async def main(loop: VirtualTimeLoop) -> None:
            if ticker:
                loop.set_ticker(1.0, lambda: ticks.append(loop.time()))
            for _ in range(30):
                await asyncio.sleep(0.1)
                seen.append(loop.time())
            loop.set_ticker(None)
            await asyncio.sleep(5.0)

        run_virtual(main)
        return seen, ticks

    plain, no_ticks = times(False)
    ticked, ticks = times(True)
    assert ticked == plain  # the same clock readings, to the last bit
    assert no_ticks == [] and len(ticks) == 3  # at 1, 2 and 3 s (or just after)
    assert all(n <= t < n + 0.1 + 1e-9 for n, t in zip((1, 2, 3), ticks, strict=True))
