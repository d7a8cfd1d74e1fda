"""The daemon on an untrusted clock: a fresh terminal at 1970 with no network."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from gpiozero.pins.mock import MockFactory

from device.clock import ManualClock
from device.daemon.app import Daemon
from device.daemon.pipeline import Outcome
from device.verify.trustlist import TrustList, TrustStore, load_root_key
from sim.central import CentralServer
from sim.keys import DemoKeys, make_demo_keys
from tests.device.daemon_kit import FedSource, asynctest, load, make_site

DAY = 86400.0


async def _decide(src: FedSource, outcomes: list[Outcome], payload: str) -> Outcome:
    n = len(outcomes)
    src.feed(payload)
    for _ in range(400):
        if len(outcomes) > n:
            return outcomes[n]
        await asyncio.sleep(0.005)
    raise AssertionError("no decision within 2 s")


@asynctest
async def test_clock_at_1970_decides_on_the_floor_and_signed_iat(tmp_path: Path) -> None:
    path, _keys = make_site(tmp_path, extra="[dedupe]\nwindow_s = 0.0\n")
    # The installed trust list was issued three days before the true time.
    real_now = time.time()
    old = make_demo_keys(tmp_path / "old-keys", now=real_now - 3 * DAY)
    state = tmp_path / "state"
    (state / "trust-list.cose").unlink()
    (tmp_path / "keys" / "root.pub.pem").write_bytes(old.root_public.read_bytes())
    TrustStore(state / "trust-list.cose", load_root_key(old.root_public)).install(
        old.trust_list.read_bytes())
    issuer = old.issuer()

    clock = ManualClock(now=0.0)  # the Pi booted without a battery clock
    src = FedSource()
    outcomes: list[Outcome] = []
    d = Daemon(load(path), clock=clock, pin_factory=MockFactory(), sources=[src],
               write_log=lambda line: None, on_outcome=outcomes.append)
    await d.start()
    try:
        floor_t = d.timefloor.now().t
        assert floor_t >= old_trust_issued(old) - 1  # never 1970: at least the list's issue time
        # A code minted now is "in the future" for a floor three days old: its signed iat
        # proves the time, so it is accepted and the floor moves up to it.
        fresh = await _decide(src, outcomes, issuer.mint("green", now=real_now))
        assert fresh.verdict.accepted, fresh.verdict
        assert fresh.clock_quality != "synced"
        assert d.timefloor.now().t >= real_now - 1
        # A code that expired an hour before that is now certainly expired.
        stale = await _decide(src, outcomes, issuer.mint("green", valid_s=300,
                                                         now=real_now - 3600))
        assert stale.verdict.reason.value == "expired"
        # A red code with the same trick is still red (only not_yet_valid is re-judged).
        red = await _decide(src, outcomes, issuer.mint("red", now=real_now + 10))
        assert red.verdict.reason.value == "status_red"
    finally:
        await d.stop()


def old_trust_issued(keys: DemoKeys) -> float:
    root = load_root_key(keys.root_public)
    return TrustList.from_bytes(keys.trust_list.read_bytes(), root).issued_at


@asynctest
async def test_heartbeat_health_does_not_flatten_the_clock_status(tmp_path: Path) -> None:
    """The daemon's health() is merged over the uplink's heartbeat report: it must not
    replace the time floor's full clock status with a bare quality string. Checked on
    what the centre receives (the merged report), not on health() alone."""
    with CentralServer(tmp_path / "central.db", port=0) as central:
        path, _keys = make_site(tmp_path, uplink=f'[uplink]\nbase_url = "{central.url}"\n'
                                                 'allow_insecure_http = true\n'
                                                 "heartbeat_interval_s = 0.2\n")
        d = Daemon(load(path), pin_factory=MockFactory(), sources=[FedSource()],
                   write_log=lambda line: None)
        await d.start()
        try:
            for _ in range(200):
                beats = central.store.heartbeats("test-gate")
                if beats:
                    break
                await asyncio.sleep(0.05)
            else:
                raise AssertionError("no heartbeat reached the centre within 10 s")
        finally:
            await d.stop()
    body = beats[0]["body"]
    clock = body["clock"]
    assert isinstance(clock, dict), clock
    assert {"quality", "floor_t", "floor_source", "trusted_ever"} <= set(clock)
    assert clock["quality"] in ("synced", "floor", "unsure")
    assert body["checks"]["journal"] is True and body["trust_list_version"] == 1
