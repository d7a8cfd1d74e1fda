"""COSE_Sign1 (RFC 9052): parse, build the Sig_structure, sign and verify.

Algorithms: ES256 (-7, raw r||s signatures converted to DER for ``cryptography``),
ES384 (-35), ES512 (-36) and PS256 (-37, RSASSA-PSS with SHA-256). The protected
header wins over the unprotected one for ``alg`` (1) and ``kid`` (4).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed, decode_dss_signature

from device.verify.codecs import cbor

ALG_ES256 = -7
ALG_ES384 = -35
ALG_ES512 = -36
ALG_PS256 = -37
HDR_ALG = 1
HDR_KID = 4
TAG_SIGN1 = 18
TAG_CWT = 61

ALG_NAMES = {ALG_ES256: "ES256", ALG_ES384: "ES384", ALG_ES512: "ES512", ALG_PS256: "PS256"}
_EC_ALGS: dict[int, tuple[type[ec.EllipticCurve], hashes.HashAlgorithm, int]] = {
    ALG_ES256: (ec.SECP256R1, hashes.SHA256(), 32),
    ALG_ES384: (ec.SECP384R1, hashes.SHA384(), 48),
    ALG_ES512: (ec.SECP521R1, hashes.SHA512(), 66),
}
#: alg -> (curve class, signature algorithm object, size of r and s): built once.
_EC_VERIFY: dict[int, tuple[type[ec.EllipticCurve], ec.ECDSA, int]] = {
    alg: (curve, ec.ECDSA(hash_alg), size) for alg, (curve, hash_alg, size) in _EC_ALGS.items()
}
_HASHLIB = {"sha256": hashlib.sha256, "sha384": hashlib.sha384, "sha512": hashlib.sha512}
_PSS = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.AUTO)
_SHA256 = hashes.SHA256()
_PSS_SIGN = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32)

PublicKey = ec.EllipticCurvePublicKey | rsa.RSAPublicKey
PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey


class COSEError(ValueError):
    """The data is not a COSE_Sign1 structure this verifier understands."""


@dataclass(frozen=True, slots=True)
class Sign1:
    protected_bytes: bytes
    protected: dict[Any, Any]
    unprotected: dict[Any, Any]
    payload: bytes
    signature: bytes
    alg: int
    kid: bytes | None

    def to_be_signed(self, external_aad: bytes = b"") -> bytes:
        return sig_structure(self.protected_bytes, self.payload, external_aad)


# Sign1(...) without the frozen dataclass __init__ (see device.verify.claims._new_claims).
_SIGN1_FIELDS = ("protected_bytes", "protected", "unprotected", "payload", "signature", "alg",
                 "kid")
if tuple(f.name for f in fields(Sign1)) != _SIGN1_FIELDS:  # pragma: no cover
    raise RuntimeError("cose: update _SIGN1_FIELDS and _new_sign1 to match Sign1")
_new = object.__new__
(_set_protected_bytes, _set_protected, _set_unprotected, _set_payload, _set_signature, _set_alg,
 _set_kid) = (Sign1.__dict__[n].__set__ for n in _SIGN1_FIELDS)


def _new_sign1(protected_bytes: bytes, protected: dict[Any, Any], unprotected: dict[Any, Any],
               payload: bytes, signature: bytes, alg: int, kid: bytes | None) -> Sign1:
    m = _new(Sign1)
    _set_protected_bytes(m, protected_bytes)
    _set_protected(m, protected)
    _set_unprotected(m, unprotected)
    _set_payload(m, payload)
    _set_signature(m, signature)
    _set_alg(m, alg)
    _set_kid(m, kid)
    return m


def parse_sign1(obj: Any, *, header_limits: tuple[int, int] = (4, 64)) -> Sign1:
    """Interpret a decoded CBOR item as COSE_Sign1 (tag 18, optionally inside CWT tag 61)."""
    if isinstance(obj, cbor.Tag) and obj.tag == TAG_CWT:
        obj = obj.value
    if isinstance(obj, cbor.Tag):
        if obj.tag != TAG_SIGN1:
            raise COSEError(f"CBOR tag {obj.tag} is not COSE_Sign1 (18)")
        obj = obj.value
    if not isinstance(obj, list) or len(obj) != 4:
        raise COSEError("COSE_Sign1 must be an array of 4 items")
    prot_b, unprot, payload, signature = obj
    if not isinstance(prot_b, bytes):
        raise COSEError("protected header must be a byte string")
    if not isinstance(unprot, dict):
        raise COSEError("unprotected header must be a map")
    if not isinstance(payload, bytes):
        raise COSEError("payload must be an attached byte string")
    if not isinstance(signature, bytes):
        raise COSEError("signature must be a byte string")
    if prot_b:
        depth, items = header_limits
        try:
            prot = cbor.decode(prot_b, max_depth=depth, max_items=items)
        except cbor.CBORError as exc:
            raise COSEError(f"protected header: {exc}") from None
        if not isinstance(prot, dict):
            raise COSEError("protected header must encode a map")
    else:
        prot = {}
    alg = prot[HDR_ALG] if HDR_ALG in prot else unprot.get(HDR_ALG)
    if not isinstance(alg, int) or isinstance(alg, bool):
        raise COSEError("missing or non-integer 'alg' header")
    kid = prot[HDR_KID] if HDR_KID in prot else unprot.get(HDR_KID)
    if kid is not None and not isinstance(kid, bytes):
        raise COSEError("'kid' header must be a byte string")
    return _new_sign1(prot_b, prot, unprot, payload, signature, alg, kid)


def _bstr_at(data: bytes, pos: int) -> tuple[bytes, int] | None:
    """The definite byte string at ``pos`` with a 0..65535 length, and where it ends;
    None if there is none there or it does not fit in ``data``."""
    ib = data[pos]
    if 0x40 <= ib <= 0x57:
        s, n = pos + 1, ib - 0x40
    elif ib == 0x58:
        s, n = pos + 2, data[pos + 1]
    elif ib == 0x59:
        s, n = pos + 3, data[pos + 1] << 8 | data[pos + 2]
    else:
        return None
    e = s + n
    return (data[s:e], e) if e <= len(data) else None


#: Protected headers as issuers write them: {1: alg, 4: kid(8 bytes)}, in either order.
_PROT_ALG_KID = b"\xa2\x01"
_PROT_KID_ALG = b"\xa2\x04\x48"


def _common_protected(prot_b: bytes) -> dict[Any, Any] | None:
    """{1: alg, 4: kid} for the two usual 13-byte encodings with a one-byte negative alg;
    None for anything else (then the generic decoder reads it)."""
    if len(prot_b) != 13:
        return None
    if prot_b[:2] == _PROT_ALG_KID and prot_b[3:5] == b"\x04\x48" and 0x20 <= prot_b[2] <= 0x37:
        return {HDR_ALG: 0x1F - prot_b[2], HDR_KID: prot_b[5:]}
    if prot_b[:3] == _PROT_KID_ALG and prot_b[11] == 0x01 and 0x20 <= prot_b[12] <= 0x37:
        return {HDR_KID: prot_b[3:11], HDR_ALG: 0x1F - prot_b[12]}
    return None


def parse_sign1_common(data: bytes) -> Sign1 | None:
    """The COSE_Sign1 of ``data`` when it has the layout issuers write — tag 18, an array
    of 4, the protected header as a byte string holding {1: alg, 4: kid}, an empty
    unprotected map, the payload and the signature as byte strings of at most 65,535
    bytes, nothing after — read without the generic decoder. None for anything else:
    the caller then decodes ``data`` generically (same result for these inputs, whose
    depth and item count are far within every limit)."""
    try:
        return _common(data)
    except IndexError:  # cut short: the generic decoder says where
        return None


def _common(data: bytes) -> Sign1 | None:
    if len(data) < 6 or data[0] != 0xD2 or data[1] != 0x84:
        return None
    got = _bstr_at(data, 2)
    if got is None:
        return None
    prot_b, pos = got
    prot = _common_protected(prot_b)
    if prot is None or pos >= len(data) or data[pos] != 0xA0:
        return None
    got = _bstr_at(data, pos + 1)
    if got is None or got[1] >= len(data):
        return None
    payload, pos = got
    got = _bstr_at(data, pos)
    if got is None or got[1] != len(data):
        return None
    return _new_sign1(prot_b, prot, {}, payload, got[0], prot[HDR_ALG], prot[HDR_KID])


def _bstr_head(n: int) -> bytes:
    if n < 24:
        return _SMALL_BSTR_HEADS[n]
    if n < 0x100:
        return b"\x58%c" % n
    return cbor._head(2, n)


_SMALL_BSTR_HEADS = tuple(bytes((0x40 + n,)) for n in range(24))
_SIG1_PREFIX = b"\x84" + cbor.encode("Signature1")


def sig_structure(protected_bytes: bytes, payload: bytes, external_aad: bytes = b"") -> bytes:
    """The bytes that are signed: CBOR ["Signature1", protected, external_aad, payload]."""
    return b"".join((
        _SIG1_PREFIX,
        _bstr_head(len(protected_bytes)), protected_bytes,
        _bstr_head(len(external_aad)), external_aad,
        _bstr_head(len(payload)), payload,
    ))


def raw_to_der(signature: bytes, size: int) -> bytes:
    """COSE's fixed-size r||s (``size`` bytes each) as the DER ECDSA-Sig-Value.

    Same bytes as ``encode_dss_signature(r, s)``, without the round trip through ints.
    """
    r = signature[:size].lstrip(b"\x00") or b"\x00"
    s = signature[size:].lstrip(b"\x00") or b"\x00"
    if r[0] > 0x7F:
        r = b"\x00" + r
    if s[0] > 0x7F:
        s = b"\x00" + s
    body = b"\x02%c%b\x02%c%b" % (len(r), r, len(s), s)
    n = len(body)  # at most 2 * (2 + 67) for P-521: one length byte is enough
    return (b"\x30%c" % n if n < 0x80 else b"\x30\x81%c" % n) + body


def verify(alg: int, public_key: Any, to_be_signed: bytes, signature: bytes) -> bool:
    """True if ``signature`` is valid for ``alg``; False for any mismatch (never raises)."""
    spec = _EC_VERIFY.get(alg)
    try:
        if spec is not None:
            curve, algorithm, size = spec
            if not isinstance(public_key, ec.EllipticCurvePublicKey):
                return False
            if not isinstance(public_key.curve, curve) or len(signature) != 2 * size:
                return False
            public_key.verify(raw_to_der(signature, size), to_be_signed, algorithm)
            return True
        if alg == ALG_PS256:
            if not isinstance(public_key, rsa.RSAPublicKey):
                return False
            public_key.verify(signature, to_be_signed, _PSS, hashes.SHA256())
            return True
    except (InvalidSignature, ValueError, TypeError):
        return False
    return False


#: A prepared check: (alg, to_be_signed, signature) -> bool, for one public key.
KeyCheck = Callable[[int, bytes, bytes], bool]


def checker_for(public_key: Any) -> KeyCheck:
    """``verify`` bound to one key, with the key's type and curve looked at once.

    ``checker_for(key)(alg, tbs, sig) == verify(alg, key, tbs, sig)`` for every input; the
    verifier prepares one per trusted key so a scan does no type checks on the key.
    """
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        key_alg = next((a for a, (curve, _, _) in _EC_VERIFY.items()
                        if isinstance(public_key.curve, curve)), None)
        if key_alg is None:
            return _never
        _, hash_alg, size = _EC_ALGS[key_alg]
        # The digest is taken here (hashlib) and handed over as Prehashed: the same ECDSA
        # verification, without a digest context per call inside the library.
        digest = _HASHLIB[hash_alg.name]
        prehashed = ec.ECDSA(Prehashed(hash_alg))
        verify_der = public_key.verify

        def check_ec(alg: int, to_be_signed: bytes, signature: bytes) -> bool:
            if alg != key_alg or len(signature) != 2 * size:
                return False
            try:
                verify_der(raw_to_der(signature, size), digest(to_be_signed).digest(), prehashed)
            except (InvalidSignature, ValueError, TypeError):
                return False
            return True

        return check_ec
    if isinstance(public_key, rsa.RSAPublicKey):
        verify_rsa = public_key.verify

        def check_rsa(alg: int, to_be_signed: bytes, signature: bytes) -> bool:
            if alg != ALG_PS256:
                return False
            try:
                verify_rsa(signature, to_be_signed, _PSS, _SHA256)
            except (InvalidSignature, ValueError, TypeError):
                return False
            return True

        return check_rsa
    return _never


def _never(alg: int, to_be_signed: bytes, signature: bytes) -> bool:
    return False


def alg_for_key(private_key: Any) -> int:
    if isinstance(private_key, ec.EllipticCurvePrivateKey):
        for alg, (curve, _, _) in _EC_ALGS.items():
            if isinstance(private_key.curve, curve):
                return alg
    if isinstance(private_key, rsa.RSAPrivateKey):
        return ALG_PS256
    raise COSEError(f"no COSE algorithm for key type {type(private_key).__name__}")


def sign(alg: int, private_key: Any, to_be_signed: bytes) -> bytes:
    """Sign per COSE: ECDSA signatures are returned as fixed-size raw r||s."""
    spec = _EC_ALGS.get(alg)
    if spec is not None:
        _, hash_alg, size = spec
        r, s = decode_dss_signature(private_key.sign(to_be_signed, ec.ECDSA(hash_alg)))
        return r.to_bytes(size, "big") + s.to_bytes(size, "big")
    if alg == ALG_PS256:
        return bytes(private_key.sign(to_be_signed, _PSS_SIGN, hashes.SHA256()))
    raise COSEError(f"unsupported COSE algorithm {alg}")


def sign1(payload: bytes, private_key: Any, kid: bytes | None, *, alg: int | None = None,
          unprotected: dict[Any, Any] | None = None, kid_in_protected: bool = True) -> bytes:
    """Build and sign a tagged COSE_Sign1; returns its CBOR encoding."""
    alg = alg_for_key(private_key) if alg is None else alg
    prot: dict[Any, Any] = {HDR_ALG: alg}
    unprot: dict[Any, Any] = dict(unprotected or {})
    if kid is not None:
        if kid_in_protected:
            prot[HDR_KID] = kid
        else:
            unprot[HDR_KID] = kid
    prot_b = cbor.encode(prot)
    signature = sign(alg, private_key, sig_structure(prot_b, payload))
    return cbor.encode(cbor.Tag(TAG_SIGN1, [prot_b, unprot, payload, signature]))
