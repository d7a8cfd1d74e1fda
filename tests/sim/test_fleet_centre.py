"""The simulated centre, spoken to by the terminal's real ``CentralClient``.

No sockets: ``CentreTransport`` is the httpx transport; time is virtual, so "the
centre answered after 12 s" and "the client gave up after 10 s" are exact.
"""

from __future__ import annotations

import asyncio
import gzip
import json
from collections.abc import Callable, Coroutine
from typing import Any

import pytest

from device.errors import UplinkError
from device.journal.model import Batch, Record
from device.uplink.client import CentralClient, Outcome
from device.uplink.config import UplinkConfig
from sim.fleet.centre import (
    Answer,
    CentreFailure,
    CentreModel,
    CentreTransport,
    Request,
    ScangateCentre,
)
from sim.fleet.metrics import FleetRecorder
from sim.fleet.scenario import Centre, Day, Outage
from sim.fleet.vtime import LoopClock, VirtualTimeLoop, run_virtual

DAY = Day(start_h=0, end_h=1, length_s=3600, tail_s=0)  # one story hour = 3600 s


def _centre(loop: VirtualTimeLoop, *, capacity: float = 10.0, outages: tuple[Outage, ...] = (),
            **spec: Any) -> tuple[ScangateCentre, FleetRecorder]:
    rec = FleetRecorder("t", 4000)
    model = CentreModel(loop, spec=Centre(outages=outages, **spec), day=DAY,
                        capacity_rps=capacity, recorder=rec)
    centre = ScangateCentre(model, trust_version=lambda t: 1 if t < 1000 else 2,
                            trust_bytes=lambda v: f"list-{v}".encode(),
                            decided_at=lambda t_wall: t_wall)
    return centre, rec


def _client(loop: VirtualTimeLoop, centre: ScangateCentre, tid: str = "gate-1") -> CentralClient:
    config = UplinkConfig(base_url="http://127.0.0.1:8443", terminal_id=tid, token="t",
                          timeout_s=10.0, allow_insecure_http=True)
    return CentralClient(config, clock=LoopClock(loop, 0.0), transport=CentreTransport(centre))


def _batch(n: int, key: str = "k1", start: int = 0) -> Batch:
    recs = tuple(Record(t_wall=float(i), clock_quality="synced", source="sim",
                        profile="scangate", decision="accept", reason="ok", code_id=None,
                        subject_ref=None, kid=None, latency_ms=0.0, record_id=f"r{i}",
                        terminal_id="gate-1", seq=i + 1) for i in range(start, start + n))
    return Batch(batch_id=1, idempotency_key=key, records=recs, attempts=1)


def run(main: Callable[[VirtualTimeLoop], Coroutine[Any, Any, Any]]) -> Any:
    return run_virtual(main)


def test_upload_is_stored_once_and_replayed_by_key() -> None:
    async def main(loop: VirtualTimeLoop) -> None:
        centre, rec = _centre(loop)
        client = _client(loop, centre)
        first = await client.upload(_batch(3))
        again = await client.upload(_batch(3))  # a retry: same key, same body
        assert first.outcome is Outcome.ACKED and first.accepted == 3
        assert again.outcome is Outcome.ACKED
        assert rec.counters["replayed"] == 1 and rec.counters["unique_batches"] == 1
        assert sum(rec.stored) == 3 and "duplicates" not in rec.counters
        other = await client.upload(_batch(2, key="k2", start=2))  # r2 again, new key
        assert other.outcome is Outcome.ACKED and other.duplicates == 1
        assert sum(rec.stored) == 4 and rec.counters["duplicates"] == 1
        await client.aclose()

    run(main)


def test_latency_grows_with_the_queue_and_a_full_queue_sheds_503() -> None:
    async def main(loop: VirtualTimeLoop) -> None:
        centre, rec = _centre(loop, capacity=1.0, burst_s=0.0, queue_limit_s=5.0,
                              retry_after_s=7.0, latency_ms=0.0)
        done: list[tuple[int, float]] = []

        async def one(i: int) -> None:
            client = _client(loop, centre, f"gate-{i}")
            answer = await client.heartbeat({"n": i}) if i >= 0 else None
            done.append((i, loop.time()))
            assert answer == {}
            await client.aclose()

        tasks = [asyncio.create_task(one(i)) for i in range(6)]
        await asyncio.sleep(0)
        client = _client(loop, centre, "late")
        result = await client.upload(_batch(1))  # arrives behind 6 s of work
        assert result.outcome is Outcome.RETRY_AFTER and result.retry_after_s == 7.0
        await asyncio.gather(*tasks)
        assert [t for _, t in sorted(done)] == [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]
        assert sum(rec.shed) == 1 and max(rec.queue) >= 5.0
        await client.aclose()

    run(main)


