"""Enrolment end to end over real TLS on 127.0.0.1 with certificates made at test time:
the CLI enrols, the uplink then uploads over mutual TLS, the centre knows the terminal
by its certificate, and the private key never reaches the centre."""

from __future__ import annotations

import base64
import contextlib
import gzip
import logging
import ssl
import stat
import time
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives import serialization

from device.identity import IdentityStore, read_certificate_info
from sim.central import CentralServer
from tests.provisioning.pki_kit import (
    Pki,
    cli,
    enrol_args,
    make_journal,
    reload,
    run,
    terminal_config,
    upload_all,
)


def test_enrol_from_the_cli_then_upload_over_mutual_tls(
        tmp_path: Path, pki: Pki, centre: CentralServer,
        capsys: pytest.CaptureFixture[str]) -> None:
    config = terminal_config(tmp_path)
    assert reload(config).uplink is None  # not enrolled: offline only
    minted = centre.provisioning.mint_token("gate-7")
    rc, out, err = cli(capsys, *enrol_args(config, centre, minted.token, "gate-7",
                                           pki.ca.fingerprint))
    assert rc == 0, err
    assert "t-1 enrolled at gate gate-7" in out and "mutual TLS checked" in out
    assert err == ""

    cfg = reload(config)
    up = cfg.uplink
    assert up is not None and up.base_url == centre.url and up.token is None
    store = IdentityStore(cfg.identity.dir)
    assert (up.ca_file, up.client_cert, up.client_key) == (store.ca_path, store.cert_path,
                                                          store.key_path)
    info = read_certificate_info(up.client_cert)
    assert (info.terminal_id, info.gate_id) == ("t-1", "gate-7")
    assert 29 < info.days_left(time.time()) <= 30
    assert stat.S_IMODE(store.key_path.stat().st_mode) == 0o600
    assert stat.S_IMODE(store.dir.stat().st_mode) == 0o700
    assert cfg.trust.root_key == store.root_path and cfg.trust.root_key.exists()
    assert cfg.trust.trust_list.exists()  # the current trust list, installed

    ids = make_journal(cfg, 40)
    status = run(upload_all(cfg))
    assert status["mutual_tls"] is True and status["identity_refused"] is None
    # The centre filed the records under the certificate's terminal id.
    assert sorted(centre.store.record_ids("t-1")) == sorted(ids)
    assert centre.store.max_times_received() == 1
    [cert] = centre.provisioning.certificates("t-1")
    assert (cert["gate_id"], cert["status"], cert["kind"]) == ("gate-7", "active", "enrol")
    assert centre.provisioning.gate_holder("gate-7") == "t-1"

    rc, out, _ = cli(capsys, "config", "check", str(config))
    assert rc == 0 and f"uplink {centre.url} (mutual TLS)" in out
    rc, out, _ = cli(capsys, "provision", "status", "--config", str(config), "--online")
    assert rc == 0 and "enrolled at gate gate-7" in out and "t-1 / gate gate-7 / active" in out

    # A configured https base_url overrides the enrolled one (the centre moved), with a
    # warning; a plain http one is refused: the identity never pairs with the clear.
    plain = config.read_text()
    config.write_text(plain.replace("[uplink]", '[uplink]\nbase_url = "https://127.0.0.2:9"'))
    rc, out, err = cli(capsys, "config", "check", str(config))
    assert rc == 0, err
    assert "overrides the centre this terminal enrolled at (" + centre.url in out + err
    config.write_text(plain.replace("[uplink]", '[uplink]\nbase_url = "http://127.0.0.1:9"\n'
                                                'allow_insecure_http = true'))
    rc, _, err = cli(capsys, "config", "check", str(config))
    assert rc == 2 and err.count("\n") == 1
    assert "plain http would send its records in the clear" in err


