"""docs/code-format.md against the code: the worked example, and every row of the
"Edge cases" table (case name -> the input built here -> the reason the doc states)."""

from __future__ import annotations

import re
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from device.verify.claims import CLAIM_IAT, CLAIM_SCANGATE, SG_STATUS, SG_VERSION
from device.verify.codecs import base45, cbor, cose
from device.verify.codeformat import PROFILE_SCANGATE, unwrap, wrap
from device.verify.keys import kid_for_public_key, parse_public_key
from device.verify.trustlist import SignerKey
from device.verify.verdict import Reason
from device.verify.verifier import Verifier
from sim.issuer import Issuer
from tests.device.verifier_fixtures import (
    cert_signer,
    dcc_payload,
    dcc_samples,
    kid_of,
    make_cert,
    resign,
)

DOC = Path(__file__).resolve().parents[2] / "docs" / "code-format.md"


def test_worked_example() -> None:
    text = DOC.read_text(encoding="utf-8")
    pem = re.search(r"-----BEGIN PUBLIC KEY-----.*?-----END PUBLIC KEY-----", text, re.S)
    payload = re.search(r"^SG1:[0-9A-Z $%*+\-./:]+$", text, re.M)
    assert pem and payload
    key, _ = parse_public_key(pem.group(0).encode())
    assert kid_for_public_key(key).hex() == "1d0f44677e2206e5"
    ver = Verifier([SignerKey.from_public_key(key, profiles={"scangate"})])
    v = ver.verify(payload.group(0), at=1795000020)
    assert (v.reason, v.status, v.issuer, v.iat, v.exp) == (
        Reason.OK, "green", "demo-health", 1795000000, 1795000300)
    assert v.code_id == "0123456789abcdef0123456789abcdef"
    # "still accepted with --at 2026-11-18T11:11:40Z (= exp) and expired one second later"
    assert ver.verify(payload.group(0), at=1795000300).reason is Reason.OK
    assert ver.verify(payload.group(0), at=1795000301).reason is Reason.EXPIRED
    # the COSE hex in the document is what the payload carries
    cose_hex = re.search(r"COSE_Sign1 \(162 bytes\).*?```\n(.*?)```", text, re.S)
    assert cose_hex
    assert bytes.fromhex("".join(cose_hex.group(1).split())) == unwrap(payload.group(0))[1]
    msg = cose.parse_sign1(cbor.decode(unwrap(payload.group(0))[1]))
    assert msg.protected_bytes.hex() == "a2012604481d0f44677e2206e5"


# ------------------------------------------------------------------------ Edge cases

NOW = 1_800_000_000
_ROW = re.compile(r"^\| `([a-z0-9-]+)` \| (.+?) \| `([a-z_]+)` \|$")
_KEY = ec.generate_private_key(ec.SECP256R1())
_ISSUER = Issuer(_KEY, iss="doc-issuer")
_KID = _ISSUER.kid


def _doc_cases() -> dict[str, Reason]:
    text = DOC.read_text(encoding="utf-8")
    table = text[text.index("### Edge cases"):text.index("## 7. Limits")]
    return {m.group(1): Reason(m.group(3)) for m in map(_ROW.match, table.splitlines()) if m}


def _claims() -> dict[Any, Any]:
    return _ISSUER.claims("green", 300, NOW)


def _code(claims: dict[Any, Any] | None = None, *, prot: dict[Any, Any] | None = None,
          unprot: dict[Any, Any] | None = None, key: Any = _KEY, sign_alg: int | None = None,
          payload: bytes | None = None, wrap_tag: Callable[[list[Any]], Any] | None = None,
          ) -> str:
    """An SG1: code over ``claims`` (or raw ``payload``), headers as given, signed by
    ``key`` with ``sign_alg`` (default: the key's); ``wrap_tag`` builds the outer item."""
    body = payload if payload is not None else cbor.encode(_claims() if claims is None
                                                            else claims)
    prot = {1: cose.ALG_ES256, 4: _KID} if prot is None else prot
    prot_b = cbor.encode(prot) if prot else b""
    alg = sign_alg if sign_alg is not None else cose.alg_for_key(key)
    sig = cose.sign(alg, key, cose.sig_structure(prot_b, body))
    parts = [prot_b, unprot or {}, body, sig]
    item = wrap_tag(parts) if wrap_tag is not None else cbor.Tag(18, parts)
    return wrap(PROFILE_SCANGATE, cbor.encode(item))


