"""The thread -> event loop hand-off every hardware source uses: scans emitted on a reader
thread arrive in order, a full queue drops and counts (never blocks the reader), leaving
the iteration stops the readers, and ``close`` joins them."""

from __future__ import annotations

import asyncio
import threading

from device.sources.base import Scan
from device.sources.handoff import ScanHandoff


def scan(i: int) -> Scan:
    return Scan(payload=b"code-%d" % i, source="test", t_mono=float(i), t_wall=float(i))


def test_scans_from_a_thread_arrive_in_order_and_stop_ends_the_reader() -> None:
    handoff = ScanHandoff(queue_size=16)
    finished = threading.Event()

    def reader() -> None:
        for i in range(5):
            handoff.emit(scan(i))
        handoff.stop.wait(10)
        finished.set()

    async def main() -> list[bytes]:
        got: list[bytes] = []
        agen = handoff.stream(lambda: handoff.start_thread(reader, "reader"))
        async for s in agen:
            got.append(s.payload)
            if len(got) == 5:
                break
        await agen.aclose()  # leaving the iteration sets stop
        await handoff.close()
        return got

    assert asyncio.run(main()) == [b"code-%d" % i for i in range(5)]
    assert finished.is_set()
    assert handoff.delivered == 5
    assert handoff.threads == []
    assert not handoff.drops


def test_a_full_queue_drops_and_counts_instead_of_blocking() -> None:
    handoff = ScanHandoff(queue_size=3)
    emitted = threading.Event()

    def flood() -> None:
        for i in range(10):
            handoff.emit(scan(i))
        emitted.set()

    async def main() -> list[bytes]:
        agen = handoff.stream(lambda: handoff.start_thread(flood, "flood"))
        first = await agen.__anext__()  # started; the consumer now stalls
        # the hand-offs were queued on the loop before this wake-up: they have run
        await asyncio.to_thread(emitted.wait, 10)
        got = [first.payload]
        while len(got) < 3:
            got.append((await agen.__anext__()).payload)
        await agen.aclose()
        await handoff.close()
        return got

    got = asyncio.run(main())
    assert handoff.delivered + handoff.drops["queue_full"] == 10
    assert handoff.drops["queue_full"] >= 10 - 3 - 1  # at most the queue plus one taken
    assert got == [b"code-%d" % i for i in range(3)]  # the oldest are kept, in order


def test_idle_ticks_call_the_watchdog_and_emit_without_a_loop_is_ignored() -> None:
    handoff = ScanHandoff()
    handoff.emit(scan(0))  # not streaming yet: nowhere to go, no error
    ticks = 0

    def on_idle() -> None:
        nonlocal ticks
        ticks += 1
        if ticks == 3:
            handoff.stop.set()

    async def main() -> list[Scan]:
        return [s async for s in handoff.stream(lambda: None, tick_s=0.01, on_idle=on_idle)]

    assert asyncio.run(main()) == []
    assert ticks == 3
    assert handoff.delivered == 0


def test_cancelling_the_consumer_as_a_scan_arrives_ends_the_stream() -> None:
    """SIGTERM with a scan in hand: the daemon cancels the task reading the stream just as a
    scan lands. The cancellation must win (``asyncio.wait_for`` on 3.11 returned the scan
    instead and the stream went on, so the daemon never finished stopping)."""
    handoff = ScanHandoff()
    got: list[Scan] = []

    async def consume() -> None:
        async for s in handoff.stream(lambda: None, tick_s=30.0):
            got.append(s)

    async def main() -> bool:
        task = asyncio.create_task(consume())
        for _ in range(5):
            await asyncio.sleep(0)  # the consumer is now waiting for a scan
        handoff._put(scan(0))  # a scan lands (as the reader thread's hand-off would) ...
        task.cancel()  # ... and the stop comes in the same loop turn
        done, _ = await asyncio.wait({task}, timeout=5.0)
        if not done:  # the bug: the cancellation was lost, the stream waits on
            handoff.stop.set()
            task.cancel()
            await asyncio.wait({task}, timeout=5.0)
        return task in done and task.cancelled()

    assert asyncio.run(main()) is True
    assert handoff.stop.is_set()  # leaving the stream set stop: the readers end
