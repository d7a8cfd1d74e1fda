"""Enrolment QR codes, both ways (docs/central-api.md, "Enrolment QR codes").

Screen → phone, DPP style (the staff screen of an un-enrolled terminal shows it):
    scangate-enrol:V:1;I:<terminal id>;K:<key fingerprint>;N:<nonce>;;

Phone → terminal, a voucher signed by the centre's CA (read by the terminal's own camera
or serial reader; never decided as a code, never journaled):
    SGV1.<base64url(JSON)>.<base64url(ES256 r||s)>

Parsing is bounded and never raises anything but ``EnrolmentError`` (code
``voucher_malformed``); the signature is checked once the CA is known (``verify``).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from device.errors import EnrolmentError
from device.identity.certs import check_id, normalise_fingerprint

VOUCHER_PREFIX = "SGV1."
URI_PREFIX = "scangate-enrol:"
MAX_VOUCHER_CHARS = 1500
MAX_URI_CHARS = 300
_B64URL = re.compile(r"[A-Za-z0-9_-]+")
_NONCE = re.compile(r"[0-9a-f]{8,64}")


def is_voucher(payload: bytes | str) -> bool:
    """True if a scanned payload is an enrolment voucher (checked before any decision)."""
    head = payload[: len(VOUCHER_PREFIX)]
    if isinstance(head, bytes):
        return head == VOUCHER_PREFIX.encode()
    return head == VOUCHER_PREFIX


def _b64d(text: str) -> bytes:
    if not _B64URL.fullmatch(text):
        raise ValueError("not base64url")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _b64e(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _bad(why: str) -> EnrolmentError:
    return EnrolmentError(f"the scanned enrolment voucher is not valid ({why}); show the "
                          "voucher from the centre again", "voucher_malformed")


@dataclass(frozen=True)
class Voucher:
    url: str
    token: str
    gate_id: str
    ca_fingerprint: str
    terminal_id: str | None
    key_fingerprint: str | None
    nonce: str | None
    expires_at: float | None
    signing_input: bytes
    signature: bytes  # raw r || s

    def verify(self, ca_public_key: Any) -> None:
        """EnrolmentError unless the CA (whose fingerprint the voucher names) signed it."""
        if not isinstance(ca_public_key, ec.EllipticCurvePublicKey):
            raise EnrolmentError("the centre's CA key cannot check vouchers (not EC)",
                                 "voucher_signature")
        der = encode_dss_signature(int.from_bytes(self.signature[:32], "big"),
                                   int.from_bytes(self.signature[32:], "big"))
        try:
            ca_public_key.verify(der, self.signing_input, ec.ECDSA(hashes.SHA256()))
        except InvalidSignature:
            raise EnrolmentError("the enrolment voucher's signature does not verify with the "
                                 "centre's CA: a forged or altered voucher; nothing was changed",
                                 "voucher_signature") from None


def parse_voucher(payload: bytes | str) -> Voucher:
    try:
        text = payload.decode("ascii") if isinstance(payload, bytes) else payload
    except UnicodeDecodeError:
        raise _bad("not ASCII") from None
    text = text.strip()
    if len(text) > MAX_VOUCHER_CHARS:
        raise _bad(f"longer than {MAX_VOUCHER_CHARS} characters")
    if not text.startswith(VOUCHER_PREFIX):
        raise _bad("no SGV1. prefix")
    parts = text[len(VOUCHER_PREFIX):].split(".")
    if len(parts) != 2:
        raise _bad("expected two parts")
    try:
        body = _b64d(parts[0])
        sig = _b64d(parts[1])
        doc = json.loads(body)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise _bad("not base64url JSON") from None
    if len(sig) != 64:
        raise _bad("signature is not ES256")
    if not isinstance(doc, dict) or doc.get("v") != 1:
        raise _bad("unknown version")

    def text_field(name: str, required: bool = True, limit: int = 300) -> str | None:
        v = doc.get(name)
        if v is None and not required:
            return None
        if not isinstance(v, str) or not v or len(v) > limit:
            raise _bad(f"field {name!r} missing or malformed")
        return v

    url = text_field("url")
    assert url is not None
    if not url.startswith("https://"):
        raise _bad("the centre URL is not https://")
    token = text_field("tok", limit=200)
    gate = text_field("gate")
    ca = text_field("ca")
    tid = text_field("tid", required=False)
    kfp = text_field("kfp", required=False)
    nonce = text_field("n", required=False)
    exp = doc.get("exp")
    if exp is not None and (isinstance(exp, bool) or not isinstance(exp, int | float)):
        raise _bad("field 'exp' malformed")
    try:
        check_id(gate or "", "gate id")
        if tid is not None:
            check_id(tid, "terminal id")
        ca_fp = normalise_fingerprint(ca or "")
        kfp_n = normalise_fingerprint(kfp) if kfp is not None else None
    except ValueError as exc:
        raise _bad(str(exc)) from None
    if nonce is not None and not _NONCE.fullmatch(nonce):
        raise _bad("field 'n' malformed")
    assert token is not None and gate is not None
    return Voucher(url=url, token=token, gate_id=gate, ca_fingerprint=ca_fp, terminal_id=tid,
                   key_fingerprint=kfp_n, nonce=nonce,
                   expires_at=float(exp) if exp is not None else None,
                   signing_input=(VOUCHER_PREFIX + parts[0]).encode("ascii"), signature=sig)


def encode_voucher(fields: dict[str, Any], sign_raw: Callable[[bytes], bytes]) -> str:
    """The voucher text for ``fields`` (``url``, ``tok``, ``gate``, ``ca``, optional
    ``tid``, ``kfp``, ``n``, ``exp``), signed by ``sign_raw`` (the centre's CA)."""
    doc = {"v": 1, **{k: v for k, v in fields.items() if v is not None}}
    body = _b64e(json.dumps(doc, separators=(",", ":"), sort_keys=True).encode())
    signing_input = (VOUCHER_PREFIX + body).encode("ascii")
    text = f"{VOUCHER_PREFIX}{body}.{_b64e(sign_raw(signing_input))}"
    if len(text) > MAX_VOUCHER_CHARS:
        raise ValueError(f"voucher longer than {MAX_VOUCHER_CHARS} characters")
    return text


# --------------------------------------------------------------------------- screen QR


@dataclass(frozen=True)
class EnrolmentUri:
    terminal_id: str
    key_fingerprint: str
    nonce: str

    def text(self) -> str:
        return (f"{URI_PREFIX}V:1;I:{self.terminal_id};K:{self.key_fingerprint};"
                f"N:{self.nonce};;")


def parse_enrolment_uri(text: str) -> EnrolmentUri:
    """The screen QR's content; ValueError with the reason when it is not one."""
    t = text.strip()
    if len(t) > MAX_URI_CHARS or not t.startswith(URI_PREFIX) or not t.endswith(";;"):
        raise ValueError("not a scangate enrolment URI")
    fields: dict[str, str] = {}
    for part in t[len(URI_PREFIX):-2].split(";"):
        k, sep, v = part.partition(":")
        if not sep or k in fields:
            raise ValueError(f"malformed field {part[:20]!r}")
        fields[k] = v
    if fields.get("V") != "1":
        raise ValueError("unknown enrolment URI version")
    tid = check_id(fields.get("I", ""), "terminal id")
    kfp = normalise_fingerprint(fields.get("K", ""))
    nonce = fields.get("N", "")
    if not _NONCE.fullmatch(nonce):
        raise ValueError("malformed nonce")
    return EnrolmentUri(tid, kfp, nonce)