def _nested(depth: int, leaf: Any, kind: str) -> Any:
    for _ in range(depth):
        leaf = [leaf] if kind == "array" else {1: leaf} if kind == "map" else cbor.Tag(7, leaf)
    return leaf


def _past_end() -> str:
    """A COSE_Sign1 whose payload byte string says it is 4096 bytes long."""
    good = cbor.decode(unwrap(_code())[1])
    prot_b, _, body, sig = good.value
    raw = (b"\xd2\x84" + cbor.encode(prot_b) + b"\xa0" + b"\x59\x10\x00" + body
           + cbor.encode(sig))
    return wrap(PROFILE_SCANGATE, raw)


def _count_past_end() -> str:
    """Claims with one more entry: key 99, an array declaring 2**32 - 1 items."""
    return _code(payload=_raw_claims_with(b"\x18\x63\x9a\xff\xff\xff\xff\x00\x00"))


def _raw_claims_with(extra: bytes, entries: int = 1) -> bytes:
    """Claims with more entries written as raw CBOR bytes (keys and values)."""
    raw = bytearray(cbor.encode(_claims()))
    raw[0] += entries  # a short map head: the entry count is in its low bits
    return bytes(raw) + extra


def _equal_keys() -> bytes:
    """Two claim entries keyed 99 and 99.0 (equal as numbers)."""
    return b"\x18\x63\x01" + b"\xfb" + bytes.fromhex("4058c00000000000") + b"\x02"


def _chunked(data: bytes) -> bytes:
    """``data`` as an indefinite-length byte string of two chunks."""
    half = len(data) // 2
    return b"\x5f" + cbor.encode(data[:half]) + cbor.encode(data[half:]) + b"\xff"


def _indefinite_map(m: dict[Any, Any]) -> bytes:
    return b"\xbf" + b"".join(cbor.encode(k) + cbor.encode(v) for k, v in m.items()) + b"\xff"


def _indefinite_code(*, protected: bool = False) -> str:
    """An SG1: code written with indefinite lengths wherever CBOR allows one: the
    COSE_Sign1 array, the unprotected map, the claims map and the payload and signature
    byte strings (chunked); with ``protected``, also the protected header's map and its
    byte string. The signature is over the protected bytes exactly as written."""
    body = _indefinite_map(_claims())
    prot_b = (_indefinite_map({1: cose.ALG_ES256, 4: _KID}) if protected
              else cbor.encode({1: cose.ALG_ES256, 4: _KID}))
    sig = cose.sign(cose.ALG_ES256, _KEY, cose.sig_structure(prot_b, body))
    prot_item = _chunked(prot_b) if protected else cbor.encode(prot_b)
    raw = (b"\xd2\x9f" + prot_item + b"\xbf\xff" + _chunked(body) + _chunked(sig) + b"\xff")
    return wrap(PROFILE_SCANGATE, raw)


def _re_encoded_protected() -> str:
    """The protected header sent with an indefinite-length map but signed as its
    definite (re-encoded) form: a verifier must sign-check the bytes as received."""
    body = cbor.encode(_claims())
    sent = _indefinite_map({1: cose.ALG_ES256, 4: _KID})
    signed_over = cbor.encode(cbor.decode(sent))
    sig = cose.sign(cose.ALG_ES256, _KEY, cose.sig_structure(signed_over, body))
    return wrap(PROFILE_SCANGATE, cbor.encode(cbor.Tag(18, [sent, {}, body, sig])))


def _with_private(key: int, value: Any) -> dict[Any, Any]:
    c = _claims()
    c[CLAIM_SCANGATE] = {**c[CLAIM_SCANGATE], key: value}
    return c


def _without(path: tuple[Any, ...]) -> dict[Any, Any]:
    c = _claims()
    target = c
    for k in path[:-1]:
        target = target[k]
    del target[path[-1]]
    return c


