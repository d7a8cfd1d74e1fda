"""Self-test, centre lines: reachable, mutual TLS against the stand-in centre over real TLS
on 127.0.0.1 (certificates made at test time, client certificates demanded), the
terminal's certificate days left, and the clock against the centre's Date."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from device.clock import ManualClock
from provisioning.selftest.result import Status
from sim.central.server import CentralServer
from tests.provisioning.selftest_support import (
    Pki,
    by_name,
    make_pki,
    mtls_centre,
    run,
    serve_identity,
    sign_cert,
    uplink_for,
    write_config,
    write_trust,
)

ONLY_CENTRE = frozenset({"camera", "readers", "gate", "disk", "journal", "trust"})


@pytest.fixture
def pki(tmp_path: Path) -> Pki:
    return make_pki(tmp_path)


@pytest.fixture
def centre(tmp_path: Path, pki: Pki) -> Iterator[CentralServer]:
    srv = mtls_centre(tmp_path, pki)
    try:
        yield srv
    finally:
        srv.stop()


def _config(tmp: Path, uplink: dict[str, object] | None) -> Path:
    return write_config(tmp, sources=[{"type": "serial", "port": str(tmp / "none")}],
                        trust=write_trust(tmp / "trust"), uplink=uplink)


def test_mtls_handshake_passes_and_reports_days_left(
        tmp_path: Path, pki: Pki, centre: CentralServer, monkeypatch: pytest.MonkeyPatch) -> None:
    serve_identity(monkeypatch, centre)
    lines = by_name(run(_config(tmp_path, uplink_for(centre.url, pki)), skip=ONLY_CENTRE))
    assert lines["centre reachable"].status is Status.PASS
    tls = lines["centre mTLS"]
    assert tls.status is Status.PASS, tls
    assert "accepted this terminal's certificate (GET /v1/identity → 200): terminal " \
        "selftest-0001, gate gate-07, active" in tls.detail
    cert = lines["client certificate"]
    assert cert.status is Status.PASS, cert
    assert "CN=selftest-0001" in cert.detail and "days left" in cert.detail
    assert lines["clock"].status is Status.PASS, lines["clock"]
    assert "agrees with the centre" in lines["clock"].detail
    # one request reached the centre, nothing written there (no heartbeat, no records),
    # and no bare TCP connect counted as a failed handshake
    log = centre.metrics.requests_log()
    assert [(r["endpoint"], r["terminal"]) for r in log] == [("identity", "selftest-0001")]
    assert "tls_handshake_failed" not in centre.metrics.snapshot()["counters"]
    assert centre.store.heartbeats() == [] and centre.store.record_count() == 0


@pytest.mark.parametrize("identity", [None, "501"])
def test_a_centre_without_the_identity_endpoint_is_asked_for_the_trust_list_head(
        tmp_path: Path, pki: Pki, centre: CentralServer, monkeypatch: pytest.MonkeyPatch,
        identity: str | None) -> None:
    from sim.central import server as central_server

    if identity is None:  # an older centre: no such route at all (404)
        monkeypatch.delitem(central_server.ROUTES, ("GET", "/v1/identity"))
    # "501": the stand-in without a CA has the route and answers 501 (enrols no terminals)
    tls = by_name(run(_config(tmp_path, uplink_for(centre.url, pki)),
                      skip=ONLY_CENTRE))["centre mTLS"]
    assert tls.status is Status.PASS, tls
    assert "accepted this terminal's certificate (GET /v1/trust-list → 404)" in tls.detail
    log = centre.metrics.requests_log()
    first = "unknown" if identity is None else "identity"
    assert [r["endpoint"] for r in log] == [first, "trust-list"]


def test_identity_revoked_or_of_another_terminal_fails(
        tmp_path: Path, pki: Pki, centre: CentralServer, monkeypatch: pytest.MonkeyPatch) -> None:
    serve_identity(monkeypatch, centre, status="revoked")
    tls = by_name(run(_config(tmp_path, uplink_for(centre.url, pki)),
                      skip=ONLY_CENTRE))["centre mTLS"]
    assert tls.status is Status.FAIL
    assert "reports this terminal's certificate revoked" in tls.detail
    assert "operator" in tls.remedy
    serve_identity(monkeypatch, centre, terminal_id="gate-9999")
    tls = by_name(run(_config(tmp_path, uplink_for(centre.url, pki)),
                      skip=ONLY_CENTRE))["centre mTLS"]
    assert tls.status is Status.FAIL
    assert "for terminal 'gate-9999', not 'selftest-0001'" in tls.detail


def test_certificate_expiring_soon_warns(tmp_path: Path, centre: CentralServer,
                                         pki: Pki) -> None:
    cert, key = sign_cert(pki.pki, tmp_path / "soon", "soon", not_after_days=5)
    soon = Pki(pki.pki, cert, key)
    lines = by_name(run(_config(tmp_path, uplink_for(centre.url, soon)), skip=ONLY_CENTRE))
    assert lines["centre mTLS"].status is Status.PASS
    line = lines["client certificate"]
    assert line.status is Status.WARN
    assert "5 days left" in line.detail or "4 days left" in line.detail
    assert "renew" in line.remedy
    # a larger threshold is the technician's choice
    lines = by_name(run(_config(tmp_path, uplink_for(centre.url, soon)), skip=ONLY_CENTRE,
                        cert_warn_days=2))
    assert lines["client certificate"].status is Status.PASS


def test_wrong_pin_fails_and_names_the_pin(tmp_path: Path, centre: CentralServer,
                                           pki: Pki) -> None:
    other = make_pki(tmp_path, name="other")
    up = uplink_for(centre.url, pki, ca_file=other.pki.ca_cert)
    line = by_name(run(_config(tmp_path, up), skip=ONLY_CENTRE))["centre mTLS"]
    assert line.status is Status.FAIL
    assert "wrong pin" in line.detail and "uplink.ca_file" in line.detail
    assert "enrol" in line.remedy.lower()


def test_centre_certificate_outside_its_validity_points_at_the_clock(
        tmp_path: Path, pki: Pki) -> None:
    future = sign_cert(pki.pki, tmp_path / "future", "future-centre", server=True,
                       not_before_days=2, not_after_days=30)
    srv = mtls_centre(tmp_path, pki, server_cert=future)
    try:
        line = by_name(run(_config(tmp_path, uplink_for(srv.url, pki)),
                           skip=ONLY_CENTRE))["centre mTLS"]
    finally:
        srv.stop()
    assert line.status is Status.FAIL
    assert "clock" in line.detail and "clock" in line.remedy


def test_expired_client_certificate_fails_twice_with_the_cause(tmp_path: Path,
                                                               centre: CentralServer,
                                                               pki: Pki) -> None:
    cert, key = sign_cert(pki.pki, tmp_path / "old", "old", not_before_days=-60,
                          not_after_days=-1)
    lines = by_name(run(_config(tmp_path, uplink_for(centre.url, Pki(pki.pki, cert, key))),
                        skip=ONLY_CENTRE))
    assert lines["client certificate"].status is Status.FAIL
    assert "expired" in lines["client certificate"].detail
    tls = lines["centre mTLS"]
    assert tls.status is Status.FAIL
    assert "expired" in tls.detail  # the centre's alert, named
    assert "Enrol" in tls.remedy


@pytest.mark.parametrize("ca_name", ["scangate-test", "another-operator"])
def test_certificate_from_another_ca_is_refused_by_the_centre(tmp_path: Path,
                                                              centre: CentralServer,
                                                              pki: Pki, ca_name: str) -> None:
    # same CA name: an impostor CA (the signature fails); another name: an unknown CA
    other = make_pki(tmp_path, name="other", ca_name=ca_name)
    up = uplink_for(centre.url, pki, client_cert=other.client_cert,
                    client_key=other.client_key)
    lines = by_name(run(_config(tmp_path, up), skip=ONLY_CENTRE))
    assert lines["client certificate"].status is Status.PASS  # fine by itself
    tls = lines["centre mTLS"]
    assert tls.status is Status.FAIL
    assert "does not accept this terminal's certificate" in tls.detail
    assert "enrolled with" in tls.remedy


def test_no_client_certificate_when_the_centre_demands_one(tmp_path: Path,
                                                           centre: CentralServer,
                                                           pki: Pki) -> None:
    up = uplink_for(centre.url, ca_file=pki.pki.ca_cert, token="t0ken")
    lines = by_name(run(_config(tmp_path, up), skip=ONLY_CENTRE))
    assert lines["client certificate"].status is Status.SKIP
    tls = lines["centre mTLS"]
    assert tls.status is Status.FAIL
    assert "client certificate" in tls.detail and "Enrol" in tls.remedy


def test_key_that_is_not_the_certificates_fails(tmp_path: Path, centre: CentralServer,
                                                pki: Pki) -> None:
    other = make_pki(tmp_path, name="other")
    up = uplink_for(centre.url, pki, client_key=other.client_key)
    line = by_name(run(_config(tmp_path, up), skip=ONLY_CENTRE))["client certificate"]
    assert line.status is Status.FAIL
    assert "does not belong" in line.detail


def test_revoked_terminal_gets_403_and_a_remedy(tmp_path: Path, centre: CentralServer,
                                                pki: Pki) -> None:
    centre.faults.set("status", code=403)  # what the centre answers a revoked terminal
    line = by_name(run(_config(tmp_path, uplink_for(centre.url, pki)),
                       skip=ONLY_CENTRE))["centre mTLS"]
    assert line.status is Status.FAIL
    assert "403" in line.detail and "revoked" in line.detail
    assert "operator" in line.remedy


def test_busy_centre_is_a_warning(tmp_path: Path, centre: CentralServer, pki: Pki) -> None:
    centre.faults.set("503", retry_after="5")
    line = by_name(run(_config(tmp_path, uplink_for(centre.url, pki)),
                       skip=ONLY_CENTRE))["centre mTLS"]
    assert line.status is Status.WARN and "503" in line.detail


def test_unreachable_centre_fails_and_skips_the_handshake(tmp_path: Path, pki: Pki) -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    lines = by_name(run(_config(tmp_path, uplink_for(f"https://127.0.0.1:{port}", pki)),
                        skip=ONLY_CENTRE))
    assert lines["centre reachable"].status is Status.FAIL
    assert "refused" in lines["centre reachable"].detail
    assert lines["centre mTLS"].status is Status.SKIP
    assert lines["client certificate"].status is Status.PASS  # examined locally all the same


def test_no_uplink_is_one_skip_line(tmp_path: Path) -> None:
    lines = by_name(run(_config(tmp_path, None), skip=ONLY_CENTRE))
    assert lines["centre"].status is Status.SKIP
    assert "offline only" in lines["centre"].detail
    assert "centre mTLS" not in lines


def test_plain_http_to_the_simulator_checks_the_token(tmp_path: Path) -> None:
    srv = CentralServer(tmp_path / "c.db", tokens={"good": "selftest-0001"}).start()
    try:
        # allow_insecure_http spelled out: the provisioning branch makes false the default
        ok = by_name(run(_config(tmp_path, uplink_for(srv.url, token="good",
                                                      allow_insecure_http=True)),
                         skip=ONLY_CENTRE))
        bad = by_name(run(_config(tmp_path, uplink_for(srv.url, token="bad",
                                                       allow_insecure_http=True)),
                          skip=ONLY_CENTRE))
    finally:
        srv.stop()
    assert ok["centre mTLS"].status is Status.SKIP and "plain http" in ok["centre mTLS"].detail
    assert bad["centre mTLS"].status is Status.FAIL and "401" in bad["centre mTLS"].detail


@pytest.mark.parametrize(("offset_s", "status"), [(3600.0, Status.FAIL), (60.0, Status.WARN),
                                                  (0.0, Status.PASS)])
def test_clock_against_the_centres_date(tmp_path: Path, centre: CentralServer, pki: Pki,
                                        offset_s: float, status: Status) -> None:
    import time

    clock = ManualClock(now=time.time() + offset_s, monotonic=1000.0)
    line = by_name(run(_config(tmp_path, uplink_for(centre.url, pki)), skip=ONLY_CENTRE,
                       clock=clock))["clock"]
    assert line.status is status, line
    if status is not Status.PASS:
        assert "ahead of the centre" in line.detail and "timedatectl" in line.remedy


def test_an_enrolled_terminal_against_the_real_ca_then_revoked(tmp_path: Path) -> None:
    """The stand-in's own CA (no test double): a terminal enrolled through the real EST
    exchange passes, and fails with "revoked" once the centre revokes it."""
    from sim.central import CentralCA
    from sim.keys import make_demo_keys
    from tests.provisioning.pki_kit import Pki as CentrePki
    from tests.provisioning.pki_kit import enrol_now, start_centre, terminal_config

    ca_pki = CentrePki(CentralCA.open_or_create(tmp_path / "ca"),
                       CentralCA.open_or_create(tmp_path / "other-ca"),
                       make_demo_keys(tmp_path / "keys"))
    srv = start_centre(tmp_path, ca_pki)
    try:
        config = terminal_config(tmp_path, "t-selftest")
        enrol_now(config, srv, ca_pki, "gate-42")
        lines = by_name(run(config, skip=ONLY_CENTRE))
        tls = lines["centre mTLS"]
        assert tls.status is Status.PASS, tls
        assert ("accepted this terminal's certificate (GET /v1/identity → 200): terminal "
                "t-selftest, gate gate-42, active") in tls.detail
        assert lines["client certificate"].status is Status.PASS, lines["client certificate"]
        assert srv.provisioning is not None
        srv.provisioning.revoke("t-selftest")
        tls = by_name(run(config, skip=ONLY_CENTRE))["centre mTLS"]
        assert tls.status is Status.FAIL
        assert "revoked" in tls.detail, tls
    finally:
        srv.stop()