def test_v1_endpoints_want_a_certificate_of_this_ca(tmp_path: Path, pki: Pki,
                                                   centre: CentralServer) -> None:
    ctx = ssl.create_default_context(cafile=str(pki.ca.ca_path))
    with httpx.Client(base_url=centre.url, verify=ctx) as c:
        r = c.post("/v1/records", content=gzip.compress(b'{"records":[]}'),
                   headers={"Idempotency-Key": "k", "Content-Encoding": "gzip"})
        assert r.status_code == 401 and r.json()["code"] == "no_identity"
        assert c.get("/v1/trust-list").status_code == 401
        # The CA itself is public (EST bootstrap), enrolment needs its token.
        assert c.get("/.well-known/est/cacerts").status_code == 200
        r = c.post("/.well-known/est/simpleenroll", content=b"AAAA")
        assert r.status_code in (400, 401)
    # A client certificate from another CA does not get through the handshake.
    other = ssl.create_default_context(cafile=str(pki.ca.ca_path))
    other.load_cert_chain(str(pki.other.server_cert), str(pki.other.server_key))
    with httpx.Client(base_url=centre.url, verify=other) as c, pytest.raises(httpx.HTTPError):
        c.get("/v1/trust-list")
    assert centre.store.record_count() == 0


def _needles(key_path: Path) -> dict[str, bytes]:
    """Every form in which the private key could leak."""
    pem = key_path.read_bytes()
    key = serialization.load_pem_private_key(pem, None)
    der = key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    scalar = key.private_numbers().private_value.to_bytes(32, "big")  # type: ignore[union-attr]
    body = b"".join(pem.splitlines()[1:-1])
    # (The first 36 bytes of any P-256 PKCS#8 key are the same algorithm header: the
    # needles start past it, where this key's own bytes are.)
    return {"pem body": body[48:88], "der": der[36:], "raw scalar": scalar,
            "scalar hex": scalar.hex().encode(), "scalar HEX": scalar.hex().upper().encode(),
            "scalar b64": base64.b64encode(scalar)[:40],
            "der b64": base64.b64encode(der)[48:88],
            "scalar b64url": base64.urlsafe_b64encode(scalar).rstrip(b"=")}


def test_the_private_key_never_reaches_the_centre(
        tmp_path: Path, pki: Pki, centre: CentralServer,
        capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    config = terminal_config(tmp_path)
    minted = centre.provisioning.mint_token("gate-7")
    rc, out1, err1 = cli(capsys, *enrol_args(config, centre, minted.token, "gate-7",
                                             pki.ca.fingerprint))
    assert rc == 0
    cfg = reload(config)
    make_journal(cfg, 5)
    run(upload_all(cfg))
    rc, out2, err2 = cli(capsys, "provision", "status", "--config", str(config), "--online",
                         "--json")
    assert rc == 0

    received: list[bytes] = []
    assert centre.wire, "the centre recorded what it received"
    for item in centre.wire:
        received.append(repr(item).encode())
        if "body" in item:
            received.append(item["body"])
            if item["body"][:2] == b"\x1f\x8b":
                received.append(gzip.decompress(item["body"]))
            with contextlib.suppress(ValueError):  # EST bodies are base64 DER
                received.append(base64.b64decode(b"".join(item["body"].split()),
                                                 validate=True))
    paths = [p for p in tmp_path.glob("central.db*")] + list(pki.ca.dir.iterdir())
    received += [p.read_bytes() for p in paths if p.is_file()]
    received.append(caplog.text.encode())
    received += [s.encode() for s in (out1, err1, out2, err2)]
    haystack = b"\n".join(received)
    assert len(haystack) > 10_000  # requests, bodies, the database, logs: really inspected
    key_path = IdentityStore(cfg.identity.dir).key_path
    for name, needle in _needles(key_path).items():
        assert needle not in haystack, f"the private key ({name}) reached the centre"
    # ... and the public half did (the CSR): the search works.
    pub = serialization.load_pem_private_key(key_path.read_bytes(), None).public_key()
    spki = pub.public_bytes(serialization.Encoding.DER,
                            serialization.PublicFormat.SubjectPublicKeyInfo)
    assert spki in haystack
    assert stat.S_IMODE(key_path.stat().st_mode) == 0o600


def test_a_key_readable_by_others_is_flagged_and_refused(
        tmp_path: Path, pki: Pki, centre: CentralServer,
        capsys: pytest.CaptureFixture[str]) -> None:
    from device.errors import IdentityError
    from tests.provisioning.pki_kit import enrol_now

    config = terminal_config(tmp_path)
    enrol_now(config, centre, pki, "gate-1")
    store = IdentityStore(reload(config).identity.dir)
    store.key_path.chmod(0o644)
    rc, out, _ = cli(capsys, "config", "check", str(config))
    assert rc == 0 and "private key) is readable by other users (mode 644)" in out
    assert f"chmod 600 {store.key_path}" in out
    with pytest.raises(IdentityError, match="chmod 600"):
        store.load_key()