def _sg_key(not_before: float | None = None, not_after: float | None = None) -> SignerKey:
    return SignerKey.from_public_key(_KEY.public_key(), profiles={"scangate"},
                                     not_before=not_before, not_after=not_after)


def _length_1_mod_3(body: str) -> str:
    return "SG1:" + body + "0" * ((1 - len(body)) % 3)


# case -> (payload, check time, signer keys); NOW is inside every code's validity
CASES: dict[str, Callable[[], tuple[str | bytes, float, list[SignerKey]]]] = {}


def case(name: str, at: float = NOW + 10, keys: Callable[[], list[SignerKey]] | None = None
         ) -> Callable[[Callable[[], str | bytes]], None]:
    def register(build: Callable[[], str | bytes]) -> None:
        CASES[name] = lambda: (build(), at, keys() if keys else [_sg_key()])
    return register


case("non-ascii-text")(lambda: "SG1:ÄÖÜ")
case("non-ascii-bytes")(lambda: "SG1:ÄÖÜ".encode())
case("non-ascii-after-code")(lambda: _code() + "é")
case("lower-case-prefix")(lambda: "sg1:" + _code()[4:])
case("too-long")(lambda: "SG1:" + "0" * 4293)
case("trimmed")(lambda: "\r\n \t" + _code() + " \t\r\n")
case("empty-body")(lambda: "SG1:")
case("base45-length")(lambda: _length_1_mod_3(base45.encode(zlib.compress(unwrap(_code())[1]))))
case("zlib-trailing")(lambda: "SG1:" + base45.encode(
    zlib.compress(unwrap(_code())[1], 9) + b"\x00"))
case("alg-missing")(lambda: _code(prot={4: _KID}))
case("alg-not-integer")(lambda: _code(prot={1: "ES256", 4: _KID}))
case("alg-unsupported")(lambda: _code(prot={1: -8, 4: _KID}, sign_alg=cose.ALG_ES256))
case("alg-unprotected-only")(lambda: _code(prot={4: _KID}, unprot={1: cose.ALG_ES256}))
case("alg-protected-wins")(lambda: _code(unprot={1: cose.ALG_PS256}))
case("alg-not-the-keys")(lambda: _code(prot={1: cose.ALG_PS256, 4: _KID},
                                       sign_alg=cose.ALG_ES256))
case("alg-wrong-curve")(lambda: _code(prot={1: cose.ALG_ES384, 4: _KID},
                                      sign_alg=cose.ALG_ES256))
case("kid-missing")(lambda: _code(prot={1: cose.ALG_ES256}))
case("status-unknown")(lambda: _code(_with_private(SG_STATUS, "blue")))
case("status-missing")(lambda: _code(_without((CLAIM_SCANGATE, SG_STATUS))))
case("version-missing")(lambda: _code(_without((CLAIM_SCANGATE, SG_VERSION))))
case("version-2")(lambda: _code(_with_private(SG_VERSION, 2)))
case("iat-tagged")(lambda: _code({**_claims(), CLAIM_IAT: cbor.Tag(1, NOW)}))
case("length-past-end")(_past_end)
case("count-past-end")(_count_past_end)
case("tag-61-18")(lambda: _code(wrap_tag=lambda p: cbor.Tag(61, cbor.Tag(18, p))))
case("untagged")(lambda: _code(wrap_tag=lambda p: p))
case("tag-18-18")(lambda: _code(wrap_tag=lambda p: cbor.Tag(18, cbor.Tag(18, p))))
case("tag-61-61")(lambda: _code(wrap_tag=lambda p: cbor.Tag(61, cbor.Tag(61, p))))
case("tag-other")(lambda: _code(wrap_tag=lambda p: cbor.Tag(98, p)))
case("depth-12")(lambda: _code({**_claims(), 99: _nested(11, 5, "array")}))
case("depth-13")(lambda: _code({**_claims(), 99: _nested(12, 5, "array")}))
case("depth-13-empty")(lambda: _code({**_claims(), 99: _nested(11, [], "array")}))
case("depth-13-tags")(lambda: _code({**_claims(), 99: _nested(12, 5, "tag")}))
case("depth-13-maps")(lambda: _code({**_claims(), 99: _nested(12, 5, "map")}))
case("items-over")(lambda: _code({**_claims(), 99: list(range(1024))}))
case("tagged-map-key")(lambda: _code({**_claims(), 99: {cbor.Tag(1, 5): 1}}))
case("duplicate-key")(lambda: _code(payload=_raw_claims_with(b"\x01\x61x")))
case("equal-keys")(lambda: _code(payload=_raw_claims_with(_equal_keys(), entries=2)))
case("indefinite-length")(lambda: _code(payload=_raw_claims_with(b"\x18\x63\x9f\x01\xff")))
case("indefinite-everywhere")(_indefinite_code)
case("indefinite-protected")(lambda: _indefinite_code(protected=True))
case("protected-re-encoded")(_re_encoded_protected)
case("indefinite-break-value")(lambda: _code(payload=_raw_claims_with(b"\x18\x63\xbf\x01\xff")))
case("indefinite-chunk-type")(lambda: _code(payload=_raw_claims_with(b"\x18\x63\x5f\x61x\xff")))
case("indefinite-chunk-nested")(lambda: _code(payload=_raw_claims_with(
    b"\x18\x63\x5f\x5f\x41x\xff\xff")))
