"""Helpers for the self-test tests (not a test module): certificates made at test time, a
stand-in centre that demands client certificates, trust lists, configuration files."""

from __future__ import annotations

import datetime as dt
import ipaddress
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from gpiozero.pins.mock import MockFactory, MockPin

from device.config import DaemonConfig, load_config
from device.verify.trustlist import sign_trust_list
from provisioning.selftest.context import Context
from provisioning.selftest.options import Options
from provisioning.selftest.result import CheckResult, Status
from provisioning.selftest.runner import run_selftest
from sim.central.server import CentralServer
from sim.tlscerts import ThrowawayPki, make_test_pki

SCANGATE = str(Path(sys.executable).with_name("scangate"))
DAY = 86400.0


# --------------------------------------------------------------------------- certificates


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                       serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    path.chmod(0o600)


def sign_cert(pki: ThrowawayPki, out: Path, name: str, *, server: bool = False,
              not_before_days: float = -1, not_after_days: float = 30,
              key: ec.EllipticCurvePrivateKey | None = None) -> tuple[Path, Path]:
    """A leaf certificate signed by ``pki``'s CA: (cert.pem, key.pem) in ``out``."""
    ca = x509.load_pem_x509_certificate(pki.ca_cert.read_bytes())
    ca_key = serialization.load_pem_private_key(pki.ca_key.read_bytes(), password=None)
    assert isinstance(ca_key, ec.EllipticCurvePrivateKey)
    key = key or ec.generate_private_key(ec.SECP256R1())
    now = _now()
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now + dt.timedelta(days=not_before_days))
        .not_valid_after(now + dt.timedelta(days=not_after_days))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
    )
    if server:
        builder = builder.add_extension(x509.SubjectAlternativeName(
            [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]),
            critical=False).add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
    else:
        builder = builder.add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
    cert = builder.sign(ca_key, hashes.SHA256())
    out.mkdir(parents=True, exist_ok=True)
    cert_path, key_path = out / f"{name}.pem", out / f"{name}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    _write_key(key_path, key)
    return cert_path, key_path


@dataclass
class Pki:
    pki: ThrowawayPki  # the centre's CA, its server certificate
    client_cert: Path  # this terminal's certificate, signed by that CA
    client_key: Path


def make_pki(tmp: Path, *, client_days: float = 30, name: str = "centre",
             ca_name: str = "scangate-test") -> Pki:
    pki = make_test_pki(tmp / name, name=ca_name)
    cert, key = sign_cert(pki, tmp / name / "terminal", "selftest-0001",
                          not_after_days=client_days)
    return Pki(pki, cert, key)


def require_client_certs(server: CentralServer, ca_file: Path) -> None:
    """The stand-in has no client-certificate option yet (the provisioning branch adds
    one): demand certificates signed by ``ca_file`` on its live SSL context."""
    httpd: Any = server._httpd
    ctx: ssl.SSLContext = httpd.ssl_context
    ctx.load_verify_locations(cafile=str(ca_file))
    ctx.verify_mode = ssl.CERT_REQUIRED


def serve_identity(monkeypatch: Any, centre: CentralServer, *, status: str = "active",
                   terminal_id: str | None = None) -> None:
    """A stand-in whose ``GET /v1/identity`` answers as docs/central-api.md specifies, from
    the presented client certificate, for certificates of a test PKI the stand-in's own CA
    did not issue (and for the lying centre of ``terminal_id``). The real CA-backed
    answers are tested in test_selftest_centre.py with an enrolled terminal."""
    from sim.central import enrol_api

    def ep_identity(handler: Any, terminal: str, fault: Any) -> None:
        cert = handler.connection.getpeercert()
        if not cert:
            handler._json(401, {"error": "no client certificate", "code": "no_identity"})
            return
        cn = dict(x[0] for x in cert["subject"])["commonName"]
        if status == "revoked":
            handler._json(403, {"error": "certificate revoked", "code": "revoked"})
            return
        handler._json(200, {"terminal_id": terminal_id or cn, "gate_id": "gate-07",
                            "serial": "1f", "status": status, "not_after": 0})

    class AnyCertificateOfTheTestPki:
        """Past the stand-in's "no CA: 501" answer: the TLS layer already checked the
        certificate against the test PKI's CA; every such certificate is active."""

        def status(self, cert: Any) -> str:
            return "active"

        def close(self) -> None:
            pass

    monkeypatch.setitem(enrol_api.HANDLERS, "identity", ep_identity)
    if centre.provisioning is None:
        monkeypatch.setattr(centre, "provisioning", AnyCertificateOfTheTestPki())


def mtls_centre(tmp: Path, pki: Pki, *, server_cert: tuple[Path, Path] | None = None,
                trust_list: Path | None = None) -> CentralServer:
    cert, key = server_cert or (pki.pki.server_cert, pki.pki.server_key)
    srv = CentralServer(tmp / "central.db", tls_cert=cert, tls_key=key,
                        trust_list_path=trust_list).start()
    require_client_certs(srv, pki.pki.ca_cert)
    return srv


# --------------------------------------------------------------------------- trust list


