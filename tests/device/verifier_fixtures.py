"""Shared helpers for the verifier tests: DCC samples, keys, certificates, re-signing."""

from __future__ import annotations

import base64
import datetime as dt
import json
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from device.verify import keys
from device.verify.codecs import base45, cbor, cose
from device.verify.codeformat import PROFILE_DCC, wrap
from device.verify.trustlist import SignerKey

DCC_DIR = Path(__file__).resolve().parents[1] / "data" / "dcc"
EKU_TEST = "1.3.6.1.4.1.1847.2021.1.1"
EKU_VACC = "1.3.6.1.4.1.1847.2021.1.2"
EKU_RECOV = "1.3.6.1.4.1.1847.2021.1.3"
EKU_VACC_ALT = "1.3.6.1.4.1.0.1847.2021.1.2"


@dataclass(frozen=True)
class DccSample:
    name: str
    prefix: str
    cert: x509.Certificate
    at: float
    expected: dict[str, bool]
    description: str

    @property
    def signer(self) -> SignerKey:
        return SignerKey.from_certificate(self.cert, profiles={"eu-dcc"})

    def cose_bytes(self) -> bytes:
        return zlib.decompress(base45.decode(self.prefix[4:]))


def dcc_samples() -> list[DccSample]:
    out = []
    for f in sorted(DCC_DIR.glob("*/*.json")):
        d = json.loads(f.read_text(encoding="utf-8"))
        ctx = d["TESTCTX"]
        cert = x509.load_der_x509_certificate(base64.b64decode(ctx["CERTIFICATE"]))
        at = dt.datetime.fromisoformat(ctx["VALIDATIONCLOCK"]).timestamp()
        out.append(DccSample(f"{f.parent.name}-{f.stem}", d["PREFIX"], cert, at,
                             d.get("EXPECTEDRESULTS", {}), ctx.get("DESCRIPTION", "")))
    return out


def ec_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def make_cert(private_key: Any, *, eku: Iterable[str] = (), cn: str = "Test DSC",
              not_before: dt.datetime | None = None,
              not_after: dt.datetime | None = None) -> x509.Certificate:
    """A self-signed signer certificate, optionally with extended key usage OIDs."""
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    nb = not_before or dt.datetime(2020, 1, 1, tzinfo=dt.UTC)
    na = not_after or dt.datetime(2040, 1, 1, tzinfo=dt.UTC)
    b = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
         .public_key(private_key.public_key()).serial_number(x509.random_serial_number())
         .not_valid_before(nb).not_valid_after(na))
    oids = [x509.ObjectIdentifier(o) for o in eku]
    if oids:
        b = b.add_extension(x509.ExtendedKeyUsage(oids), critical=False)
    return b.sign(private_key, hashes.SHA256())


def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def resign(cose_bytes: bytes, private_key: Any, kid: bytes | None, *,
           mutate: Callable[[dict[Any, Any]], None] | None = None,
           kid_in_protected: bool = True, alg: int | None = None) -> bytes:
    """Take a COSE_Sign1, optionally change its claims, and sign it with our key."""
    msg = cose.parse_sign1(cbor.decode(cose_bytes))
    payload = msg.payload
    if mutate is not None:
        claims = cbor.decode(payload, max_items=100000)
        mutate(claims)
        payload = cbor.encode(claims)
    return cose.sign1(payload, private_key, kid, alg=alg, kid_in_protected=kid_in_protected)


def dcc_payload(cose_bytes: bytes) -> str:
    return wrap(PROFILE_DCC, cose_bytes)


def cert_signer(cert: x509.Certificate, profiles: Iterable[str] = ("eu-dcc",)) -> SignerKey:
    return SignerKey.from_certificate(cert, profiles=profiles)


def kid_of(cert: x509.Certificate) -> bytes:
    return keys.kid_for_certificate(cert)
