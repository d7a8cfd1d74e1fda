"""De-duplication: one code, one decision."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from device.sources.base import Scan
from device.sources.factory import Deduper


def scan(payload: bytes, t: float, source: str = "camera:0") -> Scan:
    return Scan(payload=payload, source=source, t_mono=t, t_wall=1_700_000_000.0 + t)


def test_thirty_reads_a_second_give_one_decision() -> None:
    d = Deduper()  # default window about 3 s
    assert d.window_s == 3.0
    admitted = [d.admit(scan(b"HC1:PHONE", i / 30)) for i in range(60)]  # 2 s held
    assert admitted == [True] + [False] * 59
    assert d.status() == {"window_s": 3.0, "admitted": 1, "suppressed": 59}


def test_a_different_code_passes_at_once() -> None:
    d = Deduper(window_s=3.0)
    assert d.admit(scan(b"HC1:A", 0.0))
    assert d.admit(scan(b"HC1:B", 0.01))
    assert not d.admit(scan(b"HC1:A", 0.02))


def test_same_code_from_another_source_passes() -> None:
    d = Deduper(window_s=3.0)
    assert d.admit(scan(b"HC1:A", 0.0, "camera:0"))
    assert d.admit(scan(b"HC1:A", 0.1, "serial:/dev/ttyACM0"))


def test_same_code_after_the_window_passes_again() -> None:
    d = Deduper(window_s=3.0)
    assert d.admit(scan(b"HC1:A", 0.0))
    assert not d.admit(scan(b"HC1:A", 2.9))
    assert d.admit(scan(b"HC1:A", 2.9 + 3.0))  # 3 s after the last read


def test_window_slides_while_the_phone_is_held() -> None:
    d = Deduper(window_s=1.0)
    results = [d.admit(scan(b"HC1:HELD", i * 0.5)) for i in range(10)]  # 5 s, read every 0.5 s
    assert results == [True] + [False] * 9


def test_memory_is_bounded() -> None:
    d = Deduper(window_s=100.0, max_entries=10)
    for i in range(1000):
        assert d.admit(scan(b"CODE-%d" % i, i * 0.001))
    assert len(d._last) == 10


def test_filter_on_a_stream() -> None:
    async def stream() -> AsyncIterator[Scan]:
        for i, p in enumerate([b"A1", b"A1", b"B2", b"A1", b"B2", b"C3"]):
            yield scan(p, i * 0.1)

    async def main() -> list[bytes]:
        return [s.payload async for s in Deduper(window_s=3.0).filter(stream())]

    assert asyncio.run(main()) == [b"A1", b"B2", b"C3"]
