"""Key ids, and loading certificates and keys from PEM or DER files.

The key id (kid) of a signer is the first 8 bytes of the SHA-256 of its X.509
certificate (DER), or of its SubjectPublicKeyInfo (DER) for a bare public key.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from device.errors import KeyLoadError

if TYPE_CHECKING:  # imported where used: cryptography.x509 costs ~50 ms at startup
    from cryptography import x509

PublicKey = ec.EllipticCurvePublicKey | rsa.RSAPublicKey
PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey
KID_LEN = 8
#: EC curves a COSE algorithm this verifier knows can use (ES256, ES384, ES512).
EC_CURVES = (ec.SECP256R1, ec.SECP384R1, ec.SECP521R1)


class UnsupportedKeyType(KeyLoadError):
    """Well-formed key material of a type or curve no supported algorithm can use.

    ``key_type`` names it (e.g. ``"Ed25519"``, ``"EC secp256k1"``) for messages.
    """

    def __init__(self, where: str, key_type: str) -> None:
        super().__init__(f"{where}: {key_type} keys are not supported "
                         "(use an EC P-256/P-384/P-521 or RSA key)")
        self.key_type = key_type


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
    if isinstance(key, rsa.RSAPublicKey):
        return key
    if isinstance(key, ec.EllipticCurvePublicKey):
        if isinstance(key.curve, EC_CURVES):
            return key
        raise UnsupportedKeyType(where, f"EC {key.curve.name}")
    raise UnsupportedKeyType(where, type(key).__name__.removesuffix("PublicKey") or "these")


def certificate_public_key(cert: x509.Certificate, where: str = "certificate") -> PublicKey:
    """The certificate's public key; :class:`UnsupportedKeyType` if no algorithm can use it."""
    try:
        key = cert.public_key()
    except (UnsupportedAlgorithm, ValueError) as exc:
        raise UnsupportedKeyType(where, f"unknown-algorithm ({exc})") from exc
    return _check_public(key, where)


def _read(path: Path | str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise KeyLoadError(f"cannot read {path}: {exc.strerror or exc}") from exc


def parse_certificate(data: bytes, where: str = "certificate") -> x509.Certificate:
    """A certificate from PEM or DER bytes."""
    from cryptography import x509

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
    """A public key (and its certificate, if it was one) from PEM or DER bytes.

    :class:`UnsupportedKeyType` for a well-formed key of a type or curve this verifier
    cannot use; :class:`KeyLoadError` for anything that is not a key or certificate.
    """
    if b"CERTIFICATE-----" in data:
        cert = parse_certificate(data, where)
        return certificate_public_key(cert, where), cert
    key: Any = None
    try:
        if b"-----BEGIN" in data:
            key = serialization.load_pem_public_key(data)
        else:
            key = serialization.load_der_public_key(data)
    except UnsupportedAlgorithm as exc:
        raise UnsupportedKeyType(where, f"unknown-algorithm ({exc})") from exc
    except ValueError:
        pass
    if key is not None:
        return _check_public(key, where), None
    from cryptography import x509

    try:
        cert = x509.load_der_x509_certificate(data)
    except ValueError:
        raise KeyLoadError(f"{where} is neither a public key nor an X.509 certificate "
                           "(PEM or DER expected)") from None
    return certificate_public_key(cert, where), cert


def parse_spki(data: bytes, where: str = "spki") -> PublicKey:
    """A bare public key from SubjectPublicKeyInfo DER (nothing else is accepted)."""
    try:
        key = serialization.load_der_public_key(data)
    except UnsupportedAlgorithm as exc:
        raise UnsupportedKeyType(where, f"unknown-algorithm ({exc})") from exc
    except ValueError:
        raise KeyLoadError(f"{where} is not a SubjectPublicKeyInfo (DER)") from None
    return _check_public(key, where)


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
