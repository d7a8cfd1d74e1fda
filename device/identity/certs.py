"""Keys, fingerprints, certificates and the CSR of a terminal's identity.

    key = generate_key()                                  # P-256, made on the terminal
    csr = build_csr(key, terminal_id="t-17", gate_id="xa-l2-g07")
    key_fingerprint(key.public_key())                     # hex SHA-256 of the SPKI DER
    ca_fingerprint(ca_cert)                               # hex SHA-256 of the CA's DER
    read_certificate_info(path).days_left(now)

The certificate's subject is ``CN=<terminal id>``; subjectAltName URIs
``urn:scangate:terminal:<id>`` and ``urn:scangate:gate:<gate>`` (docs/central-api.md).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from device.errors import IdentityError, KeyLoadError

SAN_TERMINAL = "urn:scangate:terminal:"
SAN_GATE = "urn:scangate:gate:"
_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
_HEX64 = re.compile(r"[0-9a-f]{64}")


def check_id(value: str, what: str) -> str:
    """A terminal or gate id: 1-64 of letters, digits, '-', '_', '.'; ValueError otherwise."""
    if not isinstance(value, str) or not _ID.fullmatch(value):
        shown = value[:70] if isinstance(value, str) else value
        raise ValueError(f"{what} {shown!r}: 1-64 letters, digits, '-', '_' or '.'")
    return value


def normalise_fingerprint(text: str) -> str:
    """'AB:CD:..' / 'abcd..' / 'sha256:abcd..' -> 64 lowercase hex digits; ValueError else."""
    t = text.strip().lower().removeprefix("sha256:").replace(":", "").replace(" ", "")
    if not _HEX64.fullmatch(t):
        raise ValueError(f"fingerprint {text[:80]!r}: expected 64 hex digits (SHA-256)")
    return t


def short_fingerprint(fp: str) -> str:
    """The first 16 hex digits in groups of four, as the staff screen shows it."""
    return " ".join(fp[i:i + 4] for i in range(0, 16, 4))


def generate_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def private_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def spki(public_key: ec.EllipticCurvePublicKey) -> bytes:
    return public_key.public_bytes(serialization.Encoding.DER,
                                   serialization.PublicFormat.SubjectPublicKeyInfo)


def key_fingerprint(public_key: ec.EllipticCurvePublicKey) -> str:
    return hashlib.sha256(spki(public_key)).hexdigest()


def ca_fingerprint(cert: x509.Certificate) -> str:
    return hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest()


def load_private_key(path: Path) -> ec.EllipticCurvePrivateKey:
    """The terminal key; refused (with the fix) when other users can read it."""
    try:
        mode = path.stat().st_mode & 0o777
        data = path.read_bytes()
    except FileNotFoundError:
        raise IdentityError(f"terminal key {path} not found; enrol the terminal "
                            "(scangate provision enroll)") from None
    except OSError as exc:
        raise IdentityError(f"terminal key {path} cannot be read: {exc}; run scangate as the "
                            "service user") from exc
    if mode & 0o077:
        raise IdentityError(f"terminal key {path} is readable by other users (mode {mode:o}); "
                            f"run: chmod 600 {path}")
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        raise IdentityError(f"terminal key {path} is not a PEM private key; re-enrol the "
                            "terminal") from exc
    if not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(key.curve,
                                                                          ec.SECP256R1):
        raise IdentityError(f"terminal key {path} is not a P-256 key; re-enrol the terminal")
    return key


def build_csr(key: ec.EllipticCurvePrivateKey, *, terminal_id: str,
              gate_id: str) -> x509.CertificateSigningRequest:
    check_id(terminal_id, "terminal id")
    check_id(gate_id, "gate id")
    return (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, terminal_id)]))
        .add_extension(x509.SubjectAlternativeName([
            x509.UniformResourceIdentifier(SAN_TERMINAL + terminal_id),
            x509.UniformResourceIdentifier(SAN_GATE + gate_id),
        ]), critical=False)
        .sign(key, hashes.SHA256())
    )


def names_of(obj: x509.Certificate | x509.CertificateSigningRequest) -> tuple[str | None,
                                                                             str | None]:
    """(terminal id, gate id) from the subject CN and the subjectAltName URIs."""
    cns = obj.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    cn = cns[0].value if cns else None
    gate = None
    san_tid = None
    try:
        san = obj.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        san = None
    if san is not None:
        for uri in san.get_values_for_type(x509.UniformResourceIdentifier):
            if uri.startswith(SAN_GATE):
                gate = uri[len(SAN_GATE):]
            elif uri.startswith(SAN_TERMINAL):
                san_tid = uri[len(SAN_TERMINAL):]
    tid = cn if isinstance(cn, str) else None
    if san_tid is not None and tid is not None and san_tid != tid:
        tid = None  # contradictory names: no identity
    return tid, gate


def issued_by(cert: x509.Certificate, ca: x509.Certificate) -> bool:
    try:
        cert.verify_directly_issued_by(ca)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def parse_pem_chain(data: bytes, where: str) -> list[x509.Certificate]:
    try:
        certs = x509.load_pem_x509_certificates(data)
    except ValueError as exc:
        raise KeyLoadError(f"{where} is not a PEM certificate file: {exc}") from exc
    if not certs:
        raise KeyLoadError(f"{where} holds no certificate")
    return certs


def pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


@dataclass(frozen=True)
class CertInfo:
    """What a terminal (or its self-test) needs to know about a certificate."""

    serial: str  # hex
    terminal_id: str | None
    gate_id: str | None
    issuer: str
    not_before: float  # Unix s
    not_after: float
    key_fingerprint: str

    @property
    def lifetime_s(self) -> float:
        return max(0.0, self.not_after - self.not_before)

    def days_left(self, now: float) -> float:
        return (self.not_after - now) / 86400.0

    def expired(self, now: float) -> bool:
        return now >= self.not_after

    def to_json(self) -> dict[str, object]:
        return {"serial": self.serial, "terminal_id": self.terminal_id,
                "gate_id": self.gate_id, "issuer": self.issuer,
                "not_before": self.not_before, "not_after": self.not_after,
                "key_fingerprint": self.key_fingerprint}


def cert_info(cert: x509.Certificate) -> CertInfo:
    tid, gate = names_of(cert)
    pub = cert.public_key()
    fp = key_fingerprint(pub) if isinstance(pub, ec.EllipticCurvePublicKey) else ""
    return CertInfo(
        serial=format(cert.serial_number, "x"), terminal_id=tid, gate_id=gate,
        issuer=cert.issuer.rfc4514_string(),
        not_before=cert.not_valid_before_utc.timestamp(),
        not_after=cert.not_valid_after_utc.timestamp(), key_fingerprint=fp)


def read_certificate_info(path: Path | str) -> CertInfo:
    """The first certificate of a PEM file (the terminal's own, in ``terminal.pem``)."""
    p = Path(path)
    try:
        data = p.read_bytes()
    except OSError as exc:
        raise KeyLoadError(f"certificate {p} cannot be read: {exc}") from exc
    return cert_info(parse_pem_chain(data, str(p))[0])
