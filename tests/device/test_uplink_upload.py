"""The upload loop against the stand-in centre over a real socket, with a real journal:
acked only after 2xx, Retry-After, set-aside of other 4xx, pacing, oldest first."""

from __future__ import annotations

import asyncio
from email.utils import formatdate
from pathlib import Path

import pytest

from device.journal import Journal
from sim.central import CentralPacing, CentralServer
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


def test_batches_acked_only_after_2xx(server: CentralServer, journal: Journal) -> None:
    ids = fill(journal, 250)
    up = make_uplink(config(server.url), journal)

    async def scenario() -> None:
        server.faults.set("500")
        for _ in range(3):
            await up.uploader.step()
        assert journal.stats().pending == 250  # nothing marked while the centre fails
        assert server.store.record_count() == 0
        assert up.status()["online"] is False
        assert up.status()["last_error_kind"] == "server"
        server.faults.clear()
        await drain(up, journal)
        await up.aclose()

    asyncio.run(scenario())
    assert journal.stats().pending == 0
    assert_exactly_once(server, ids)
    st = up.status()
    assert st["online"] is True and st["records_acked"] == 250 and st["batches_acked"] == 3


def test_retries_reuse_the_idempotency_key(server: CentralServer, journal: Journal) -> None:
    ids = fill(journal, 40)
    up = make_uplink(config(server.url), journal)

    async def scenario() -> None:
        server.faults.set("500", times=2)
        await up.uploader.step()
        await up.uploader.step()
        await up.uploader.step()
        await up.aclose()

    asyncio.run(scenario())
    assert_exactly_once(server, ids)
    keys = {k for (k,) in server.store._db.execute("SELECT DISTINCT batch_key FROM records")}
    idem = list(server.store._db.execute("SELECT key, state FROM idempotency"))
    assert len(keys) == 1 and idem == [(next(iter(keys)), "done")]
    # The journal's batch carries that key and was handed out three times.
    row = journal._conn.execute("SELECT idempotency_key, attempts FROM batches").fetchone()
    assert row == (next(iter(keys)), 3)


@pytest.mark.parametrize("kind", ["429", "503"])
def test_retry_after_seconds_honoured(server: CentralServer, journal: Journal, kind: str) -> None:
    fill(journal, 5)
    up = make_uplink(config(server.url, backoff_cap_s=300.0), journal)

    async def scenario() -> list[float]:
        server.faults.set(kind, retry_after="120")
        delays = [await up.uploader.step() for _ in range(3)]
        await up.aclose()
        return delays

    delays = asyncio.run(scenario())
    # At least the 120 s asked for, plus jitter of at most half of it.
    assert all(120.0 <= d <= 180.0 for d in delays)
    assert len(set(delays)) == 3
    assert journal.stats().pending == 5
    assert up.status()["last_error_kind"] == "busy"


@pytest.mark.parametrize("kind", ["429", "503"])
def test_retry_after_http_date_honoured(server: CentralServer, journal: Journal,
                                        kind: str) -> None:
    fill(journal, 5)
    up = make_uplink(config(server.url, backoff_cap_s=300.0), journal)

    async def scenario() -> float:
        import time

        server.faults.set(kind, retry_after=formatdate(time.time() + 90, usegmt=True))
        d = await up.uploader.step()
        await up.aclose()
        return d

    d = asyncio.run(scenario())
    assert 88.0 <= d <= 90.0 + 45.0 + 1.0


def test_503_without_retry_after_backs_off_with_full_jitter(
        server: CentralServer, journal: Journal) -> None:
    fill(journal, 5)
    cfg = config(server.url, backoff_base_s=1.0, backoff_cap_s=8.0)
    up = make_uplink(cfg, journal)

    async def scenario() -> list[float]:
        server.faults.set("503")
        delays = [await up.uploader.step() for _ in range(6)]
        await up.aclose()
        return delays

    delays = asyncio.run(scenario())
    ceilings = [1.0, 2.0, 4.0, 8.0, 8.0, 8.0]
    assert all(0.0 <= d <= c for d, c in zip(delays, ceilings, strict=True))
    assert up.status()["consecutive_failures"] == 6


def test_other_4xx_set_aside_reported_not_retried(server: CentralServer,
                                                  journal: Journal) -> None:
    first = fill(journal, 30)
    up = make_uplink(config(server.url, batch_size=30), journal)

    async def scenario() -> None:
        server.faults.set("status", code=400, times=1)
        await up.uploader.step()
        assert journal.stats().set_aside == 30
        assert journal.stats().pending == 0
        more = fill(journal, 10)
        await drain(up, journal)
        await up.aclose()
        assert sorted(server.store.record_ids()) == sorted(more)

    asyncio.run(scenario())
    uploads = server.metrics.endpoint("upload")
    assert uploads["status_400"] == 1 and uploads["requests"] == 2  # never re-sent
    st = up.status()
    assert st["batches_set_aside"] == 1
    assert st["set_aside"][0]["status"] == 400 and st["set_aside"][0]["records"] == 30
    events = journal.events()
    assert any(e["kind"] == "batch_set_aside" for e in events)
    assert not set(first) & set(server.store.record_ids())


