"""The stand-in centre's certificate authority: a real CA, made at start or loaded from a
directory, that signs terminals' CSRs, vouchers and retire receipts.

    ca = CentralCA.open_or_create(Path("run/central-ca"))   # ca.pem/ca.key/server.pem/server.key
    cert = ca.issue(csr, terminal_id="t-17", gate_id="xa-l2-g07", lifetime_s=30 * 86400)
    ca.fingerprint                                          # what the terminal pins

The directory layout is ``sim.tlscerts.make_test_pki``'s (``scangate sim central --tls``):
the server certificate (for 127.0.0.1 and localhost) is signed by the same CA. Never for
production: the CA key is an unencrypted file.
"""

from __future__ import annotations

import datetime as dt
import ssl
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from device.identity.certs import SAN_GATE, SAN_TERMINAL, ca_fingerprint
from sim.errors import SimError
from sim.tlscerts import make_test_pki

CA_VALID_DAYS = 3650


@dataclass
class CentralCA:
    dir: Path
    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey

    @property
    def ca_path(self) -> Path:
        return self.dir / "ca.pem"

    @property
    def server_cert(self) -> Path:
        return self.dir / "server.pem"

    @property
    def server_key(self) -> Path:
        return self.dir / "server.key"

    @property
    def fingerprint(self) -> str:
        return ca_fingerprint(self.cert)

    @property
    def pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    @classmethod
    def open_or_create(cls, directory: Path | str,
                       hosts: tuple[str, ...] = ("127.0.0.1", "localhost")) -> CentralCA:
        d = Path(directory)
        if not (d / "ca.pem").exists() or not (d / "ca.key").exists():
            make_test_pki(d, name="scangate stand-in", hosts=hosts, valid_days=CA_VALID_DAYS)
        try:
            cert = x509.load_pem_x509_certificate((d / "ca.pem").read_bytes())
            key = serialization.load_pem_private_key((d / "ca.key").read_bytes(), None)
        except (OSError, ValueError) as exc:
            raise SimError(f"cannot load the stand-in CA from {d}: {exc}; remove the "
                           "directory to make a new CA") from exc
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise SimError(f"{d / 'ca.key'}: the stand-in CA key must be an EC key")
        if not (d / "server.pem").exists():
            raise SimError(f"{d / 'server.pem'} missing: remove {d} to make a new CA")
        return cls(d, cert, key)

    # -- issuing -------------------------------------------------------------------------
    def issue(self, csr: x509.CertificateSigningRequest, *, terminal_id: str, gate_id: str,
              lifetime_s: float, now: dt.datetime | None = None) -> x509.Certificate:
        """A client certificate for the CSR's key. The names come from the centre's own
        checks (the token, the current certificate), not from the CSR alone."""
        t = now or dt.datetime.now(dt.UTC)
        pub = csr.public_key()
        if not isinstance(pub, ec.EllipticCurvePublicKey):
            raise SimError("CSR key is not an EC key")
        return (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, terminal_id)]))
            .issuer_name(self.cert.subject)
            .public_key(pub)
            .serial_number(x509.random_serial_number())
            .not_valid_before(t - dt.timedelta(minutes=5))
            .not_valid_after(t + dt.timedelta(seconds=lifetime_s))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(
                digital_signature=True, content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=False,
                crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]),
                           critical=False)
            .add_extension(x509.SubjectAlternativeName([
                x509.UniformResourceIdentifier(SAN_TERMINAL + terminal_id),
                x509.UniformResourceIdentifier(SAN_GATE + gate_id)]), critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(pub), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                self.key.public_key()), critical=False)
            .sign(self.key, hashes.SHA256())
        )

    # -- signing (vouchers, receipts) -------------------------------------------------------
    def sign_der(self, data: bytes) -> bytes:
        return self.key.sign(data, ec.ECDSA(hashes.SHA256()))

    def sign_raw(self, data: bytes) -> bytes:
        """ES256 as JOSE/COSE carry it: r || s, 32 bytes each."""
        r, s = decode_dss_signature(self.sign_der(data))
        return r.to_bytes(32, "big") + s.to_bytes(32, "big")

    # -- TLS -----------------------------------------------------------------------------
    def server_context(self) -> ssl.SSLContext:
        """Server TLS with client certificates requested and, when sent, verified against
        this CA (a certificate from any other CA fails the handshake). Endpoints that need
        an identity refuse a connection without one (sim/central/identity.py)."""
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.load_cert_chain(str(self.server_cert), str(self.server_key))
        ctx.load_verify_locations(cafile=str(self.ca_path))
        ctx.verify_mode = ssl.CERT_OPTIONAL
        return ctx


def raw_to_der(sig: bytes) -> bytes:
    if len(sig) != 64:
        raise ValueError("an ES256 raw signature is 64 bytes")
    return encode_dss_signature(int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big"))
