"""Renewal before expiry (jittered, with the current certificate) and revocation (403 on
upload → "revoked" on the staff screen and /healthz, gating goes on offline, the journal
keeps every record; a new enrolment recovers it) — real daemon code, real TLS."""

from __future__ import annotations

import asyncio
import random
import time
from pathlib import Path

import httpx
from gpiozero.pins.mock import MockFactory

from device.clock import ManualClock
from device.daemon.app import Daemon
from device.daemon.pipeline import Outcome
from device.enrol.est import EstClient, pinned_context
from device.enrol.renewal import Renewer, renew_once
from device.identity import IdentityConfig, IdentityStore
from sim.central import CentralServer
from sim.phone import TechnicianPhone
from tests.device.daemon_kit import FedSource, asynctest
from tests.provisioning.pki_kit import (
    Pki,
    enrol_now,
    reload,
    run,
    terminal_config,
)
from tests.provisioning.test_voucher import until

DAY = 86400.0


def test_renewal_due_time_is_jittered_within_its_window(tmp_path: Path) -> None:
    from device.identity.certs import CertInfo
    from device.identity.store import Enrolment

    info = CertInfo("1", "t", "g", "CA", 0.0, 30 * DAY, "k")
    e = Enrolment("t", "g", "https://c", "f", 0.0, info, tmp_path, tmp_path, tmp_path, tmp_path)
    cfg = IdentityConfig(dir=tmp_path, renew_fraction=1 / 3)
    dues = {Renewer(IdentityStore(tmp_path), cfg, now=time.time, on_renewed=print,
                    rng=random.Random(seed)).due_at(e) for seed in range(20)}
    assert len(dues) == 20  # a fleet does not renew the same second
    assert all(20 * DAY - 3 * DAY <= d <= 20 * DAY for d in dues)
    r = Renewer(IdentityStore(tmp_path), cfg, now=time.time, on_renewed=print)
    assert r.due_at(e) == r.due_at(e)  # drawn once per certificate


def test_renewal_with_the_current_certificate(tmp_path: Path, pki: Pki,
                                              centre: CentralServer) -> None:
    config = terminal_config(tmp_path)
    first = enrol_now(config, centre, pki, "gate-1").enrolment
    store = IdentityStore(reload(config).identity.dir)
    key_before = store.key_path.read_bytes()
    new = run(renew_once(store))
    assert new.cert.serial != first.cert.serial
    assert (new.terminal_id, new.gate_id) == ("t-1", "gate-1")
    assert store.key_path.read_bytes() == key_before  # the key stays on the terminal
    assert new.cert.not_after > first.cert.not_after - 1
    certs = centre.provisioning.certificates("t-1")
    assert [(c["kind"], c["status"]) for c in certs] == [("enrol", "active"),
                                                        ("renew", "active")]
    # The centre saw the renewal request over mutual TLS with the CURRENT certificate.
    reenrol = [w for w in centre.wire if w.get("path", "").endswith("simplereenroll")
               and "method" in w]
    assert len(reenrol) == 1 and "Authorization" not in reenrol[0]["headers"]
    # The new certificate is the one presented from now on.
    e = store.load()
    assert e is not None and e.cert.serial == new.cert.serial

    async def whoami() -> dict:
        ctx = pinned_context(e.ca_path.read_bytes(), e.cert_path, e.key_path)
        async with EstClient(e.central_url, ctx) as est:
            return await est.identity()

    assert run(whoami())["serial"] == new.cert.serial
    # Revoked: renewal refused, nothing changed.
    centre.provisioning.revoke("t-1")
    try:
        run(renew_once(store))
        raise AssertionError("renewal of a revoked certificate succeeded")
    except Exception as exc:
        assert getattr(exc, "code", None) == "revoked", exc
    assert store.load().cert.serial == new.cert.serial  # type: ignore[union-attr]


