"""CWT claims of both profiles, checked for structure and types (no crypto here).

Our codes carry iss (1), exp (4), iat (6), cti (7) and the private claim
``CLAIM_SCANGATE`` (-70001) = {1: format version, 2: status, 3: subject ref}.
EU DCCs carry iss, exp, iat and hcert (-260) = {1: the DGC document}. The DGC is checked
against the EU DCC schema here too (:mod:`device.verify.dccschema`), but a problem with
it is not a :class:`Reject`: it is kept in :attr:`Claims.dgc_problem` and the verifier
reports it after the signature (docs/code-format.md section 6, stage 7).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, fields
from typing import Any

from device.verify.codecs import cbor
from device.verify.codeformat import PROFILE_DCC, Reject
from device.verify.dccschema import check_dgc
from device.verify.verdict import Reason

CLAIM_ISS = 1
CLAIM_EXP = 4
CLAIM_IAT = 6
CLAIM_CTI = 7
CLAIM_HCERT = -260
CLAIM_SCANGATE = -70001
SG_VERSION = 1
SG_STATUS = 2
SG_SUBJECT = 3
FORMAT_VERSION = 1
STATUSES = ("green", "yellow", "red")

#: CWT bounds (the DGC document is the deepest part: about 5 levels).
CWT_MAX_DEPTH = 12
CWT_MAX_ITEMS = 1024


@dataclass(frozen=True, slots=True)
class Claims:
    """What the verifier reads from a CWT. ``code_id`` and ``cert_type`` are None only for
    a DCC whose document is too broken to give them, and then ``dgc_problem`` says why:
    one line naming the field that breaks the EU DCC schema, never its value."""

    iss: str | None
    iat: int
    exp: int
    code_id: str | None
    status: str | None = None
    subject_ref: str | None = None
    cert_type: str | None = None
    dgc_problem: str | None = None


# Claims(...) without the frozen dataclass __init__ (one object.__setattr__ call per
# field): the slot descriptors are set directly, a third of the cost on the verify path.
# Claims has no __post_init__ or validation that this would skip.
_CLAIM_FIELDS = ("iss", "iat", "exp", "code_id", "status", "subject_ref", "cert_type",
                 "dgc_problem")
if tuple(f.name for f in fields(Claims)) != _CLAIM_FIELDS:  # pragma: no cover
    raise RuntimeError("device.verify.claims: update _CLAIM_FIELDS and _new_claims to match Claims")
_new = object.__new__
(_set_iss, _set_iat, _set_exp, _set_code_id, _set_status, _set_subject_ref,
 _set_cert_type, _set_dgc_problem) = (Claims.__dict__[n].__set__ for n in _CLAIM_FIELDS)


def _new_claims(iss: str | None, iat: int, exp: int, code_id: str | None, status: str | None,
                subject_ref: str | None, cert_type: str | None,
                dgc_problem: str | None = None) -> Claims:
    c = _new(Claims)
    _set_iss(c, iss)
    _set_iat(c, iat)
    _set_exp(c, exp)
    _set_code_id(c, code_id)
    _set_status(c, status)
    _set_subject_ref(c, subject_ref)
    _set_cert_type(c, cert_type)
    _set_dgc_problem(c, dgc_problem)
    return c


def _bad(detail: str) -> Reject:
    return Reject(Reason.BAD_STRUCTURE, detail)


def _time(claims: dict[Any, Any], key: int, name: str) -> int:
    v = claims.get(key)
    if type(v) is int and -(2**53) < v < 2**53:  # the usual case, checked first
        return v
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise _bad(f"claim {name} ({key}) missing or not a number")
    if v != v or not -(2**53) < v < 2**53:  # NaN / inf / absurd
        raise _bad(f"claim {name} ({key}) out of range")
    return int(v)


def decode_claims(profile: str, payload: bytes) -> Claims:
    """Structure-check the CWT of ``profile``; :class:`Reject` (bad_structure/too_large)."""
    try:
        claims = cbor.decode(payload, max_depth=CWT_MAX_DEPTH, max_items=CWT_MAX_ITEMS)
    except cbor.CBORLimitError as exc:
        raise Reject(Reason.TOO_LARGE, f"CWT: {exc}") from None
    except cbor.CBORError as exc:
        raise _bad(f"CWT: {exc}") from None
    if not isinstance(claims, dict):
        raise _bad("CWT payload is not a map")
    iss = claims.get(CLAIM_ISS)
    if iss is not None and not isinstance(iss, str):
        raise _bad("claim iss (1) is not a text string")
    iat = _time(claims, CLAIM_IAT, "iat")
    exp = _time(claims, CLAIM_EXP, "exp")
    if profile == PROFILE_DCC:
        return _dcc(claims, iss, iat, exp)
    return _scangate(claims, iss, iat, exp)


def _scangate(claims: dict[Any, Any], iss: str | None, iat: int, exp: int) -> Claims:
    if iss is None:
        raise _bad("claim iss (1) missing")
    cti = claims.get(CLAIM_CTI)
    if not isinstance(cti, bytes) or not 8 <= len(cti) <= 32:
        raise _bad("claim cti (7) missing or not 8..32 bytes")
    priv = claims.get(CLAIM_SCANGATE)
    if not isinstance(priv, dict):
        raise _bad(f"private claim {CLAIM_SCANGATE} missing or not a map")
    version = priv.get(SG_VERSION)
    if version != FORMAT_VERSION or isinstance(version, bool):
        raise _bad(f"unsupported format version {version!r} (this verifier reads "
                   f"{FORMAT_VERSION})")
    status = priv.get(SG_STATUS)
    if status not in STATUSES:
        raise _bad("status missing or not one of green/yellow/red")
    subject = priv.get(SG_SUBJECT)
    if subject is not None and (not isinstance(subject, bytes) or not 8 <= len(subject) <= 32):
        raise _bad("subject reference is not 8..32 bytes")
    return _new_claims(iss, iat, exp, cti.hex(), str(status),
                       subject.hex() if subject is not None else None, None)


def _dcc(claims: dict[Any, Any], iss: str | None, iat: int, exp: int) -> Claims:
    hcert = claims.get(CLAIM_HCERT)
    if not isinstance(hcert, dict) or 1 not in hcert:
        raise _bad("claim hcert (-260) missing or has no DGC (key 1)")
    problem, cert_type, ci = check_dgc(hcert[1])
    # the code id: 32 hex digits of SHA-256 over the UVCI
    code_id = hashlib.sha256(ci.encode("utf-8")).digest()[:16].hex() if ci else None
    return _new_claims(iss, iat, exp, code_id, None, None, cert_type, problem)
