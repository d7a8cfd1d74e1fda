"""Scans from reader threads to the event loop: one bounded queue, one stop flag.

Every hardware source reads on its own thread(s) (blocking driver calls must stay off the
event loop) and hands each payload to the loop. ``ScanHandoff`` is that hand-off: a
thread-safe ``emit`` into a bounded ``asyncio.Queue`` (a full queue drops the scan and
counts it as ``queue_full``), the ``stop`` event the reader threads watch, the threads
themselves, and ``stream`` - the async iteration a source's ``scans()`` returns.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import threading
from collections.abc import AsyncGenerator, Callable

from device.sources.base import Scan


class ScanHandoff:
    """Reader threads -> event loop. Counts what it delivered and what it dropped."""

    def __init__(self, *, queue_size: int = 256) -> None:
        self.queue_size = queue_size
        self.stop = threading.Event()
        self.threads: list[threading.Thread] = []
        #: drop reasons -> count; sources may add their own reasons to the same counter
        self.drops: collections.Counter[str] = collections.Counter()
        self.delivered = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._queue: asyncio.Queue[Scan] | None = None

    def start_thread(self, target: Callable[..., None], name: str, *args: object) -> None:
        """Start a daemon reader thread (finished ones are forgotten)."""
        t = threading.Thread(target=target, args=args, name=name, daemon=True)
        self.threads = [th for th in self.threads if th.is_alive()] + [t]
        t.start()

    def emit(self, scan: Scan) -> None:
        """Hand ``scan`` to the event loop; callable from any thread."""
        loop = self._loop
        if loop is None:
            return
        with contextlib.suppress(RuntimeError):  # loop closed while shutting down
            loop.call_soon_threadsafe(self._put, scan)

    def _put(self, scan: Scan) -> None:
        if self._queue is None:
            return
        try:
            self._queue.put_nowait(scan)
            self.delivered += 1
        except asyncio.QueueFull:
            self.drops["queue_full"] += 1

    async def stream(
        self,
        start: Callable[[], None],
        *,
        tick_s: float = 0.25,
        on_idle: Callable[[], None] | None = None,
    ) -> AsyncGenerator[Scan, None]:
        """Bind to the running loop, call ``start`` (the readers), yield scans until stop.

        ``on_idle`` runs on the loop whenever no scan came for ``tick_s`` (a watchdog).
        Leaving the iteration sets ``stop``.
        """
        self._loop = asyncio.get_running_loop()
        self._queue = asyncio.Queue(maxsize=self.queue_size)
        self.stop.clear()
        start()
        try:
            while not self.stop.is_set():
                try:
                    # not asyncio.wait_for: on 3.11 it returns a result that lands as the
                    # task is cancelled, losing the cancellation (the daemon's stop hung)
                    async with asyncio.timeout(tick_s):
                        scan = await self._queue.get()
                except TimeoutError:
                    if on_idle is not None:
                        on_idle()
                    continue
                yield scan
        finally:
            self.stop.set()

    async def close(self, *, join_timeout_s: float = 2.0) -> None:
        """Set ``stop`` and wait for the reader threads.

        A thread stuck in a driver call is a daemon thread and is left behind.
        """
        self.stop.set()
        threads, self.threads = self.threads, []
        for t in threads:
            await asyncio.to_thread(t.join, join_timeout_s)
