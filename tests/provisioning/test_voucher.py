"""QR both ways, end to end: the technician's phone reads the enrolment QR off the staff
screen of a running daemon, the centre mints a voucher bound to that terminal, key and
screen nonce, and the phone shows it to the terminal's own serial reader (a real pty) or
camera (the simulated one, through the real decoder). The daemon enrols itself over TLS,
then uploads over mutual TLS; the voucher is never decided, journaled or gated."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from gpiozero.pins.mock import MockFactory

from device.daemon.app import Daemon
from device.daemon.pipeline import Outcome
from device.decode import live_decoder
from device.enrol.voucher import parse_enrolment_uri
from device.sources.camera import CameraSource
from sim.camera import SimCamera, SimCameraControl
from sim.central import CentralServer
from sim.phone import TechnicianPhone
from sim.scenes import SceneSpec, render_scene
from sim.serial_pty import SimSerialReader
from tests.device.daemon_kit import asynctest
from tests.provisioning.pki_kit import (
    Pki,
    reload,
    terminal_config,
)


async def until(predicate: Callable[[], bool], timeout_s: float, what: str) -> None:
    end = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > end:
            raise AssertionError(f"not reached in {timeout_s} s: {what}")
        await asyncio.sleep(0.02)


async def journal_rows(d: Daemon) -> int:
    await d.board.refresh_stats(force=True)
    return int(d.board.stats.records)


def start_daemon(config: Path, outs: list[Outcome], **kw: Any) -> Daemon:
    return Daemon(reload(config), pin_factory=MockFactory(), write_log=lambda _: None,
                  on_outcome=outs.append, **kw)


@asynctest
async def test_voucher_through_the_serial_reader(tmp_path: Path, pki: Pki,
                                                 centre: CentralServer) -> None:
    reader = SimSerialReader(link_path=tmp_path / "ttyACM-sim")
    config = terminal_config(tmp_path, "t-qr",
                             sources=f'[[sources]]\ntype = "serial"\nport = "{reader.path}"\n')
    outs: list[Outcome] = []
    d = start_daemon(config, outs)
    await d.start()
    try:
        assert d.uplink is None and d.board.enrolment()["state"] == "unenrolled"
        async with httpx.AsyncClient(base_url=d.screen.url) as c:
            view = (await c.get("/api/enrolment")).json()
            health = (await c.get("/healthz")).json()
        assert "terminal_not_enrolled" in health["warnings"]
        uri = parse_enrolment_uri(view["uri"])
        assert uri.terminal_id == "t-qr" and uri.key_fingerprint == d.identity.key_fp
        await until(lambda: d.mux.status() and all(  # open and in sync: a code is read whole
            s.get("connected") and s.get("in_sync", True) for s in d.mux.status().values()),
            10, "reader connected")

        # Before enrolment a code is denied (no trust list), and journaled.
        code = pki.keys.issuer().mint("green")
        reader.send(code)
        await until(lambda: len(outs) == 1, 10, "first decision")
        assert outs[0].verdict.reason.value == "unknown_key"

        phone = TechnicianPhone(centre.provisioning, centre.url, gate_id="gate-qr")
        voucher = await asyncio.to_thread(phone.enrol, d.screen.url, reader=reader)
        await until(lambda: d.identity.state == "enrolled", 20, "enrolled from the voucher")
        assert centre.provisioning.gate_holder("gate-qr") == "t-qr"
        await until(lambda: d.uplink is not None and d.uplink.status()["online"], 20,
                    "uplink online over mutual TLS")
        assert d.uplink.status()["mutual_tls"] is True

        # The same voucher again (the reader reads it twice): ignored, never decided.
        reader.send(voucher)
        # Now a code is accepted (the enrolment installed the trust root and list) ...
        reader.send(pki.keys.issuer().mint("green"))
        await until(lambda: len(outs) == 2, 10, "second decision")
        assert outs[1].verdict.decision.value == "accept"
        # ... and both decisions reach the centre over mutual TLS; the voucher never did.
        await until(lambda: centre.store.record_count("t-qr") == 2, 20, "records uploaded")
        assert await journal_rows(d) == 2
        assert all(o.verdict.reason.value != "unknown_format" for o in outs)
        assert d.gate.opens == 1  # the accepted code only: a voucher never opens the gate
        assert d.identity.vouchers_seen == 2
        assert d.identity.status()["last_code"] == "ignored"
        assert phone.vouchers == [voucher]
        async with httpx.AsyncClient(base_url=d.screen.url) as c:
            assert (await c.get("/enrol/qr.png")).status_code == 404  # enrolled: no QR
            st = (await c.get("/api/status")).json()
        assert st["identity"]["state"] == "enrolled" and st["identity"]["gate_id"] == "gate-qr"
    finally:
        await d.stop()
        reader.close()


@asynctest
async def test_voucher_through_the_camera(tmp_path: Path, pki: Pki,
                                          centre: CentralServer) -> None:
    control = SimCameraControl()
    empty = render_scene(SceneSpec(payload=None, size=(640, 480), phone=False))
    camera = CameraSource(
        lambda: SimCamera(device="frames", fps=20, frames=[(empty, None)], control=control),
        live_decoder("zxing"), name="sim-camera")
    config = terminal_config(tmp_path, "t-cam")
    outs: list[Outcome] = []
    d = start_daemon(config, outs, sources=[camera])
    await d.start()
    try:
        phone = TechnicianPhone(centre.provisioning, centre.url, gate_id="gate-cam")
        await asyncio.to_thread(phone.enrol, d.screen.url, camera=control)
        await until(lambda: d.identity.state == "enrolled", 30, "enrolled from the camera")
        control.take_away()
        assert outs == [] and await journal_rows(d) == 0  # read many times, decided never
        await until(lambda: d.uplink is not None and d.uplink.status()["online"], 20,
                    "uplink online")
        # The same voucher held up again after enrolment: ignored.
        seen = d.identity.vouchers_seen
        await asyncio.sleep(3.2)  # past the de-duplication window
        control.hold_up(phone.voucher_frame(phone.vouchers[0]), "voucher")
        await until(lambda: d.identity.vouchers_seen > seen, 10, "voucher read again")
        control.take_away()
        assert outs == [] and d.gate.opens == 0
    finally:
        await d.stop()


@asynctest
async def test_vouchers_for_another_terminal_or_an_old_screen_are_refused(
        tmp_path: Path, pki: Pki, centre: CentralServer) -> None:
    config = terminal_config(tmp_path, "t-1")
    outs: list[Outcome] = []
    from tests.device.daemon_kit import FedSource

    src = FedSource()
    d = start_daemon(config, outs, sources=[src])
    await d.start()
    try:
        phone = TechnicianPhone(centre.provisioning, centre.url, gate_id="gate-1")
        uri = await asyncio.to_thread(phone.read_screen, d.screen.url)
        # For another terminal: refused by the terminal before any network call.
        other = phone.voucher_for(uri.__class__("t-9", uri.key_fingerprint, uri.nonce))
        src.feed(other)
        await until(lambda: d.identity.last_code == "terminal_mismatch", 5, "refused")
        # An old screen code (the nonce changed since): refused.
        old = phone.voucher_for(uri.__class__(uri.terminal_id, uri.key_fingerprint,
                                              "00" * 8))
        src.feed(old)
        await until(lambda: d.identity.last_code == "nonce_mismatch", 5, "refused")
        # A tampered voucher (its gate changed): the CA signature does not verify.
        good = phone.voucher_for(uri)
        head, body, sig = good.split(".")
        import base64
        import json

        doc = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
        doc["gate"] = "gate-vip"
        forged = ".".join([head, base64.urlsafe_b64encode(json.dumps(doc).encode())
                           .rstrip(b"=").decode(), sig])
        src.feed(forged)
        await until(lambda: d.identity.last_code == "voucher_signature", 10, "forged refused")
        assert d.identity.state == "unenrolled" and centre.provisioning.certificates() == []
        assert outs == [] and await journal_rows(d) == 0
        # Garbage with the voucher prefix: refused as malformed, never decided.
        src.feed("SGV1.!!!")
        await until(lambda: d.identity.last_code == "voucher_malformed", 5, "malformed")
        assert outs == []
    finally:
        await d.stop()


@pytest.mark.parametrize("payload", [b"SGV1.", b"SGV1." + b"A" * 5000, b"SGV1.\xff\xfe.x",
                                     b"SGV1.e30.AAAA", b"SGV1.eyJ2IjoxfQ." + b"A" * 86])
def test_voucher_parser_is_bounded_and_never_crashes(payload: bytes) -> None:
    from device.enrol.voucher import parse_voucher
    from device.errors import EnrolmentError

    with pytest.raises(EnrolmentError) as info:
        parse_voucher(payload)
    assert info.value.code == "voucher_malformed"


@asynctest
async def test_a_slow_enrolment_never_delays_a_decision(tmp_path: Path, pki: Pki,
                                                        centre: CentralServer) -> None:
    from device.verify.trustlist import TrustStore, load_root_key
    from tests.device.daemon_kit import FedSource

    # A terminal shipped with the operator's trust root pinned and a trust list (codes
    # are decided before and during enrolment); the centre takes 2 s to answer.
    keys = pki.keys
    path = terminal_config(tmp_path, extra=f'[trust]\nroot_key = "{keys.root_public}"\n')
    cfg = reload(path)
    TrustStore(cfg.trust.trust_list, load_root_key(keys.root_public)).install(
        keys.trust_list.read_bytes())
    src = FedSource()
    outs: list[Outcome] = []
    d = start_daemon(path, outs, sources=[src])
    await d.start()
    try:
        phone = TechnicianPhone(centre.provisioning, centre.url, gate_id="gate-slow")
        uri = await asyncio.to_thread(phone.read_screen, d.screen.url)
        centre.faults.set("slow", endpoint="enrolment", delay_s=2.0, times=1)
        src.feed(phone.voucher_for(uri))
        await until(lambda: d.identity.state == "enrolling", 5, "enrolling")
        issuer = keys.issuer()
        for _ in range(5):
            src.feed(issuer.mint("green"))
            await asyncio.sleep(0.05)
        await until(lambda: len(outs) == 5, 5, "decisions during the enrolment")
        assert d.identity.state == "enrolling"  # the centre has not answered yet ...
        assert all(o.verdict.decision.value == "accept" for o in outs)
        assert max(o.decision_ms for o in outs) < 500  # ... and no decision waited for it
        await until(lambda: d.identity.state == "enrolled", 20, "enrolled")
    finally:
        await d.stop()
