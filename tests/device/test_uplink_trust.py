"""Trust-list updates from the stand-in centre: conditional GET (304 does nothing), a newer
list is installed and handed to the verifier without a restart, an older or badly signed
list is refused and the old one kept."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from device.clock import ManualClock
from device.clock.floor import TimeFloor
from device.journal import Journal
from device.uplink import Uplink
from device.verify.trustlist import TrustList, TrustStore
from device.verify.verdict import Decision
from device.verify.verifier import Verifier
from sim.central import CentralServer
from sim.keys import DemoKeys, make_demo_keys
from tests.device import uplink_support
from tests.device.uplink_support import RecordingSleep, config, run_until_cancelled


@pytest.fixture
def keys(tmp_path: Path) -> DemoKeys:
    return make_demo_keys(tmp_path / "keys")


@pytest.fixture
def server(tmp_path: Path, keys: DemoKeys) -> Iterator[CentralServer]:
    with CentralServer(tmp_path / "c.db", trust_list_path=keys.trust_list) as s:
        yield s


# the shared fixture: a real journal (this module's centre serves a trust list)
journal = uplink_support.journal


def installed_store(tmp_path: Path, keys: DemoKeys) -> TrustStore:
    store = TrustStore(tmp_path / "installed" / "trust-list.cose", keys.root_public_key())
    store.install(keys.trust_list.read_bytes())
    return store


def test_conditional_get_install_and_refusals(tmp_path: Path, keys: DemoKeys,
                                              server: CentralServer, journal: Journal) -> None:
    store = installed_store(tmp_path, keys)
    got: list[TrustList] = []
    floor = TimeFloor(tmp_path / "floor.json", clock=ManualClock(now=0.0))
    up = Uplink(config(server.url), journal=journal, trust_store=store,
                on_trust_list=got.append, timefloor=floor)
    assert up.trust is not None
    trust = up.trust

    async def scenario() -> None:
        # Same list as installed: nothing to do; then 304 with the remembered ETag.
        assert await trust.check_once() is None
        assert await trust.check_once() is None
        assert server.metrics.endpoint("trust-list")["status_304"] == 1
        assert got == []
        # A newer list: installed, verified, handed over.
        issued = time.time()
        keys.write_trust_list(2, issued_at=issued)
        new = await trust.check_once()
        assert new is not None and new.version == 2
        assert [t.version for t in got] == [2]
        assert store.load() is not None and store.load().version == 2  # type: ignore[union-attr]
        assert up.status()["trust_list_version"] == 2
        assert floor.now().t >= int(issued)  # the signed issued_at raised the floor
        # An older list (rollback): refused, the installed one stays.
        keys.write_trust_list(1, issued_at=issued + 10)
        assert await trust.check_once() is None
        assert "refused" in (up.status()["trust_error"] or "")
        # A list signed by another root: refused, the installed one stays.
        other = make_demo_keys(tmp_path / "other-keys")
        server.set_trust_list(other.write_trust_list(9))
        assert await trust.check_once() is None
        assert up.status()["trust_error"]
        # Garbage: refused.
        server.set_trust_list(b"\x00not a trust list")
        assert await trust.check_once() is None
        await up.aclose()

    asyncio.run(scenario())
    assert [t.version for t in got] == [2]
    current = store.load()
    assert current is not None and current.version == 2


def test_verifier_swaps_without_restart_during_run(tmp_path: Path, keys: DemoKeys,
                                                   server: CentralServer,
                                                   journal: Journal) -> None:
    """A code from a new issuer key is denied, the centre publishes a list with that key,
    the running uplink installs it and the same Verifier object accepts the code."""
    store = installed_store(tmp_path, keys)
    current = store.load()
    assert current is not None
    verifier = Verifier(current)
    new_keys = make_demo_keys(tmp_path / "new-issuer")
    code = new_keys.issuer().mint(status="green", valid_s=600)
    assert verifier.verify(code).decision is Decision.DENY

    up = Uplink(config(server.url, trust_poll_interval_s=0.05), journal=journal,
                trust_store=store, on_trust_list=verifier.replace_trust,
                sleep=RecordingSleep(real_max_s=0.01))

    async def scenario() -> None:
        task = asyncio.create_task(up.run())
        await asyncio.sleep(0.1)
        keys.write_trust_list(3, extra_keys=[new_keys.signer_key()])
        for _ in range(300):
            if verifier.trust_list is not None and verifier.trust_list.version == 3:
                break
            await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(scenario())
    assert verifier.trust_list is not None and verifier.trust_list.version == 3
    assert verifier.verify(code).decision is Decision.ACCEPT


def test_trust_fetch_failures_are_reported_and_retried(tmp_path: Path, keys: DemoKeys,
                                                       server: CentralServer,
                                                       journal: Journal) -> None:
    store = installed_store(tmp_path, keys)
    up = Uplink(config(server.url), journal=journal, trust_store=store)
    assert up.trust is not None
    trust = up.trust

    async def scenario() -> None:
        from device.errors import UplinkError

        server.faults.set("503", endpoint="trust-list", times=1)
        with pytest.raises(UplinkError, match="503"):
            await trust.check_once()
        server.faults.set("truncate", endpoint="trust-list", times=1)
        keys.write_trust_list(2)
        with pytest.raises(UplinkError):
            await trust.check_once()
        assert store.load().version == 1  # type: ignore[union-attr]
        new = await trust.check_once()
        assert new is not None and new.version == 2
        await up.aclose()

    asyncio.run(scenario())


def test_trust_polling_is_jittered_and_conditional(tmp_path: Path, keys: DemoKeys,
                                                   server: CentralServer,
                                                   journal: Journal) -> None:
    import random

    store = installed_store(tmp_path, keys)
    sleep = RecordingSleep(real_max_s=0.001)
    up = Uplink(config(server.url, trust_poll_interval_s=300.0, batch_interval_s=5.0),
                journal=journal, trust_store=store, rng=random.Random(5), sleep=sleep)
    assert up.trust is not None
    trust = up.trust

    def polled_six_times() -> bool:
        return server.metrics.endpoint("trust-list")["requests"] >= 6

    asyncio.run(run_until_cancelled(trust.run(), polled_six_times, up))
    assert 0.0 <= sleep.delays[0] <= 10.0  # soon after start, jittered
    later = sleep.delays[1:6]
    assert all(240.0 <= d <= 360.0 for d in later)
    assert len({round(d, 6) for d in later}) == len(later)
    ep = server.metrics.endpoint("trust-list")
    assert ep["status_304"] >= 4  # after the first full answer, only 304s


def _failing_poll_delays(tmp_path: Path, keys: DemoKeys, server: CentralServer,
                         journal: Journal, clock: ManualClock) -> list[float]:
    import random

    store = installed_store(tmp_path, keys)
    server.faults.set("503", endpoint="trust-list")  # until cleared: the centre is struggling
    sleep = RecordingSleep(real_max_s=0.001)
    up = Uplink(config(server.url, trust_poll_interval_s=300.0, batch_interval_s=5.0),
                journal=journal, trust_store=store, rng=random.Random(5), sleep=sleep,
                clock=clock)
    assert up.trust is not None

    def failed_six_times() -> bool:
        return server.metrics.endpoint("trust-list")["requests"] >= 6

    asyncio.run(run_until_cancelled(up.trust.run(), failed_six_times, up))
    return sleep.delays[1:6]


def test_failed_polls_do_not_speed_up_while_the_list_is_valid(
        tmp_path: Path, keys: DemoKeys, server: CentralServer, journal: Journal) -> None:
    """A centre that fails every poll must not see the terminal poll faster than usual:
    quick retries from each terminal's first failure used to land together on a centre
    coming back from an outage (docs/fleet.md)."""
    delays = _failing_poll_delays(tmp_path, keys, server, journal, ManualClock(now=time.time()))
    assert all(240.0 <= d <= 360.0 for d in delays), delays


def test_failed_polls_back_off_quickly_when_the_list_has_expired(
        tmp_path: Path, keys: DemoKeys, server: CentralServer, journal: Journal) -> None:
    past_expiry = ManualClock(now=time.time() + 365 * 86400)
    delays = _failing_poll_delays(tmp_path, keys, server, journal, past_expiry)
    assert delays[0] <= 1.0  # full jitter from the base: a stale list wants a new one soon
    assert all(d < 240.0 for d in delays[:4]), delays
