"""Mint our own codes (the "scangate" profile), as the phone app's backend would.

Subject references are salted hashes (:func:`subject_ref_for`); never a name or an ID
number. Codes are short-lived: ``valid_s`` defaults to five minutes.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import time
from typing import Any

from device.verify import keys
from device.verify.claims import (
    CLAIM_CTI,
    CLAIM_EXP,
    CLAIM_IAT,
    CLAIM_ISS,
    CLAIM_SCANGATE,
    FORMAT_VERSION,
    SG_STATUS,
    SG_SUBJECT,
    SG_VERSION,
    STATUSES,
)
from device.verify.codecs import cbor, cose
from device.verify.codeformat import PROFILE_SCANGATE, wrap
from sim.errors import SimError

DEFAULT_ISS = "scangate-demo"


def subject_ref_for(identity: str, salt: bytes) -> bytes:
    """A pseudonymous subject reference: HMAC-SHA-256(salt, identity), first 16 bytes."""
    return hmac.new(salt, identity.encode("utf-8"), hashlib.sha256).digest()[:16]


def _as_bytes(value: bytes | str | None, name: str) -> bytes:
    if value is None:
        return os.urandom(16)
    if isinstance(value, str):
        try:
            value = bytes.fromhex(value)
        except ValueError:
            raise SimError(f"{name} must be hex (a salted hash), got {value[:8]!r}...") from None
    if not 8 <= len(value) <= 32:
        raise SimError(f"{name} must be 8..32 bytes")
    return bytes(value)


class Issuer:
    """Signs codes with one private key (ES256 for P-256 keys)."""

    def __init__(self, private_key: Any, kid: bytes | None = None, iss: str = DEFAULT_ISS) -> None:
        self.private_key = private_key
        self.kid = kid if kid is not None else keys.kid_for_public_key(private_key.public_key())
        self.iss = iss

    def claims(self, status: str = "green", valid_s: float = 300, now: float | None = None,
               subject_ref: bytes | str | None = None,
               code_id: bytes | str | None = None) -> dict[int, Any]:
        """The CWT claims map a code would carry (tests tweak it to break stages)."""
        if status not in STATUSES:
            raise SimError(f"status {status!r}: use one of {', '.join(STATUSES)}")
        if valid_s <= 0:
            raise SimError("valid_s must be positive")
        t = int(time.time() if now is None else now)
        return {
            CLAIM_ISS: self.iss,
            CLAIM_IAT: t,
            CLAIM_EXP: t + int(valid_s),
            CLAIM_CTI: _as_bytes(code_id, "code_id"),
            CLAIM_SCANGATE: {SG_VERSION: FORMAT_VERSION, SG_STATUS: status,
                             SG_SUBJECT: _as_bytes(subject_ref, "subject_ref")},
        }

    def sign_claims(self, claims: dict[Any, Any], *, kid_in_protected: bool = True) -> bytes:
        """COSE_Sign1 bytes over the CBOR of ``claims``."""
        return cose.sign1(cbor.encode(claims), self.private_key, self.kid,
                          kid_in_protected=kid_in_protected)

    def mint(self, status: str = "green", valid_s: float = 300, now: float | None = None,
             subject_ref: bytes | str | None = None, code_id: bytes | str | None = None) -> str:
        """A complete payload string ``SG1:...`` ready for a QR code."""
        claims = self.claims(status, valid_s, now, subject_ref, code_id)
        return wrap(PROFILE_SCANGATE, self.sign_claims(claims))
