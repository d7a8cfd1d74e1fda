"""THE PARTITION TEST and every fault of the stand-in: zero records lost, zero duplicated.
Also: after an outage, terminals' retries are spread (jitter), not synchronised."""

from __future__ import annotations

import asyncio
import random
import statistics
from pathlib import Path

import pytest

from device.journal import Journal
from device.uplink import Uplink
from sim.central import CentralServer
from tests.device import uplink_support
from tests.device.uplink_support import (
    RecordingSleep,
    assert_exactly_once,
    config,
    drain,
    fill,
    make_journal,
    make_uplink,
)

# the shared fixtures: a real stand-in centre, a real journal
server = uplink_support.server
journal = uplink_support.journal


def test_partition_after_store_zero_lost_zero_duplicated(server: CentralServer,
                                                         journal: Journal) -> None:
    """The centre stores the batch, the answer is lost; the terminal retries with the same
    key and gets the stored answer. Every other request is partitioned, over 12 batches."""
    ids = fill(journal, 1150)
    up = make_uplink(config(server.url, batch_size=100), journal)

    async def scenario() -> int:
        partitions = 0
        attempts = 0
        while journal.stats().pending:
            attempts += 1
            assert attempts < 100
            if attempts % 2:
                server.faults.set("partition", endpoint="upload", times=1)
                stored_before = server.store.record_count()
                pending_before = journal.stats().pending
                await up.uploader.step()
                # Stored at the centre, but the terminal could not know: still pending.
                assert server.store.record_count() > stored_before
                assert journal.stats().pending == pending_before
                partitions += 1
            else:
                server.faults.clear()
                await up.uploader.step()
        await up.aclose()
        return partitions

    partitions = asyncio.run(scenario())
    assert partitions == 12
    assert_exactly_once(server, ids)
    counters = server.metrics.snapshot()["counters"]
    assert counters["idempotency_replay"] == 12
    assert counters["records_received"] == 1150
    assert server.metrics.endpoint("upload")["fault_partition"] == 12


def test_partition_then_terminal_restart(server: CentralServer, tmp_path: Path) -> None:
    """Partition, then the terminal process restarts: the reopened journal hands out the
    same batch under the same key, and the centre still ends with each record once."""
    j = make_journal(tmp_path, "t-1")
    ids = fill(j, 120)
    up = make_uplink(config(server.url, batch_size=50), j)

    async def first_life() -> None:
        server.faults.set("partition", endpoint="upload", times=1)
        await up.uploader.step()
        await up.aclose()

    asyncio.run(first_life())
    j.close()
    j2 = make_journal(tmp_path, "t-1")
    up2 = make_uplink(config(server.url, batch_size=50), j2)

    async def second_life() -> None:
        await drain(up2, j2)
        await up2.aclose()

    asyncio.run(second_life())
    j2.close()
    assert_exactly_once(server, ids)
    assert server.metrics.snapshot()["counters"]["idempotency_replay"] == 1


@pytest.mark.parametrize("kind", ["down", "slow", "500", "truncate", "reset", "503", "429"])
def test_faults_lose_and_duplicate_nothing(server: CentralServer, journal: Journal,
                                           kind: str) -> None:
    ids = fill(journal, 230)
    up = make_uplink(config(server.url, batch_size=50, timeout_s=0.3), journal)

    async def scenario() -> list[str]:
        kinds = []
        server.faults.set(kind, times=None if kind == "down" else 3, delay_s=0.6)
        for _ in range(3):
            await up.uploader.step()
            kinds.append(up.status()["last_error_kind"])
        server.faults.clear()
        # A slow request may still be in flight at the centre (409) for a moment.
        await drain(up, journal, real_pause_s=0.05)
        await up.aclose()
        return kinds

    kinds = asyncio.run(scenario())
    expected = {"down": {"connect", "network"}, "slow": {"timeout"}, "500": {"server"},
                "truncate": {"protocol"}, "reset": {"network", "protocol", "connect"},
                "503": {"busy"}, "429": {"busy"}}[kind]
    assert kinds[0] in expected
    assert all(k is not None for k in kinds)
    assert_exactly_once(server, ids)
    assert up.status()["online"] is True


def test_centre_stopped_then_back(server: CentralServer, journal: Journal) -> None:
    """Connection refused (nothing listening), then the centre comes back on its port."""
    ids = fill(journal, 120)
    up = make_uplink(config(server.url, batch_size=50), journal)

    async def scenario() -> None:
        await up.uploader.step()
        server.stop()
        await up.uploader.step()
        assert up.status()["last_error_kind"] == "connect"
        assert "cannot connect" in up.status()["last_error"]
        server.start()
        await drain(up, journal)
        await up.aclose()

    asyncio.run(scenario())
    assert_exactly_once(server, ids)


