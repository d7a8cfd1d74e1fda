"""Every enrolment refusal is one clear line, exit 2, and nothing changed on the terminal:
reused token, expired token, token for another gate, wrong CA fingerprint, a centre whose
certificate does not match the pin, a CSR whose key is not the terminal's."""

from __future__ import annotations

import base64
import ssl
import time
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives import serialization

from device.identity import IdentityStore, build_csr, generate_key, key_fingerprint
from sim.central import CentralServer
from sim.tlscerts import make_test_pki
from tests.provisioning.pki_kit import (
    Pki,
    cli,
    enrol_args,
    snapshot,
    start_centre,
    terminal_config,
)


def refused(capsys: pytest.CaptureFixture[str], config: Path, argv: list[str],
            code: str) -> str:
    """Run the CLI, expect exactly one line on stderr naming ``code``, exit 2, no change."""
    state = config.parent
    before = snapshot(state)
    rc, out, err = cli(capsys, *argv)
    assert rc == 2, (out, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(f"scangate provision {argv[1]}: error: refused ({code}): "), \
        lines[0]
    assert "Traceback" not in err and out == ""
    assert snapshot(state) == before, "a refusal changed the terminal"
    return lines[0]


def test_reused_token(tmp_path: Path, pki: Pki, centre: CentralServer,
                      capsys: pytest.CaptureFixture[str]) -> None:
    minted = centre.provisioning.mint_token("gate-1")
    first = terminal_config(tmp_path, "t-1")
    rc, _, err = cli(capsys, *enrol_args(first, centre, minted.token, "gate-1",
                                         pki.ca.fingerprint))
    assert rc == 0, err
    # The same token again, by another terminal (or the same one): one-time.
    second = terminal_config(tmp_path, "t-2")
    line = refused(capsys, second, enrol_args(second, centre, minted.token, "gate-1",
                                              pki.ca.fingerprint), "token_used")
    assert "one-time" in line and "mint a new one" in line
    refused(capsys, first, enrol_args(first, centre, minted.token, "gate-1",
                                      pki.ca.fingerprint), "token_used")
    assert [c["terminal_id"] for c in centre.provisioning.certificates()] == ["t-1"]


def test_expired_token(tmp_path: Path, pki: Pki, centre: CentralServer,
                       capsys: pytest.CaptureFixture[str]) -> None:
    minted = centre.provisioning.mint_token("gate-1")  # default lifetime: 10 minutes
    assert 599 <= minted.expires_at - time.time() <= 600
    centre.provisioning.clock = lambda: time.time() + 601  # eleven minutes later
    config = terminal_config(tmp_path)
    line = refused(capsys, config, enrol_args(config, centre, minted.token, "gate-1",
                                              pki.ca.fingerprint), "token_expired")
    assert "expired" in line
    assert centre.provisioning.certificates() == []


def test_token_for_another_gate_is_refused_and_not_burnt(
        tmp_path: Path, pki: Pki, centre: CentralServer,
        capsys: pytest.CaptureFixture[str]) -> None:
    minted = centre.provisioning.mint_token("gate-1")
    config = terminal_config(tmp_path)
    line = refused(capsys, config, enrol_args(config, centre, minted.token, "gate-2",
                                              pki.ca.fingerprint), "token_wrong_gate")
    assert "gate-1" in line and "gate-2" in line
    # A typo is not fatal: the token was not consumed by the refused request.
    rc, _out, err = cli(capsys, *enrol_args(config, centre, minted.token, "gate-1",
                                           pki.ca.fingerprint))
    assert rc == 0, err


def test_wrong_ca_fingerprint(tmp_path: Path, pki: Pki, centre: CentralServer,
                              capsys: pytest.CaptureFixture[str]) -> None:
    minted = centre.provisioning.mint_token("gate-1")
    config = terminal_config(tmp_path)
    line = refused(capsys, config, enrol_args(config, centre, minted.token, "gate-1",
                                              pki.other.fingerprint), "wrong_ca_fingerprint")
    assert pki.ca.fingerprint[:16] in line and pki.other.fingerprint[:16] in line
    # Nothing was sent to the centre but the public CA request: the token is intact.
    assert centre.provisioning.certificates() == []
    assert [w["path"] for w in centre.wire if "method" in w] == ["/.well-known/est/cacerts"]


def test_a_centre_whose_certificate_does_not_match_the_pin(
        tmp_path: Path, pki: Pki, capsys: pytest.CaptureFixture[str]) -> None:
    # A man in the middle: it relays the real CA (public) on cacerts, but cannot present
    # a server certificate signed by that CA.
    impostor = make_test_pki(tmp_path / "impostor", name="impostor")
    rogue = start_centre(tmp_path, pki, tls_cert=impostor.server_cert,
                         tls_key=impostor.server_key, record_wire=True)
    try:
        minted = rogue.provisioning.mint_token("gate-1")
        config = terminal_config(tmp_path)
        line = refused(capsys, config, enrol_args(config, rogue, minted.token, "gate-1",
                                                  pki.ca.fingerprint), "pin_mismatch")
        assert "not signed by the pinned CA" in line
        # The token never left the terminal: the handshake failed before any request.
        assert not any("simpleenroll" in w["path"] for w in rogue.wire)
    finally:
        rogue.stop()


def test_a_csr_whose_key_is_not_the_terminals(tmp_path: Path, pki: Pki,
                                              centre: CentralServer,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    # The token was minted for this terminal's key (the fingerprint its screen shows).
    config = terminal_config(tmp_path)
    store = IdentityStore(config.parent / "state" / "identity")
    own = store.ensure_key()
    thief = generate_key()
    minted = centre.provisioning.mint_token("gate-1", terminal_id="t-1",
                                            key_fingerprint=key_fingerprint(own.public_key()))
    # Someone else's key presented with that token is refused by the centre ...
    stolen = build_csr(thief, terminal_id="t-1", gate_id="gate-1")
    der = stolen.public_bytes(serialization.Encoding.DER)
    ctx = ssl.create_default_context(cafile=str(pki.ca.ca_path))
    with httpx.Client(base_url=centre.url, verify=ctx) as c:
        r = c.post("/.well-known/est/simpleenroll", content=base64.encodebytes(der),
                   headers={"Authorization": f"Bearer {minted.token}",
                            "Content-Type": "application/pkcs10"})
        assert r.status_code == 403 and r.json()["code"] == "key_mismatch"
        # ... and so is a request not signed by the key it carries (no proof of possession).
        tampered = bytearray(der)
        tampered[-5] ^= 0x55
        r = c.post("/.well-known/est/simpleenroll", content=base64.encodebytes(bytes(tampered)),
                   headers={"Authorization": f"Bearer {minted.token}"})
        assert r.status_code == 400 and r.json()["code"] in ("pop_failed", "csr_invalid")
    # The terminal whose key has been replaced by another (a swapped key file) is refused
    # with one line, and its files stay as they were.
    from device.files import atomic_write as write_file
    from device.identity.certs import private_pem

    write_file(store.key_path, private_pem(thief), mode=0o600)
    line = refused(capsys, config, enrol_args(config, centre, minted.token, "gate-1",
                                              pki.ca.fingerprint), "key_mismatch")
    assert "not this terminal's key" in line
    write_file(store.key_path, private_pem(own), mode=0o600)
    rc, _, err = cli(capsys, *enrol_args(config, centre, minted.token, "gate-1",
                                         pki.ca.fingerprint))
    assert rc == 0, err  # with its own key, the same token works


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [(["--central", "http://127.0.0.1:1", "--token", "t", "--gate", "g",
       "--ca-fingerprint", "a" * 64], "https://"),
     (["--central", "https://127.0.0.1:1", "--token", "t", "--gate", "g h",
       "--ca-fingerprint", "a" * 64], "gate id"),
     (["--central", "https://127.0.0.1:1", "--token", "t", "--gate", "g",
       "--ca-fingerprint", "xyz"], "64 hex"),
     (["--central", "https://127.0.0.1:1", "--token", "t", "--gate", "g"], "fingerprint"),
     (["--token", "t", "--gate", "g", "--ca-fingerprint", "a" * 64], "--central"),
     (["--voucher", "SGV1.nonsense"], "voucher"),
     (["--central", "https://127.0.0.1:1", "--token", "t", "--gate", "g",
       "--ca-fingerprint", "a" * 64, "--timeout", "0.5"], "cannot reach")],
)
def test_bad_input_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                               argv: list[str], fragment: str) -> None:
    config = terminal_config(tmp_path)
    before = snapshot(config.parent)
    rc, out, err = cli(capsys, "provision", "enroll", "--config", str(config), *argv)
    assert rc == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and fragment in err, err
    assert snapshot(config.parent) == before