@asynctest
async def test_the_daemon_renews_before_expiry_and_keeps_uploading(
        tmp_path: Path, pki: Pki, centre: CentralServer) -> None:
    config = terminal_config(tmp_path)
    first = (await asyncio.to_thread(enrol_now, config, centre, pki, "gate-1")).enrolment
    # Day 25 of a 30-day certificate: past renew_fraction (1/3 left = day 20).
    clock = ManualClock(now=time.time() + 25 * DAY)
    src = FedSource()
    outs: list[Outcome] = []
    d = Daemon(reload(config), clock=clock, pin_factory=MockFactory(), sources=[src],
               write_log=lambda _: None, on_outcome=outs.append)
    await d.start()
    try:
        await until(lambda: d.identity.renewer.renewals == 1, 20, "renewed")
        assert d.identity.status()["serial"] != first.cert.serial
        src.feed(pki.keys.issuer().mint("green", now=clock.now()))
        await until(lambda: len(outs) == 1, 10, "decision")
        await until(lambda: centre.store.record_count("t-1") == 1, 20, "uploaded after renewal")
        kinds = [c["kind"] for c in centre.provisioning.certificates("t-1")]
        assert kinds == ["enrol", "renew"]
        # The heartbeat tells the centre which certificate the terminal now presents.
        renewed = d.identity.status()["serial"]
        await until(lambda: any(h["body"].get("identity", {}).get("serial") == renewed
                                for h in centre.store.heartbeats("t-1")), 20,
                    "a heartbeat with the renewed identity")
        # The new certificate is "due" too by this clock (it runs 25 days ahead of the
        # centre's): renewal does not loop, one per MIN_GAP_S at most.
        await asyncio.sleep(1.5)
        assert d.identity.renewer.renewals == 1
    finally:
        await d.stop()


@asynctest
async def test_revoked_terminal_keeps_gating_offline_and_recovers_by_re_enrolment(
        tmp_path: Path, pki: Pki, centre: CentralServer) -> None:
    config = terminal_config(tmp_path)
    await asyncio.to_thread(enrol_now, config, centre, pki, "gate-1")
    src = FedSource()
    outs: list[Outcome] = []
    d = Daemon(reload(config), pin_factory=MockFactory(), sources=[src],
               write_log=lambda _: None, on_outcome=outs.append)
    await d.start()
    issuer = pki.keys.issuer()
    try:
        src.feed(issuer.mint("green"))
        await until(lambda: centre.store.record_count("t-1") == 1, 20, "first upload")
        centre.provisioning.revoke("t-1", "stolen?")
        for _ in range(5):
            src.feed(issuer.mint("green"))
        await until(lambda: len(outs) == 6, 10, "decisions while revoked")
        assert all(o.verdict.decision.value == "accept" for o in outs)  # gating goes on
        assert d.gate.opens == 6
        await until(lambda: d.board.revoked(), 20, "the centre's 403 seen")
        await until(lambda: d.uplink.status()["last_error_kind"] == "auth", 20,
                    "the upload refused too")
        async with httpx.AsyncClient(base_url=d.screen.url) as c:
            health = (await c.get("/healthz")).json()
            status = (await c.get("/api/status")).json()
            panel = (await c.get("/api/enrolment")).json()
        assert health["identity"]["state"] == "revoked"
        assert "terminal_revoked" in health["warnings"]
        assert status["identity"]["state"] == "revoked"
        assert status["uplink"]["identity_refused"] == "revoked"
        assert status["uplink"]["last_error_kind"] == "auth"
        assert panel["state"] == "revoked" and panel["uri"].startswith("scangate-enrol:")
        # The journal keeps every record; none was set aside for an identity problem.
        await d.board.refresh_stats(force=True)
        assert d.board.stats.records == 6 and d.board.stats.pending == 5
        assert d.board.stats.set_aside == 0
        assert centre.store.record_count("t-1") == 1

        # Recovery: a new voucher from the technician's phone (the screen shows the QR).
        phone = TechnicianPhone(centre.provisioning, centre.url, gate_id="gate-1")
        voucher = await asyncio.to_thread(lambda: phone.voucher_for(
            phone.read_screen(d.screen.url)))
        src.feed(voucher)
        await until(lambda: not d.board.revoked() and d.identity.state == "enrolled", 20,
                    "re-enrolled")
        await until(lambda: centre.store.record_count("t-1") == 6, 20, "backlog uploaded")
        assert len(outs) == 6  # the voucher was not a decision
        certs = centre.provisioning.certificates("t-1")
        assert [c["status"] for c in certs] == ["revoked", "active"]
    finally:
        await d.stop()