def test_retries_after_an_outage_are_spread(tmp_path: Path) -> None:
    """20 terminals lose the centre at the same moment; their retry delays and arrival
    times when it comes back are spread by full jitter, not synchronised."""
    n = 20
    with CentralServer(tmp_path / "c.db") as server:
        journals = [make_journal(tmp_path, f"t-{i}") for i in range(n)]
        sleeps = [RecordingSleep(real_max_s=10.0) for _ in range(n)]
        ups: list[Uplink] = []
        for i, (j, s) in enumerate(zip(journals, sleeps, strict=True)):
            fill(j, 5)
            cfg = config(server.url, terminal_id=f"t-{i}", batch_interval_s=0.2,
                         backoff_base_s=0.1, backoff_cap_s=0.8, heartbeat_interval_s=60.0)
            ups.append(Uplink(cfg, journal=j, rng=random.Random(1000 + i), sleep=s))

        async def scenario() -> None:
            server.faults.set("down")
            tasks = [asyncio.create_task(u.uploader.run()) for u in ups]
            while min(u.status()["consecutive_failures"] for u in ups) < 3:
                await asyncio.sleep(0.01)
            server.faults.clear()
            while any(j.stats().pending for j in journals):
                await asyncio.sleep(0.01)
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            for u in ups:
                await u.aclose()

        asyncio.run(scenario())
        arrivals = {}
        for e in server.metrics.requests_log():
            if e["endpoint"] == "upload" and e["status"] == 200:
                arrivals.setdefault(e["terminal"], e["t"])
        for j in journals:
            j.close()
    # Each terminal's first wait (start) and first retry wait differ from every other's.
    firsts = [s.delays[0] for s in sleeps]
    retries = [s.delays[1] for s in sleeps]
    assert len({round(x, 6) for x in firsts}) == n
    assert len({round(x, 6) for x in retries}) == n
    assert all(0 <= x <= 0.2 for x in firsts) and all(0 <= x <= 0.1 for x in retries)
    # The successful uploads after the outage arrive spread out, not in one burst.
    times = sorted(arrivals.values())
    assert len(times) == n
    assert times[-1] - times[0] > 0.05
    assert statistics.pstdev(times) > 0.01


def test_409_in_flight_waits_then_gets_the_stored_answer(server: CentralServer,
                                                          journal: Journal) -> None:
    ids = fill(journal, 20)
    up = make_uplink(config(server.url, timeout_s=0.2), journal)

    async def scenario() -> None:
        server.faults.set("slow", endpoint="upload", times=1, delay_s=0.8)
        await up.uploader.step()
        assert up.status()["last_error_kind"] == "timeout"
        delay = await up.uploader.step()  # the first request still holds the key
        assert up.status()["last_error_kind"] == "in_flight"
        assert delay >= 1.0  # Retry-After: 1 honoured
        while server.store.keys_in_flight():
            await asyncio.sleep(0.05)
        await drain(up, journal)
        await up.aclose()

    asyncio.run(scenario())
    assert_exactly_once(server, ids)
    counters = server.metrics.snapshot()["counters"]
    assert counters["idempotency_in_flight"] == 1 and counters["idempotency_replay"] == 1


def test_422_key_reused_with_another_body_sets_the_batch_aside(server: CentralServer,
                                                               journal: Journal) -> None:
    import gzip
    import json

    import httpx

    fill(journal, 10)
    batch = journal.next_batch(100)  # persisted with its key before any send
    assert batch is not None
    other = gzip.compress(json.dumps({"terminal_id": "t-1", "records": [
        {"record_id": "someone-else", "seq": 1}]}).encode())
    r = httpx.post(server.url + "/v1/records", content=other,
                   headers={"Content-Encoding": "gzip", "Idempotency-Key": batch.idempotency_key})
    assert r.status_code == 200
    up = make_uplink(config(server.url), journal)

    async def scenario() -> None:
        await up.uploader.step()
        await up.aclose()

    asyncio.run(scenario())
    st = up.status()
    assert st["batches_set_aside"] == 1 and st["set_aside"][0]["status"] == 422
    assert journal.stats().set_aside == 10 and journal.stats().pending == 0
    assert server.store.record_ids() == ["someone-else"]
