"""Run several sources at once and merge their scans into one stream."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Sequence
from typing import Any

from device.sources.base import Scan, Source

log = logging.getLogger(__name__)

_DONE = object()


class Multiplexer:
    """Merges the scans of several sources. One source failing does not stop the others.

    ``scans()`` ends when every source has ended (or after ``close()``).
    """

    name = "mux"

    def __init__(self, sources: Sequence[Source]) -> None:
        self.sources = list(sources)
        # Unbounded: every source bounds its own buffer (and counts what it drops).
        self._queue: asyncio.Queue[Any] = asyncio.Queue()
        self._tasks: list[asyncio.Task[None]] = []
        self._failed: dict[str, str] = {}

    async def _pump(self, source: Source) -> None:
        agen = source.scans()
        try:
            async for scan in agen:
                await self._queue.put(scan)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a broken source is reported; the others go on
            log.error("source %s failed: %s", source.name, exc)
            self._failed[source.name] = str(exc) or type(exc).__name__
        finally:
            self._queue.put_nowait(_DONE)
            aclose = getattr(agen, "aclose", None)
            if aclose is not None:
                with contextlib.suppress(Exception):
                    await aclose()

    async def scans(self) -> AsyncIterator[Scan]:
        self._tasks = [asyncio.create_task(self._pump(s)) for s in self.sources]
        running = len(self._tasks)
        try:
            while running:
                item = await self._queue.get()
                if item is _DONE:
                    running -= 1
                    continue
                yield item
        finally:
            await self._cancel()

    async def _cancel(self) -> None:
        for t in self._tasks:
            t.cancel()
        for t in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t
        self._tasks = []

    def status(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for s in self.sources:
            st = dict(s.status())
            if s.name in self._failed:
                st["failed"] = self._failed[s.name]
            out[s.name] = st
        return out

    async def close(self) -> None:
        await self._cancel()
        for s in self.sources:
            try:
                await s.close()
            except Exception as exc:  # closing one must not leave the others open
                log.warning("source %s did not close cleanly: %s", s.name, exc)
