"""Key ids, and loading certificates and keys from PEM or DER files.

The key id (kid) of a signer is the first 8 bytes of the SHA-256 of its X.509
certificate (DER), or of its SubjectPublicKeyInfo (DER) for a bare public key.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from device.errors import KeyLoadError

PublicKey = ec.EllipticCurvePublicKey | rsa.RSAPublicKey
PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey
KID_LEN = 8


def spki_der(public_key: Any) -> bytes:
    return bytes(public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo))


def kid_for_public_key(public_key: Any) -> bytes:
    """kid of a bare key: SHA-256(SubjectPublicKeyInfo DER)[:8]."""
    return hashlib.sha256(spki_der(public_key)).digest()[:KID_LEN]


def kid_for_certificate(cert: x509.Certificate) -> bytes:
    """kid of a certificate: SHA-256(certificate DER)[:8] (as the EU DCC does)."""
    return hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).digest()[:KID_LEN]


def _check_public(key: Any, where: str) -> PublicKey:
    if isinstance(key, ec.EllipticCurvePublicKey | rsa.RSAPublicKey):
        return key
    raise KeyLoadError(f"{where}: {type(key).__name__} keys are not supported "
                       "(use an EC P-256/P-384/P-521 or RSA key)")


def _read(path: Path | str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise KeyLoadError(f"cannot read {path}: {exc.strerror or exc}") from exc


def parse_certificate(data: bytes, where: str = "certificate") -> x509.Certificate:
    """A certificate from PEM or DER bytes."""
    try:
        if b"-----BEGIN" in data:
            return x509.load_pem_x509_certificate(data)
        return x509.load_der_x509_certificate(data)
    except ValueError as exc:
        raise KeyLoadError(f"{where} is not an X.509 certificate in PEM or DER ({exc})") from exc


def load_certificate(path: Path | str) -> x509.Certificate:
    return parse_certificate(_read(path), str(path))


def parse_public_key(data: bytes, where: str = "public key") -> tuple[PublicKey,
                                                                       x509.Certificate | None]:
    """A public key (and its certificate, if it was one) from PEM or DER bytes."""
    if b"CERTIFICATE-----" in data:
        cert = parse_certificate(data, where)
        return _check_public(cert.public_key(), where), cert
    try:
        if b"-----BEGIN" in data:
            key: Any = serialization.load_pem_public_key(data)
        else:
            key = serialization.load_der_public_key(data)
        return _check_public(key, where), None
    except ValueError:
        pass
    try:
        cert = x509.load_der_x509_certificate(data)
    except ValueError:
        raise KeyLoadError(f"{where} is neither a public key nor an X.509 certificate "
                           "(PEM or DER expected)") from None
    return _check_public(cert.public_key(), where), cert


def load_public_key(path: Path | str) -> tuple[PublicKey, x509.Certificate | None]:
    """Load a public key or certificate file; returns (key, certificate or None)."""
    return parse_public_key(_read(path), str(path))


def load_private_key(path: Path | str) -> PrivateKey:
    data = _read(path)
    try:
        if b"-----BEGIN" in data:
            key: Any = serialization.load_pem_private_key(data, password=None)
        else:
            key = serialization.load_der_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        raise KeyLoadError(f"{path} is not an unencrypted private key in PEM or DER "
                           f"({exc})") from exc
    if not isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
        raise KeyLoadError(f"{path}: {type(key).__name__} keys are not supported")
    return key


def private_key_pem(key: Any) -> bytes:
    return bytes(key.private_bytes(serialization.Encoding.PEM,
                                   serialization.PrivateFormat.PKCS8,
                                   serialization.NoEncryption()))


def public_key_pem(key: Any) -> bytes:
    return bytes(key.public_bytes(serialization.Encoding.PEM,
                                  serialization.PublicFormat.SubjectPublicKeyInfo))