case("indefinite-no-break")(lambda: _code(payload=_raw_claims_with(b"\x18\x63\x9f\x01")))
case("indefinite-integer")(lambda: _code(payload=_raw_claims_with(b"\x18\x63\x1f")))
case("indefinite-items-over")(lambda: _code(payload=_raw_claims_with(
    b"\x18\x63\x9f" + b"\x01" * 1024 + b"\xff")))
case("indefinite-depth-13")(lambda: _code(payload=_raw_claims_with(
    b"\x18\x63" + b"\x9f" * 12 + b"\x05" + b"\xff" * 12)))
case("trailing-bytes")(lambda: "SG1:" + base45.encode(zlib.compress(unwrap(_code())[1] + b"\x00")))
case("at-exp", at=NOW + 300)(lambda: _code())
case("after-exp", at=NOW + 301)(lambda: _code())
case("within-skew", at=NOW - 60)(lambda: _code())
case("before-iat", at=NOW - 61)(lambda: _code())
case("key-not-yet-valid", at=NOW + 39, keys=lambda: [_sg_key(not_before=NOW + 100)])(
    lambda: _code())
case("key-ended", at=NOW + 101, keys=lambda: [_sg_key(not_after=NOW + 100)])(lambda: _code())
case("iat-before-key", at=NOW + 150, keys=lambda: [_sg_key(not_before=NOW + 100)])(
    lambda: _code())
case("key-other-profile", keys=lambda: [SignerKey.from_public_key(
    _KEY.public_key(), profiles={"eu-dcc"})])(lambda: _code())


def test_every_documented_case_has_an_input_and_every_input_is_documented() -> None:
    documented = _doc_cases()
    assert len(documented) >= 40, "the Edge cases table of docs/code-format.md was not found"
    assert set(documented) == set(CASES)


@pytest.mark.parametrize("name", sorted(CASES))
def test_documented_reason(name: str) -> None:
    payload, at, keys = CASES[name]()
    v = Verifier(keys).verify(payload, at=at)
    assert v.reason is _doc_cases()[name], (name, v.detail)
    # the profile is known once the prefix is (docs/verifier-api.md, Verdict.profile)
    expected_profile = None if v.reason in (Reason.UNKNOWN_FORMAT,) or (
        v.reason is Reason.TOO_LARGE and "payload longer" in v.detail) else "scangate"
    assert v.profile == expected_profile, (name, v.detail)


# ------------------------------------------------------------------ DCC schema cases

def _dcc_doc_cases() -> dict[str, Reason]:
    text = DOC.read_text(encoding="utf-8")
    table = text[text.index("#### DCC schema cases"):text.index("## 6. Checks")]
    return {m.group(1): Reason(m.group(3)) for m in map(_ROW.match, table.splitlines()) if m}


_DCC = next(s for s in dcc_samples() if s.name == "AT-1")  # a vaccination
_DCC_KEY = ec.generate_private_key(ec.SECP256R1())
_DCC_CERT = make_cert(_DCC_KEY)