def test_config_check_refuses_plain_http_to_another_host(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = terminal_config(tmp_path, uplink='[uplink]\nbase_url = "http://example.com:8300"\n'
                             'token = "t"\n')
    rc, out, err = cli(capsys, "config", "check", str(config))
    assert rc == 2 and out == ""
    assert "http://example.com:8300" in err and "loopback" in err
    assert len(err.strip().splitlines()) == 1


def test_a_centre_handing_out_another_trust_root_is_refused(
        tmp_path: Path, pki: Pki, centre: CentralServer,
        capsys: pytest.CaptureFixture[str]) -> None:
    # The terminal was shipped with the operator's trust root pinned ([trust] root_key);
    # this centre hands out another one (a rogue or misconfigured centre).
    from sim.keys import make_demo_keys

    other = make_demo_keys(tmp_path / "other-root")
    pinned = tmp_path / "t-1" / "root.pub.pem"
    pinned.parent.mkdir(parents=True)
    pinned.write_bytes(other.root_public.read_bytes())
    config = terminal_config(tmp_path, extra='[trust]\nroot_key = "root.pub.pem"\n')
    minted = centre.provisioning.mint_token("gate-1")
    line = refused(capsys, config, enrol_args(config, centre, minted.token, "gate-1",
                                              pki.ca.fingerprint), "trust_root_mismatch")
    assert "rogue or misconfigured centre" in line
    # With the right root pinned, the same terminal enrols.
    pinned.write_bytes(pki.keys.root_public.read_bytes())
    minted = centre.provisioning.mint_token("gate-1")
    rc, _, err = cli(capsys, *enrol_args(config, centre, minted.token, "gate-1",
                                         pki.ca.fingerprint))
    assert rc == 0, err


def test_tokens_never_look_like_options(centre: CentralServer) -> None:
    tokens = [centre.provisioning.mint_token("gate-1").token for _ in range(200)]
    assert all(t.startswith("sgt_") and len(t) >= 28 for t in tokens)
    assert len(set(tokens)) == 200