def test_401_is_not_set_aside(tmp_path: Path, journal: Journal) -> None:
    fill(journal, 10)
    with CentralServer(tmp_path / "c2.db", tokens={"good": "t-1"}) as server:
        up = make_uplink(config(server.url, token="bad"), journal)

        async def scenario() -> None:
            for _ in range(3):
                await up.uploader.step()
            await up.aclose()

        asyncio.run(scenario())
        assert journal.stats().set_aside == 0 and journal.stats().pending == 10
        assert up.status()["last_error_kind"] == "auth"
        assert "uplink.token" in up.status()["last_error"]
        good = make_uplink(config(server.url, token="good"), journal)

        async def fixed() -> None:
            await drain(good, journal)
            await good.aclose()

        asyncio.run(fixed())
        assert server.store.record_count("t-1") == 10


def test_centre_shrinks_batches_and_slows_the_rate(server: CentralServer,
                                                    journal: Journal) -> None:
    ids = fill(journal, 330)
    up = make_uplink(config(server.url, batch_size=200), journal)
    server.pacing = CentralPacing(max_batch=40, min_interval_s=3.0)

    async def scenario() -> list[tuple[int, float]]:
        seen = []
        while journal.stats().pending:
            before = journal.stats().pending
            delay = await up.uploader.step()
            seen.append((before - journal.stats().pending, delay))
        await up.aclose()
        return seen

    seen = asyncio.run(scenario())
    sizes = [n for n, _ in seen]
    assert sizes[0] == 200  # built before the centre said anything
    assert all(n <= 40 for n in sizes[1:]) and sum(sizes) == 330
    # Full batches go back-to-back only after min_interval_s (minus the send time).
    assert all(d >= 2.5 for _, d in seen)
    assert up.status()["batch_size"] == 40 and up.status()["min_interval_s"] == 3.0
    assert_exactly_once(server, ids)
    server.pacing = CentralPacing()


def test_backlog_drained_back_to_back(server: CentralServer, journal: Journal) -> None:
    fill(journal, 1000)
    up = make_uplink(config(server.url, batch_size=100, batch_interval_s=30.0), journal)

    async def scenario() -> list[float]:
        delays = await drain(up, journal)
        delays.append(await up.uploader.step())  # nothing left: idle interval
        await up.aclose()
        return delays

    delays = asyncio.run(scenario())
    assert delays[:10] == [0.0] * 10  # no waiting while the centre accepts
    assert delays[-1] >= 15.0  # then the (jittered) batch interval


def test_offline_for_days_sends_oldest_first(server: CentralServer, journal: Journal) -> None:
    day = 86400.0
    ids = fill(journal, 600, t0=1_700_000_000.0, step_s=3 * day / 600)
    sleep = RecordingSleep(real_max_s=0.002)
    up = make_uplink(config(server.url, batch_size=64), journal, sleep=sleep)

    async def scenario() -> None:
        server.faults.set("down")
        task = asyncio.create_task(up.run())
        while up.status()["consecutive_failures"] < 4:
            await asyncio.sleep(0.01)
        server.faults.clear()
        while journal.stats().pending:
            await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(scenario())
    assert server.store.seqs_in_arrival_order("t-1") == list(range(1, 601))
    assert_exactly_once(server, ids)


def test_journal_errors_and_bugs_do_not_stop_the_loop(server: CentralServer,
                                                      tmp_path: Path) -> None:
    j = make_journal(tmp_path, "t-err")
    fill(j, 3)
    up = make_uplink(config(server.url, terminal_id="t-err"), j)

    async def scenario() -> None:
        j.close()  # the journal is gone: a JournalError, reported, backed off
        delay = await up.uploader.step()
        assert 0.0 <= delay <= 0.05
        assert up.status()["last_error_kind"] == "journal"

        calls = 0

        async def broken_step() -> float:
            nonlocal calls
            calls += 1
            if calls == 1:
                raise RuntimeError("bug")
            raise asyncio.CancelledError

        up.uploader.step = broken_step  # type: ignore[method-assign]
        with pytest.raises(asyncio.CancelledError):
            await up.uploader.run()
        assert calls == 2  # the loop survived the bug and went on
        assert up.status()["last_error_kind"] == "internal"
        await up.aclose()

    asyncio.run(scenario())


def test_413_splits_the_batch_instead_of_setting_it_aside(server: CentralServer,
                                                          journal: Journal) -> None:
    ids = fill(journal, 100)
    up = make_uplink(config(server.url, batch_size=100), journal)

    async def scenario() -> list[int]:
        server.faults.set("status", code=413, endpoint="upload", times=2)
        sizes = []
        while journal.stats().pending:
            before = journal.stats().pending
            await up.uploader.step()
            sizes.append(before - journal.stats().pending)
        await up.aclose()
        return sizes

    sizes = asyncio.run(scenario())
    assert sizes[:2] == [0, 0]  # two refusals: 100 -> 50 -> 25
    assert all(n == 25 for n in sizes[2:]) and sum(sizes) == 100
    assert up.status()["batch_size"] == 25 and journal.stats().set_aside == 0
    assert server.store.seqs_in_arrival_order("t-1") == list(range(1, 101))  # still in order
    assert_exactly_once(server, ids)