def write_trust(directory: Path, *, issued_days: float = -1, expires_days: float = 30,
                root: ec.EllipticCurvePrivateKey | None = None) -> tuple[Path, Path]:
    """(root public key PEM, signed trust list) relative to now."""
    directory.mkdir(parents=True, exist_ok=True)
    root = root or ec.generate_private_key(ec.SECP256R1())
    pub = directory / "root.pub.pem"
    pub.write_bytes(root.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    now = time.time()
    data = sign_trust_list(root, 3, now + issued_days * DAY, now + expires_days * DAY, [], [])
    path = directory / "trust-list.cose"
    path.write_bytes(data)
    return pub, path


# --------------------------------------------------------------------------- configuration


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int | float):
        return repr(v)
    if isinstance(v, Path):
        v = str(v)
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(v, list):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    raise TypeError(v)


def write_config(tmp: Path, *, sources: list[dict[str, Any]], trust: tuple[Path, Path],
                 uplink: dict[str, Any] | None = None, gate: dict[str, Any] | None = None,
                 journal: dict[str, Any] | None = None, policy: dict[str, Any] | None = None,
                 screen: dict[str, Any] | None = None, name: str = "terminal.toml") -> Path:
    lines = ['terminal_id = "selftest-0001"', f"state_dir = {_toml_value(tmp / 'state')}"]
    for s in sources:
        lines.append("[[sources]]")
        lines += [f"{k} = {_toml_value(v)}" for k, v in s.items()]
    sections: dict[str, dict[str, Any] | None] = {
        "gate": {"pin_factory": "mock", **(gate or {})},
        "trust": {"root_key": trust[0], "trust_list": trust[1]},
        "journal": {"path": tmp / "state" / "journal.db", "quota_mb": 64, "min_free_mb": 1,
                    **(journal or {})},
        "policy": policy,
        "screen": screen if screen is not None else {"enabled": False},
        "uplink": uplink,
    }
    for title, values in sections.items():
        if values is None:
            continue
        lines.append(f"[{title}]")
        lines += [f"{k} = {_toml_value(v)}" for k, v in values.items()]
    path = tmp / name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    path.chmod(0o600)
    return path


def uplink_for(url: str, pki: Pki | None = None, **kw: Any) -> dict[str, Any]:
    up: dict[str, Any] = {"base_url": url, "timeout_s": 3.0}
    if pki is not None:
        up.update(ca_file=pki.pki.ca_cert, client_cert=pki.client_cert,
                  client_key=pki.client_key)
    up.update(kw)
    return up


# --------------------------------------------------------------------------- running


class RecordingPin(MockPin):
    """A MockPin that also appends (pin name, level) to its factory's shared log, so the
    order of changes across pins can be asserted."""

    def _change_state(self, value: bool) -> bool:
        changed: bool = super()._change_state(value)
        if changed:
            self.factory.log.append((self.info.name, bool(value)))
        return changed


def recording_factory() -> Any:
    factory: Any = MockFactory(pin_class=RecordingPin)
    factory.log = []
    return factory


def run(cfg: DaemonConfig | Path, *, prompt: Callable[[str], None] | None = None,
        daemon: Any = None, pin_factory: Any = None, clock: Any = None,
        **options: Any) -> list[CheckResult]:
    """The self-test in this process (no daemon unless ``daemon`` is given); quick
    defaults for the camera count and the gate pulses."""
    config = load_config(cfg) if isinstance(cfg, Path) else cfg
    opts = Options(**{"camera_measure_s": 0.5, "pulse_ms": 20, **options})
    ctx = Context(config, opts, pin_factory=pin_factory, clock=clock,
                  prompt=prompt or (lambda _m: None), daemon_probe=lambda _c: daemon)
    results = run_selftest(ctx)
    for r in results:  # every line, whatever the test: a remedy a technician can act on
        assert is_sentence(r.remedy), r
        assert r.name and r.detail, r
    return results


def is_sentence(text: str) -> bool:
    return bool(text) and text[0].isupper() and text.endswith(".")


def by_name(results: list[CheckResult]) -> dict[str, CheckResult]:
    return {r.name: r for r in results}


def statuses(results: list[CheckResult]) -> dict[str, Status]:
    return {r.name: r.status for r in results}


def stream_cli(args: list[str], on_stderr: Callable[[str, list[str]], None] | None = None,
               timeout: float = 60) -> tuple[int, list[str], list[str]]:
    """Run ``scangate ARGS``; returns (exit code, stdout lines, stderr lines).
    ``on_stderr(line, stdout_so_far)`` sees each stderr line as it arrives (e.g. to answer
    a prompt), with the stdout lines read until then."""
    proc = subprocess.Popen([SCANGATE, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    out: list[str] = []
    err: list[str] = []

    def read_err() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            err.append(line.rstrip("\n"))
            if on_stderr is not None:
                on_stderr(line.rstrip("\n"), out)

    t = threading.Thread(target=read_err, daemon=True)
    t.start()
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            out.append(line.rstrip("\n"))
        code = proc.wait(timeout=timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)
    t.join(timeout=5)
    return code, out, err


def wait_until(cond: Callable[[], bool], timeout: float = 10.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(0.02)
    return cond()


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
