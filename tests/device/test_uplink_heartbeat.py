"""The heartbeat over a real socket: content (version, backlog and age of the oldest record,
trust-list version, clock state, disk, errors, journal events), the daemon's health()
merged in, events marked reported only after 2xx, and a jittered interval."""

from __future__ import annotations

import asyncio
import random
from pathlib import Path

import pytest

from device.clock import ManualClock
from device.clock.floor import TimeFloor
from device.journal import Journal
from device.uplink import Uplink
from device.verify.trustlist import TrustStore
from sim.central import CentralServer
from sim.keys import make_demo_keys
from tests.device import uplink_support
from tests.device.uplink_support import RecordingSleep, config, fill, run_until_cancelled

# the shared fixtures: a real stand-in centre, a real journal
server = uplink_support.server
journal = uplink_support.journal


def test_heartbeat_content(tmp_path: Path, server: CentralServer, journal: Journal) -> None:
    t0 = 1_800_000_000.0
    clock = ManualClock(now=t0 + 3600)
    keys = make_demo_keys(tmp_path / "keys", now=t0)
    store = TrustStore(tmp_path / "tl.cose", keys.root_public_key())
    store.install(keys.trust_list.read_bytes())
    floor = TimeFloor(tmp_path / "floor.json", clock=clock)
    fill(journal, 30, t0=t0, step_s=10.0)
    up = Uplink(config(server.url), journal=journal, timefloor=floor, trust_store=store,
                clock=clock, health=lambda: {"gate": {"state": "closed"}, "version": "9.9.9"})

    async def scenario() -> None:
        server.faults.set("status", code=400, endpoint="upload", times=1)
        await up.uploader.step()  # a set-aside batch: an error and a journal event
        fill(journal, 5, t0=t0 + 1000)
        assert journal.events()
        assert await up.heartbeat.send_once() is True
        await up.aclose()

    asyncio.run(scenario())
    beats = server.store.heartbeats("t-1")
    assert len(beats) == 1
    hb = beats[0]["body"]
    assert hb["terminal_id"] == "t-1"
    assert hb["version"] == "9.9.9"  # health() wins over the uplink's own field
    assert hb["gate"] == {"state": "closed"}
    assert hb["backlog"]["pending"] == 5
    assert hb["backlog"]["set_aside"] == 30
    assert hb["backlog"]["oldest_pending_t"] == t0 + 1000
    assert hb["backlog"]["oldest_pending_age_s"] == pytest.approx(3600 - 1000, abs=1)
    assert hb["trust_list"]["version"] == 1
    assert hb["clock"]["quality"] in ("synced", "floor", "unsure")
    assert "floor_t" in hb["clock"]
    assert hb["disk"]["journal_bytes"] > 0
    assert hb["uplink"]["batches_set_aside"] == 1
    assert any(e["kind"] == "batch_set_aside" for e in hb["events"])
    assert hb["uplink"]["set_aside"][0]["status"] == 400
    # Delivered: the journal's events are now marked reported.
    assert journal.events() == []
    assert up.status()["last_heartbeat_t"] == t0 + 3600


def test_events_stay_unreported_when_the_heartbeat_fails(server: CentralServer,
                                                         journal: Journal) -> None:
    fill(journal, 3)
    up = Uplink(config(server.url), journal=journal)

    async def scenario() -> None:
        server.faults.set("status", code=400, endpoint="upload", times=1)
        await up.uploader.step()
        server.faults.set("500", endpoint="heartbeat")
        assert await up.heartbeat.send_once() is False
        assert "500" in (up.status()["heartbeat_error"] or "")
        assert journal.events()
        server.faults.set("reset", endpoint="heartbeat")
        assert await up.heartbeat.send_once() is False
        assert journal.events()
        server.faults.clear()
        assert await up.heartbeat.send_once() is True
        assert journal.events() == []
        await up.aclose()

    asyncio.run(scenario())
    assert len(server.store.heartbeats("t-1")) == 1


def test_heartbeat_interval_is_jittered(server: CentralServer, journal: Journal) -> None:
    sleep = RecordingSleep(real_max_s=0.001)
    up = Uplink(config(server.url, heartbeat_interval_s=60.0), journal=journal,
                rng=random.Random(11), sleep=sleep)

    asyncio.run(run_until_cancelled(up.heartbeat.run(), lambda: up.heartbeat.sent >= 8, up))
    delays = up.heartbeat.delays
    assert 0.0 <= delays[0] <= 60.0  # the first one is jittered over a whole interval
    later = delays[1:8]
    assert all(48.0 <= d <= 72.0 for d in later)
    assert len({round(d, 6) for d in later}) == len(later)
    assert max(later) - min(later) > 3.0
    assert len(server.store.heartbeats("t-1")) >= 8


def test_a_failing_health_callable_does_not_stop_heartbeats(server: CentralServer,
                                                            journal: Journal) -> None:
    calls = 0

    def health() -> dict[str, object]:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("camera status broke")
        return {"gate": "ok"}

    up = Uplink(config(server.url), journal=journal, health=health,
                sleep=RecordingSleep(real_max_s=0.001))

    asyncio.run(run_until_cancelled(up.heartbeat.run(), lambda: up.heartbeat.sent >= 2, up))
    assert calls >= 3
    assert server.store.heartbeats("t-1")[0]["body"]["gate"] == "ok"


def test_the_package_version_is_read_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """importlib.metadata parses the METADATA file on every call (milliseconds on an SD
    card, most of a heartbeat's cost in the fleet simulation): read it once."""
    from importlib import metadata

    from device.uplink import heartbeat

    calls: list[str] = []
    monkeypatch.setattr(metadata, "version", lambda name: calls.append(name) or "9.9")
    heartbeat.package_version.cache_clear()
    try:
        assert [heartbeat.package_version() for _ in range(5)] == ["9.9"] * 5
        assert calls == ["scangate"]
    finally:
        heartbeat.package_version.cache_clear()
