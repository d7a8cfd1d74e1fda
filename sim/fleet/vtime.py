"""Virtual time: an asyncio loop whose clock jumps to the next timer instead of waiting.

The fleet runs thousands of terminals' real code (journal, uplink, verifier) on one
event loop. Nothing in it waits for the outside world: the centre is in-process, the
journals are on tmpfs. So whenever every task is waiting, the loop moves its clock
straight to the next scheduled timer (``asyncio.sleep``, ``call_at``, timeouts) and
runs it. A simulated day takes as long as the CPU work in it, not a day.

Two rules make a run reproducible (same seed, same events, in the same order):

- ``run_in_executor`` (what ``asyncio.to_thread`` uses: the uplink's journal calls)
  runs the function inline and returns a finished future. A worker thread would
  finish at a real-time moment unrelated to the virtual clock, so which terminal
  goes first would depend on the machine's load. Inline, the work takes zero virtual
  time and the order is fixed.
- Nothing reads the wall clock: device clocks are ``LoopClock``s over this loop.

Why not the ``looptime`` package: it is built for tests. It lets executor calls run
on real threads and, while one is pending, advances the fake clock in real-time steps
(its "slow executors" nuance): non-deterministic for us, since the uplink calls the
journal through ``asyncio.to_thread`` all day. It also spins ``noop_cycles`` (42)
idle iterations before every time jump, which with millions of jumps is most of the
run. The loop below is the part of it we need, with executor calls made inline.
"""

from __future__ import annotations

import asyncio
import math
import selectors
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


class SimulationStalled(RuntimeError):
    """Every task waits and no timer is scheduled: nothing can ever happen again."""


class _VirtualSelector(selectors.DefaultSelector):
    """A wait for ``timeout`` seconds becomes a jump of the virtual clock by that much.

    The real file descriptors (the loop's self-pipe, written by ``call_soon_threadsafe``)
    are polled only every ``POLL_EVERY`` jumps and when nothing is scheduled: a callback
    from another thread is already in the loop's ready queue when the pipe is written
    (the pipe only wakes a sleeping loop, and this one never sleeps), so polling it on
    every iteration (a system call per event) would only keep the pipe drained.
    """

    POLL_EVERY = 256
    loop: VirtualTimeLoop | None = None
    _skipped = 0

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        if timeout is None:
            ready = super().select(0)
            if not ready:
                ready = super().select(0.05)  # a thread may still call_soon_threadsafe
                if not ready:
                    raise SimulationStalled(
                        "virtual-time loop: every task waits on something that can never "
                        "happen (no timer, no I/O)")
            return ready
        self._skipped += 1
        ready = []
        if self._skipped >= self.POLL_EVERY:
            self._skipped = 0
            ready = super().select(0)
        if not ready and timeout > 0:
            assert self.loop is not None
            self.loop._advance(timeout)
        return ready


class VirtualTimeLoop(asyncio.SelectorEventLoop):
    """An event loop on virtual time starting at ``start`` seconds."""

    def __init__(self, start: float = 0.0) -> None:
        selector = _VirtualSelector()
        super().__init__(selector)
        selector.loop = self
        self._vnow = float(start)
        self._clock_resolution = 1e-9
        self._tick_s: float | None = None
        self._tick_fn: Callable[[], object] | None = None
        self._next_tick = math.inf

    def time(self) -> float:
        return self._vnow

    def set_ticker(self, period_s: float | None, fn: Callable[[], object] | None = None
                   ) -> None:
        """Call ``fn()`` between events whenever the clock passes a multiple of
        ``period_s`` (None: no more). Not a timer: a timer would be one more jump of the
        clock, and the clock is the float sum of its jumps, so an extra one can move a
        later event by a rounding error (into the next second's bin, or past the end of
        the day); with a ticker, the run's events are those of a run without it."""
        if period_s is None or fn is None:
            self._tick_s, self._tick_fn, self._next_tick = None, None, math.inf
            return
        self._tick_s, self._tick_fn = period_s, fn
        self._next_tick = (math.floor(self._vnow / period_s) + 1) * period_s

    def _advance(self, seconds: float) -> None:
        self._vnow += seconds
        if self._vnow >= self._next_tick:
            assert self._tick_s is not None and self._tick_fn is not None
            self._next_tick = (math.floor(self._vnow / self._tick_s) + 1) * self._tick_s
            self._tick_fn()

    def run_in_executor(self, executor: Any, func: Callable[..., T],  # type: ignore[override]
                        *args: Any) -> asyncio.Future[T]:
        """Run ``func(*args)`` now, inline; a finished future (see the module docstring)."""
        future: asyncio.Future[T] = self.create_future()
        try:
            result = func(*args)
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException as exc:
            future.set_exception(exc)
        else:
            future.set_result(result)
        return future


class LoopClock:
    """``device.clock.Clock`` over a loop's time: wall = ``epoch`` + loop time."""

    def __init__(self, loop: asyncio.AbstractEventLoop, epoch: float) -> None:
        self._loop = loop
        self._epoch = epoch

    def now(self) -> float:
        return self._epoch + self._loop.time()

    def monotonic(self) -> float:
        return self._loop.time()


def run_virtual(main: Callable[[VirtualTimeLoop], Coroutine[Any, Any, T]],
                start: float = 0.0) -> T:
    """Run ``main(loop)`` to completion on a fresh ``VirtualTimeLoop``; close the loop."""
    loop = VirtualTimeLoop(start)
    try:
        asyncio.set_event_loop(loop)
        return loop.run_until_complete(main(loop))
    finally:
        try:
            loop.run_until_complete(loop.shutdown_asyncgens())
        finally:
            asyncio.set_event_loop(None)
            loop.close()
