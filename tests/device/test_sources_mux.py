"""Several sources at once: merged, and one failing does not stop the others."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

from device.sources.base import Scan
from device.sources.config import SerialSourceConfig
from device.sources.factory import Multiplexer, build_source
from sim.serial_pty import SimSerialReader
from tests.device.sources_util import listening, wait_for


class Broken:
    """A source whose stream fails after one scan (a bug in some backend)."""

    name = "broken"

    def __init__(self) -> None:
        self.closed = False

    async def scans(self) -> AsyncIterator[Scan]:
        yield Scan(payload=b"HC1:LAST-WORDS", source=self.name, t_mono=time.monotonic(),
                   t_wall=time.time())
        raise RuntimeError("backend bug")

    def status(self) -> dict[str, Any]:
        return {"name": self.name, "connected": False}

    async def close(self) -> None:
        self.closed = True


def test_two_real_serial_readers_and_a_broken_source() -> None:
    with SimSerialReader() as r1, SimSerialReader() as r2:
        s1 = build_source(SerialSourceConfig(port=r1.path, idle_timeout_s=0.1, name="left"))
        s2 = build_source(SerialSourceConfig(port=r2.path, idle_timeout_s=0.1, suffix="lf",
                                             name="right"))
        broken = Broken()
        mux = Multiplexer([s1, s2, broken])

        async def main() -> list[tuple[str, bytes]]:
            got: list[tuple[str, bytes]] = []

            async def consume() -> None:
                agen = mux.scans()
                try:
                    async for s in agen:
                        got.append((s.source, s.payload))
                finally:
                    await agen.aclose()  # type: ignore[attr-defined]

            task = asyncio.create_task(consume())
            try:
                await wait_for(lambda: listening(s1) and listening(s2),
                               5, "both readers open")
                r1.send(b"HC1:FROM-LEFT")
                r2.send(b"HC1:FROM-RIGHT", suffix="lf")
                r1.send(b"HC1:LEFT-AGAIN")
                await wait_for(lambda: len(got) >= 4, 5, "four scans")
                st = mux.status()
                assert st["broken"]["failed"] == "backend bug"
                assert st["left"]["connected"] and st["right"]["connected"]
            finally:
                await mux.close()
                await asyncio.wait_for(task, 5)
            return got

        got = asyncio.run(main())
    assert ("broken", b"HC1:LAST-WORDS") in got
    assert [p for s, p in got if s == "left"] == [b"HC1:FROM-LEFT", b"HC1:LEFT-AGAIN"]
    assert [p for s, p in got if s == "right"] == [b"HC1:FROM-RIGHT"]
    assert broken.closed
