"""Helpers for driving real sources from synchronous tests (asyncio.run, no plugins)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable

from device.sources.base import Scan, Source


async def wait_for(cond: Callable[[], bool], timeout: float = 10.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or cond}")
        await asyncio.sleep(0.01)


def listening(source: Source) -> bool:
    """The source's device is open and its framer is in sync: a code sent now is read
    whole (before sync, what arrives is taken for the tail of a code cut by the open)."""
    st = source.status()
    return bool(st["connected"]) and bool(st.get("in_sync", True))


class Collector:
    """Consumes a source's scans in a task, keeping them in ``got``."""

    def __init__(self, source: Source) -> None:
        self.source = source
        self.got: list[Scan] = []
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        agen = self.source.scans()
        try:
            async for scan in agen:
                self.got.append(scan)
        finally:
            await agen.aclose()  # type: ignore[attr-defined]

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    @property
    def payloads(self) -> list[bytes]:
        return [s.payload for s in self.got]

    async def wait_count(self, n: int, timeout: float = 10.0) -> list[bytes]:
        await wait_for(lambda: len(self.got) >= n, timeout, f"{n} scans (have {self.payloads})")
        return self.payloads

    async def stop(self) -> None:
        await self.source.close()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