def test_a_client_that_times_out_leaves_the_work_to_be_done_for_nobody() -> None:
    async def main(loop: VirtualTimeLoop) -> None:
        centre, rec = _centre(loop, capacity=1 / 6, burst_s=0.0, latency_ms=0.0,
                              record_cost=0.0)  # 6 s per request
        client = _client(loop, centre)
        first = asyncio.create_task(client.heartbeat({}))
        await asyncio.sleep(0)
        with pytest.raises(UplinkError, match="did not answer within 10 s"):
            await client.upload(_batch(2))  # queued behind 6 s of work: done at 12 s
        assert loop.time() == pytest.approx(10.0)
        assert sum(rec.stored) == 0
        await first
        await asyncio.sleep(3)
        assert sum(rec.stored) == 2  # stored at 12 s, after the client left
        assert sum(rec.timeouts) == 1
        # The retry with the same key learns what happened: replayed, not stored again.
        again = await client.upload(_batch(2))
        assert again.outcome is Outcome.ACKED and rec.counters["replayed"] == 1
        await client.aclose()

    run(main)


def test_retry_while_the_first_is_still_queued_gets_409_with_its_remaining_wait() -> None:
    async def main(loop: VirtualTimeLoop) -> None:
        centre, rec = _centre(loop, capacity=0.05, burst_s=0.0, latency_ms=0.0,
                              record_cost=0.5)  # 1.5 units: 30 s
        client = _client(loop, centre)
        with pytest.raises(UplinkError):
            await client.upload(_batch(1))  # done at 30 s; the client leaves at 10 s
        busy = await client.upload(_batch(1))
        assert busy.outcome is Outcome.IN_FLIGHT and busy.retry_after_s == 20.0
        assert rec.counters["in_flight_409"] == 1
        await client.aclose()

    run(main)


def test_outage_kinds() -> None:
    async def main(loop: VirtualTimeLoop) -> None:
        outages = (Outage(from_h=0.1, to_h=0.2, kind="down"),        # 360-720 s
                   Outage(from_h=0.3, to_h=0.4, kind="blackhole"),   # 1080-1440 s
                   Outage(from_h=0.5, to_h=0.6, kind="partition"))   # 1800-2160 s
        centre, rec = _centre(loop, outages=outages, latency_ms=20.0)
        client = _client(loop, centre)
        await asyncio.sleep(400)
        with pytest.raises(UplinkError, match="cannot connect"):
            await client.heartbeat({})
        assert loop.time() == pytest.approx(400.02)
        await asyncio.sleep(1100 - loop.time())
        with pytest.raises(UplinkError, match="did not answer"):
            await client.heartbeat({})
        assert loop.time() == pytest.approx(1110.0)
        await asyncio.sleep(1900 - loop.time())
        with pytest.raises(UplinkError, match="did not answer"):
            await client.upload(_batch(2))
        assert sum(rec.stored) == 2  # stored, answer lost
        await asyncio.sleep(2200 - loop.time())
        again = await client.upload(_batch(2))
        assert again.outcome is Outcome.ACKED and rec.counters["replayed"] == 1
        assert sum(rec.refused) == 2
        await client.aclose()

    run(main)


def test_work_queued_when_the_centre_crashes_is_lost_and_its_key_released() -> None:
    async def main(loop: VirtualTimeLoop) -> None:
        crash = (Outage(from_h=5 / 3600, to_h=20 / 3600, kind="down"),)
        centre, rec = _centre(loop, capacity=0.2, burst_s=0.0, latency_ms=0.0,
                              outages=crash)  # each request takes 5 s
        client = _client(loop, centre)
        await asyncio.sleep(1)
        blocker = asyncio.create_task(client.heartbeat({}))  # done at 6 s: after the crash
        await asyncio.sleep(0)
        with pytest.raises(UplinkError):
            await client.upload(_batch(1))  # would be done at 11 s: lost in the crash
        with pytest.raises(UplinkError):
            await blocker
        await asyncio.sleep(25 - loop.time())
        again = await client.upload(_batch(1))
        assert again.outcome is Outcome.ACKED and "replayed" not in rec.counters
        assert rec.counters["lost_in_crash"] == 2
        await client.aclose()

    run(main)


def test_trust_list_is_conditional() -> None:
    async def main(loop: VirtualTimeLoop) -> None:
        centre, rec = _centre(loop)
        client = _client(loop, centre)
        first = await client.fetch_trust_list(None)
        assert first.data == b"list-1" and first.etag == '"v1"'
        same = await client.fetch_trust_list(first.etag)
        assert same.data is None
        await asyncio.sleep(1000)
        newer = await client.fetch_trust_list(first.etag)
        assert newer.data == b"list-2"
        assert rec.counters["trust_lists_sent"] == 2
        await client.aclose()

    run(main)


def test_direct_exchange_for_in_process_clients() -> None:
    async def main(loop: VirtualTimeLoop) -> None:
        centre, _rec = _centre(loop, latency_ms=0.0)
        answer = await centre.model.exchange(
            Request("verify", lambda now: Answer(200, value=now)),
            connect_timeout=1, read_timeout=1)
        assert answer.value == 0.0
        body = gzip.compress(json.dumps({"records": []}).encode())
        assert body  # (the in-process path takes no HTTP body)
        with pytest.raises(CentreFailure):
            centre.model.outages.append((0.0, 10.0, "down"))
            await centre.model.exchange(Request("verify", lambda now: Answer(200)),
                                        connect_timeout=1, read_timeout=1)

    run(main)