def _entry(**values: Any) -> Callable[[dict[str, Any]], None]:
    def change(dgc: dict[str, Any]) -> None:
        dgc["v"][0].update(values)
    return change


def _top(**values: Any) -> Callable[[dict[str, Any]], None]:
    def change(dgc: dict[str, Any]) -> None:
        for k, v in values.items():
            if v is None:
                dgc.pop(k, None)
            else:
                dgc[k] = v
    return change


def _names(**values: Any) -> Callable[[dict[str, Any]], None]:
    def change(dgc: dict[str, Any]) -> None:
        for k, v in values.items():
            if v is None:
                dgc["nam"].pop(k, None)
            else:
                dgc["nam"][k] = v
    return change


def _extra_field(dgc: dict[str, Any]) -> None:
    dgc["xx"] = 1
    dgc["v"][0]["xx"] = [1]


def _tag_dt(dgc: dict[str, Any]) -> None:
    dgc["v"][0]["dt"] = cbor.Tag(1004, dgc["v"][0]["dt"])


def _drop_ci(dgc: dict[str, Any]) -> None:
    del dgc["v"][0]["ci"]


DCC_CASES: dict[str, Callable[[dict[str, Any]], Any]] = {
    "dcc-valid": lambda dgc: None,
    "dcc-dob-year": _top(dob="1964"), "dcc-dob-empty": _top(dob=""),
    "dcc-dob-time": _top(dob="1964-08-12T00:00:00"),
    "dcc-gnt-only": _names(fnt=None, gnt="GABRIELE"),
    "dcc-dose-10": _entry(dn=10, sd=10), "dcc-unknown-field": _extra_field,
    "dcc-dt-tagged": _tag_dt, "dcc-no-dob": _top(dob=None), "dcc-dob-1899": _top(dob="1899-12-31"),
    "dcc-dob-unknown-parts": _top(dob="1963-XX-XX"), "dcc-no-ver": _top(ver=None),
    "dcc-ver-two-parts": _top(ver="1.3"), "dcc-no-names": _names(fnt=None, gnt=None),
    "dcc-fnt-lower-case": _names(fnt="Muster"), "dcc-fn-81": _names(fn="F" * 81),
    "dcc-two-groups": lambda dgc: dgc.__setitem__("t", dgc["v"]),
    "dcc-two-entries": lambda dgc: dgc.__setitem__("v", dgc["v"] * 2),
    "dcc-no-ci": _drop_ci, "dcc-dose-0": _entry(dn=0), "dcc-dose-text": _entry(sd="2"),
    "dcc-co-lower-case": _entry(co="at"), "dcc-is-81": _entry(**{"is": "I" * 81}),
    "dcc-tg-null": _entry(tg=None), "dcc-dgc-not-a-map": lambda dgc: "a text",
    "dcc-schema-forged": _top(dob=None),
}


def _dcc_code(change: Callable[[dict[str, Any]], Any], key: Any = _DCC_KEY) -> str:
    def mutate(claims: dict[Any, Any]) -> None:
        replaced = change(claims[-260][1])
        if replaced is not None:
            claims[-260][1] = replaced
    return dcc_payload(resign(_DCC.cose_bytes(), key, kid_of(_DCC_CERT), mutate=mutate))


def test_every_dcc_schema_case_has_an_input_and_every_input_is_documented() -> None:
    documented = _dcc_doc_cases()
    assert len(documented) >= 20, "the DCC schema cases table of docs/code-format.md is missing"
    assert set(documented) == set(DCC_CASES)


@pytest.mark.parametrize("name", sorted(DCC_CASES))
def test_documented_dcc_schema_reason(name: str) -> None:
    key = ec.generate_private_key(ec.SECP256R1()) if name == "dcc-schema-forged" else _DCC_KEY
    v = Verifier([cert_signer(_DCC_CERT)]).verify(_dcc_code(DCC_CASES[name], key), at=_DCC.at)
    assert v.reason is _dcc_doc_cases()[name], (name, v.detail)
    assert v.profile == "eu-dcc"
    if v.reason is Reason.BAD_STRUCTURE:  # stage 7: after the signature, claims reported
        assert v.detail.startswith("DGC schema: ") and v.iat is not None, (name, v.detail)
