"""EU DCC test vectors (dgc-testdata layout), applied the way their README defines them.

A vector is a JSON object with the encoding chain (``PREFIX``, ``BASE45``,
``COMPRESSED``, ``COSE``, ``CBOR``, ``JSON``), a ``TESTCTX`` (signer ``CERTIFICATE``,
``VALIDATIONCLOCK``) and ``EXPECTEDRESULTS``: boolean flags, each naming one check that
must succeed (``true``) or fail (``false``); an absent flag is not tested.
:func:`check_vector` runs every flag present and says, per flag, what the verifier did.

Chain flags are checked on the vector's own fields with the verifier's own stages:

* ``EXPECTEDUNPREFIX``: ``PREFIX`` has a known prefix and the rest equals ``BASE45``;
* ``EXPECTEDB45DECODE``: ``BASE45`` decodes, to ``COMPRESSED`` when given;
* ``EXPECTEDCOMPRESSION``: ``COMPRESSED`` inflates (bounded), to ``COSE`` when given;
* ``EXPECTEDDECODE``: ``COSE`` parses as COSE_Sign1 with a DCC CWT whose DGC equals
  ``JSON`` (as the EU reference test runner compares it);
* ``EXPECTEDVALIDJSON``: the whole chain from ``PREFIX`` gives a DGC equal to ``JSON``;
* ``EXPECTEDSCHEMAVALIDATION``: the DGC decoded from ``COSE`` follows the EU DCC schema
  by the verifier's own check (:func:`device.verify.dccschema.check_dgc`, the rules of
  docs/code-format.md section 5); ``false`` also needs the verdict to deny the code
  (a schema failure is a ``bad_structure`` verdict after the signature, stage 7).

The others are read from the verdict of ``Verifier([signer]).verify(PREFIX,
at=VALIDATIONCLOCK)``, whose reason is the first stage that failed:

* ``EXPECTEDVERIFY`` (signature with ``TESTCTX.CERTIFICATE``): stages 5-6
  (``unknown_key``, ``bad_signature``);
* ``EXPECTEDKEYUSAGE`` (the certificate's EKU allows the DGC type): ``key_usage``;
* ``EXPECTEDEXPIRATIONCHECK`` (valid at ``VALIDATIONCLOCK``): ``not_yet_valid``,
  ``expired``.

A ``bad_structure`` verdict that carries claims (``iat`` set) failed the DCC schema
stage, after the signature verified; without claims it failed the structure stage 4
(docs/verifier-api.md).

``true`` passes when the verdict got past that stage; ``false`` when the verdict failed
at that stage, or at an earlier one that the vector also expects to fail. Flags about
things outside the verifier (``EXPECTEDPICTUREDECODE``: the QR image, the decode stage's
job; ``EXPECTEDVALIDOBJECT`` and ``EXPECTEDENCODE``: the issuer's side) are reported as
not applicable.

Run over any directory of vectors (e.g. a clone of dgc-testdata):

    .venv/bin/python -m tests.device.dcc_vectors [--derived] [DIR ...]

(``--derived`` adds :func:`derived_vectors` built from them; no DIR: tests/data/dcc.)
"""

from __future__ import annotations

import base64
import copy
import datetime as dt
import json
import sys
import zlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID

from device.errors import KeyLoadError
from device.verify.claims import CLAIM_HCERT
from device.verify.codecs import base45, cbor, cose
from device.verify.codeformat import (
    PROFILE_DCC,
    Reject,
    bounded_decompress,
    split_prefix,
    unwrap,
    wrap,
)
from device.verify.dccschema import check_dgc
from device.verify.keys import kid_for_certificate
from device.verify.trustlist import SignerKey
from device.verify.verdict import Reason, Verdict
from device.verify.verifier import Verifier, parse_structure

DCC_DIR = Path(__file__).resolve().parents[1] / "data" / "dcc"

#: Flags read from the verdict: the stage (index in ``_STAGES``) each one checks.
_STAGES = ("prefix", "base45", "zlib", "structure", "signature", "schema", "key_usage", "time",
           "after")
_VERDICT_FLAGS = {"EXPECTEDVERIFY": 4, "EXPECTEDKEYUSAGE": 6, "EXPECTEDEXPIRATIONCHECK": 7}
#: Flags checked on the chain's own fields: the stage each one is about.
_CHAIN_FLAGS = {"EXPECTEDUNPREFIX": 0, "EXPECTEDB45DECODE": 1, "EXPECTEDCOMPRESSION": 2,
                "EXPECTEDDECODE": 3, "EXPECTEDVALIDJSON": 3, "EXPECTEDSCHEMAVALIDATION": 5}
NOT_APPLICABLE = frozenset({"EXPECTEDPICTUREDECODE", "EXPECTEDVALIDOBJECT", "EXPECTEDENCODE"})


def verdict_stage(v: Verdict) -> int:
    """Index in ``_STAGES`` of the stage the verdict failed at (``after``: none of them)."""
    r = v.reason
    if r is Reason.UNKNOWN_FORMAT or (r is Reason.TOO_LARGE and v.profile is None):
        return 0
    if r is Reason.BAD_ENCODING:
        return 1
    if r is Reason.BAD_COMPRESSION or (r is Reason.TOO_LARGE and "decompressed" in v.detail):
        return 2
    if r is Reason.BAD_STRUCTURE and v.iat is not None:  # claims reported: signature ok
        return 5
    if r in (Reason.BAD_STRUCTURE, Reason.TOO_LARGE):
        return 3
    if r in (Reason.UNKNOWN_KEY, Reason.BAD_SIGNATURE):
        return 4
    if r is Reason.KEY_USAGE:
        return 6
    if r in (Reason.NOT_YET_VALID, Reason.EXPIRED):
        return 7
    return 8


@dataclass
class FlagResult:
    flag: str
    expected: bool
    ok: bool
    got: str  # what the verifier did, one line


@dataclass
class VectorReport:
    name: str
    verdict: Verdict | None
    results: list[FlagResult] = field(default_factory=list)
    not_applicable: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return all(r.ok for r in self.results)

    def failures(self) -> list[FlagResult]:
        return [r for r in self.results if not r.ok]


def parse_clock(text: str) -> float:
    t = dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    if t.tzinfo is None:
        t = t.replace(tzinfo=dt.UTC)
    return t.timestamp()


def _same(ours: Any, theirs: Any) -> bool:
    """DGC equality as the reference runners compare it: maps and lists by content, a
    tagged date/time (tag 0 text, tag 1 epoch) equal to the same instant in text."""
    if isinstance(ours, cbor.Tag):
        if ours.tag in (0, 1) and isinstance(theirs, str):
            try:
                instant = (parse_clock(ours.value) if ours.tag == 0
                           else float(ours.value))
                return instant == parse_clock(theirs)
            except (TypeError, ValueError):
                return False
        return False
    if isinstance(ours, dict) and isinstance(theirs, dict):
        return ours.keys() == theirs.keys() and all(_same(ours[k], theirs[k]) for k in ours)
    if isinstance(ours, list) and isinstance(theirs, list):
        return len(ours) == len(theirs) and all(map(_same, ours, theirs))
    if isinstance(ours, bool) or isinstance(theirs, bool):
        return ours is theirs
    return bool(ours == theirs)


def _dgc(cose_bytes: bytes) -> Any:
    """The DGC (hcert claim, key 1) of a COSE_Sign1, after the verifier's structure check."""
    msg, _ = parse_structure(PROFILE_DCC, cose_bytes)
    return cbor.decode(msg.payload, max_depth=12, max_items=1024)[CLAIM_HCERT][1]


def _hex(d: dict[str, Any], key: str) -> bytes | None:
    v = d.get(key)
    return bytes.fromhex(v) if isinstance(v, str) else None


def _chain_check(flag: str, d: dict[str, Any]) -> tuple[bool, str]:
    """(did the check succeed, what happened) for a chain flag, on the vector's fields."""
    try:
        if flag == "EXPECTEDUNPREFIX":
            _, body = split_prefix(d["PREFIX"])
            ok = "BASE45" not in d or body == d["BASE45"]
            return ok, "prefix ok" + ("" if ok else ", body differs from BASE45")
        if flag == "EXPECTEDB45DECODE":
            raw = base45.decode(d["BASE45"])
            want = _hex(d, "COMPRESSED")
            ok = want is None or raw == want
            return ok, "Base45 ok" + ("" if ok else ", differs from COMPRESSED")
        if flag == "EXPECTEDCOMPRESSION":
            out = bounded_decompress(bytes.fromhex(d["COMPRESSED"]))
            want = _hex(d, "COSE")
            ok = want is None or out == want
            return ok, "zlib ok" + ("" if ok else ", differs from COSE")
        if flag == "EXPECTEDSCHEMAVALIDATION":
            problem = check_dgc(_dgc(bytes.fromhex(d["COSE"])))[0]
            return problem is None, "schema ok" if problem is None else f"schema: {problem}"
        if flag == "EXPECTEDDECODE":
            dgc = _dgc(bytes.fromhex(d["COSE"]))
            if "JSON" not in d:
                return True, "structure ok"
            ok = _same(dgc, d["JSON"])
            return ok, "decoded" + ("" if ok else ", DGC differs from JSON")
        if flag == "EXPECTEDVALIDJSON":
            dgc = _dgc(unwrap(d["PREFIX"])[1])
            ok = _same(dgc, d.get("JSON"))
            return ok, "chain decoded" + ("" if ok else ", DGC differs from JSON")
    except Reject as r:
        return False, r.reason.value
    except base45.Base45Error as exc:
        return False, f"bad_encoding ({exc})"
    except (KeyError, ValueError, TypeError) as exc:
        return False, f"{type(exc).__name__}: {exc}"
    raise AssertionError(flag)


def _payload(d: dict[str, Any]) -> str:
    """The most upstream form of the code the vector gives."""
    if "PREFIX" in d:
        return str(d["PREFIX"])
    if "BASE45" in d:
        return "HC1:" + d["BASE45"]
    cose_bytes = _hex(d, "COSE")
    if cose_bytes is None:
        compressed = _hex(d, "COMPRESSED") or b""
        return "HC1:" + base45.encode(compressed)
    return wrap(PROFILE_DCC, cose_bytes)


def signer_of(d: dict[str, Any]) -> list[SignerKey]:
    """The vector's signer as a trust entry ([] if its key is of no usable type)."""
    ctx = d.get("TESTCTX", {})
    try:
        cert = x509.load_der_x509_certificate(base64.b64decode(ctx["CERTIFICATE"]))
        return [SignerKey.from_certificate(cert, profiles={PROFILE_DCC})]
    except (KeyError, ValueError, KeyLoadError):
        return []


def check_vector(name: str, d: dict[str, Any]) -> VectorReport:
    expected: dict[str, bool] = {k: bool(v) for k, v in (d.get("EXPECTEDRESULTS") or {}).items()
                                 if isinstance(v, bool)}
    ctx = d.get("TESTCTX", {})
    at = parse_clock(ctx["VALIDATIONCLOCK"]) if "VALIDATIONCLOCK" in ctx else None
    verdict = Verifier(signer_of(d)).verify(_payload(d), at=at)
    report = VectorReport(name, verdict)
    stage = verdict_stage(verdict)
    # stages the vector itself expects to fail (they may mask later checks)
    expected_fail = {i for f, i in {**_CHAIN_FLAGS, **_VERDICT_FLAGS}.items()
                     if expected.get(f) is False}
    got_verdict = f"{verdict.reason.value}" + (f" ({verdict.detail})" if verdict.detail else "")
    for flag, want in sorted(expected.items()):
        if flag in NOT_APPLICABLE:
            report.not_applicable.append(flag)
        elif flag in _VERDICT_FLAGS:
            i = _VERDICT_FLAGS[flag]
            ok = stage > i if want else (stage == i or (stage < i and stage in expected_fail))
            report.results.append(FlagResult(flag, want, ok, got_verdict))
        elif flag in _CHAIN_FLAGS:
            succeeded, what = _chain_check(flag, d)
            ok = succeeded is want
            if flag == "EXPECTEDSCHEMAVALIDATION" and not want:
                ok = ok and not verdict.accepted  # a document off the schema is denied
                what = f"{what}; verdict {got_verdict}"
            report.results.append(FlagResult(flag, want, ok, what))
        else:
            report.not_applicable.append(flag)
    return report


# ------------------------------------------------------------- derived vectors

EKU_OID = {"t": "1.3.6.1.4.1.1847.2021.1.1", "v": "1.3.6.1.4.1.1847.2021.1.2",
           "r": "1.3.6.1.4.1.1847.2021.1.3"}


def _iso(t: float) -> str:
    return dt.datetime.fromtimestamp(t, dt.UTC).isoformat()


def _cert(key: Any, not_before: float, not_after: float,
          eku: Iterable[str] = ()) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "derived DSC")])
    b = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
         .public_key(key.public_key()).serial_number(x509.random_serial_number())
         .not_valid_before(dt.datetime.fromtimestamp(not_before, dt.UTC))
         .not_valid_after(dt.datetime.fromtimestamp(not_after, dt.UTC)))
    oids = [x509.ObjectIdentifier(o) for o in eku]
    if oids:
        b = b.add_extension(x509.ExtendedKeyUsage(oids), critical=False)
    return b.sign(key, hashes.SHA256())


def _with_cose(d: dict[str, Any], cose_bytes: bytes, **fields: Any) -> dict[str, Any]:
    """A copy of vector ``d`` carrying ``cose_bytes`` through the whole chain."""
    compressed = zlib.compress(cose_bytes, 9)
    b45 = base45.encode(compressed)
    out = {**d, "COSE": cose_bytes.hex(), "COMPRESSED": compressed.hex(), "BASE45": b45,
           "PREFIX": "HC1:" + b45, **fields}
    out.pop("2DCODE", None)
    return out


@dataclass
class _Deriver:
    """Derives vectors from one genuine vector ``d`` (see :func:`derived_vectors`)."""

    name: str
    d: dict[str, Any]
    key: Any
    out: list[tuple[str, dict[str, Any]]]

    def __post_init__(self) -> None:
        self.cose_bytes = bytes.fromhex(self.d["COSE"])
        self.msg = cose.parse_sign1(cbor.decode(self.cose_bytes, max_items=100_000))
        claims = cbor.decode(self.msg.payload, max_items=100_000)
        self.iat, self.exp = claims[6], claims[4]
        self.kind = next(t for t in ("v", "t", "r") if t in claims[CLAIM_HCERT][1])
        self.clock = parse_clock(self.d["TESTCTX"]["VALIDATIONCLOCK"])

    def vec(self, suffix: str, expected: dict[str, bool], vector: dict[str, Any] | None = None,
            **ctx_changes: Any) -> None:
        v = dict(vector if vector is not None else self.d)
        v["TESTCTX"] = {**v["TESTCTX"], **ctx_changes}
        v["EXPECTEDRESULTS"] = expected
        self.out.append((f"{self.name}~{suffix}", v))

    def signed(self, cert: x509.Certificate, *, protected_kid: bytes | None = None,
               unprotected: dict[Any, Any] | None = None, tag61: bool = False,
               alg: int | None = None, sign_alg: int | None = None) -> dict[str, Any]:
        """The DCC re-signed by ``self.key`` as ``cert``; ``alg`` only changes the header."""
        kid = kid_for_certificate(cert) if protected_kid is None else protected_kid
        blob = cose.sign1(self.msg.payload, self.key, kid or None, unprotected=unprotected,
                          alg=sign_alg)
        if alg is not None:  # an ES256 signature under another alg's header
            m = cose.parse_sign1(cbor.decode(blob, max_items=100_000))
            prot = cbor.encode({1: alg, **({4: m.kid} if kid else {})})
            blob = cbor.encode(cbor.Tag(18, [prot, m.unprotected, m.payload, m.signature]))
        if tag61:
            blob = cbor.encode(cbor.Tag(61, cbor.decode(blob, max_items=100_000)))
        der = base64.b64encode(cert.public_bytes(Encoding.DER)).decode()
        return _with_cose(self.d, blob, TESTCTX={**self.d["TESTCTX"], "CERTIFICATE": der})

    def all(self, other_cert: str) -> None:
        d, iat, exp, clock = self.d, self.iat, self.exp, self.clock
        ok_time = {"EXPECTEDVERIFY": True, "EXPECTEDEXPIRATIONCHECK": True}
        bad_time = {"EXPECTEDVERIFY": True, "EXPECTEDEXPIRATIONCHECK": False}
        self.vec("clock-at-exp", ok_time, VALIDATIONCLOCK=_iso(exp))
        self.vec("clock-after-exp", bad_time, VALIDATIONCLOCK=_iso(exp + 1))
        self.vec("clock-before-iat", {"EXPECTEDEXPIRATIONCHECK": False},
                 VALIDATIONCLOCK=_iso(iat - 3600))
        cert = _cert(self.key, iat + 60, exp + 86400)
        self.vec("iat-before-cert", ok_time, self.signed(cert),
                 VALIDATIONCLOCK=_iso(max(clock, iat + 120)))
        self.vec("clock-before-cert", bad_time,
                 self.signed(_cert(self.key, clock + 3600, exp + 86400)))
        self.vec("clock-after-cert", bad_time,
                 self.signed(_cert(self.key, iat - 86400, clock - 3600)))
        whole = float(int(clock))  # X.509 times are whole seconds
        self.vec("cert-ends-at-clock", ok_time,
                 self.signed(_cert(self.key, iat - 86400, whole)), VALIDATIONCLOCK=_iso(whole))
        other = next(t for t in ("v", "t", "r") if t != self.kind)
        self.vec("eku-fits", {"EXPECTEDVERIFY": True, "EXPECTEDKEYUSAGE": True},
                 self.signed(_cert(self.key, iat - 86400, exp + 86400, [EKU_OID[self.kind]])))
        self.vec("eku-other-type", {"EXPECTEDVERIFY": True, "EXPECTEDKEYUSAGE": False},
                 self.signed(_cert(self.key, iat - 86400, exp + 86400, [EKU_OID[other]])))
        good = _cert(self.key, iat - 86400, exp + 86400)
        right, wrong = kid_for_certificate(good), b"\x00" * 8
        self.vec("kid-unprotected-only", {"EXPECTEDVERIFY": True},
                 self.signed(good, protected_kid=b"", unprotected={4: right}))
        self.vec("kid-unprotected-wrong", {"EXPECTEDVERIFY": True},
                 self.signed(good, unprotected={4: wrong}))
        self.vec("kid-protected-wrong", {"EXPECTEDVERIFY": False},
                 self.signed(good, protected_kid=wrong, unprotected={4: right}))
        self.vec("kid-unprotected-only-wrong", {"EXPECTEDVERIFY": False},
                 self.signed(good, protected_kid=b"", unprotected={4: wrong}))
        self.vec("cwt-tag", {"EXPECTEDVERIFY": True, "EXPECTEDDECODE": True},
                 self.signed(good, tag61=True))
        self.vec("alg-not-the-keys", {"EXPECTEDVERIFY": False},
                 self.signed(good, alg=cose.ALG_PS256))
        forged = bytearray(self.cose_bytes)
        forged[-5] ^= 0x01  # inside the signature (the last item)
        self.vec("signature-forged", {"EXPECTEDVERIFY": False}, _with_cose(d, bytes(forged)))
        self.vec("other-certificate", {"EXPECTEDVERIFY": False}, CERTIFICATE=other_cert)
        body = d["BASE45"]
        self.vec("prefix-unknown", {"EXPECTEDUNPREFIX": False}, {**d, "PREFIX": "HC9:" + body})
        bad45 = body[:10] + "#" + body[11:]
        self.vec("base45-broken", {"EXPECTEDB45DECODE": False},
                 {**d, "BASE45": bad45, "PREFIX": "HC1:" + bad45})
        comp = bytearray(bytes.fromhex(d["COMPRESSED"]))
        comp[2] ^= 0xFF
        comp_b45 = base45.encode(bytes(comp))
        self.vec("zlib-broken", {"EXPECTEDCOMPRESSION": False},
                 {**d, "COMPRESSED": bytes(comp).hex(), "BASE45": comp_b45,
                  "PREFIX": "HC1:" + comp_b45})
        self.vec("cbor-truncated", {"EXPECTEDDECODE": False},
                 _with_cose(d, self.cose_bytes[:-10]))
        self.schema(good)
        self.indefinite(good)

    def resigned(self, cert: x509.Certificate, payload: bytes, *,
                 protected: bytes | None = None, signed_protected: bytes | None = None
                 ) -> dict[str, Any]:
        """A vector carrying ``payload`` signed by ``self.key`` as ``cert`` (protected
        header ``protected``, signed as ``signed_protected``), checked just after iat."""
        kid = kid_for_certificate(cert)
        prot = cbor.encode({1: cose.ALG_ES256, 4: kid}) if protected is None else protected
        tbs = cose.sig_structure(prot if signed_protected is None else signed_protected,
                                 payload)
        sig = cose.sign(cose.ALG_ES256, self.key, tbs)
        blob = cbor.encode(cbor.Tag(18, [prot, {}, payload, sig]))
        der = base64.b64encode(cert.public_bytes(Encoding.DER)).decode()
        v = _with_cose(self.d, blob, TESTCTX={**self.d["TESTCTX"], "CERTIFICATE": der,
                                              "VALIDATIONCLOCK": _iso(self.iat + 60)})
        v.pop("CBOR", None)
        return v

    def with_dgc(self, change: Any) -> bytes:
        """The claims with ``change(dgc, entry)`` applied to the DGC (a copy); a change
        that returns something other than None replaces the whole DGC with it."""
        claims = copy.deepcopy(cbor.decode(self.msg.payload, max_items=100_000))
        dgc = claims[CLAIM_HCERT][1]
        replaced = change(dgc, dgc[self.kind][0])
        if replaced is not None:
            claims[CLAIM_HCERT][1] = replaced
        return cbor.encode(claims)

    def schema(self, cert: x509.Certificate) -> None:
        """The DGC broken against the EU DCC schema one way at a time (expected: the schema
        check fails, the signature verifies), and changed in ways the schema allows
        (expected: valid throughout). docs/code-format.md section 5 has the rules."""
        kind = self.kind
        other = next(t for t in ("v", "t", "r") if t != kind)
        field_missing = {"v": "dt", "t": "tr", "r": "du"}[kind]
        wrong_type = {"v": ("sd", "2"), "t": ("sc", 1613824496000), "r": ("df", 20210601)}[kind]
        bad_value = {"v": ("dn", 0), "t": ("tc", "C" * 81), "r": ("fr", True)}[kind]
        lenient = {"v": {"dn": 10, "sd": 10}, "t": {"tc": None}, "r": {"co": "XXA"}}[kind]
        tagged = {"v": ("dt", 1004), "t": ("sc", 0), "r": ("fr", 1004)}[kind]

        def put(target: str, **values: Any) -> Any:
            def change(dgc: dict[str, Any], entry: dict[str, Any]) -> None:
                obj = {"dgc": dgc, "nam": dgc.get("nam"), "entry": entry}[target]
                for k, v in values.items():
                    if v is _DROP:
                        obj.pop(k, None)
                    else:
                        obj[k] = v
            return change

        broken: dict[str, Any] = {
            "dgc-not-map": lambda dgc, e: "not a map",
            "no-ver": put("dgc", ver=_DROP), "ver-not-semver": put("dgc", ver="1.3"),
            "no-nam": put("dgc", nam=_DROP), "nam-not-map": put("dgc", nam="X"),
            "no-fnt-gnt": put("nam", fnt=_DROP, gnt=_DROP), "fnt-lower": put("nam", fnt="d'arc"),
            "gn-81": put("nam", gn="G" * 81), "no-dob": put("dgc", dob=_DROP),
            "dob-1899": put("dgc", dob="1899-12-31"), "dob-unknown-parts": put(
                "dgc", dob="1963-XX-XX"), "dob-number": put("dgc", dob=19640812),
            "no-group": put("dgc", **{kind: _DROP}),
            "two-groups": lambda dgc, e: dgc.__setitem__(other, dgc[kind]),
            "group-empty": put("dgc", **{kind: []}),
            "two-entries": lambda dgc, e: dgc.__setitem__(kind, [e, e]),
            "entry-not-map": put("dgc", **{kind: ["x"]}),
            "no-tg": put("entry", tg=_DROP), "tg-null": put("entry", tg=None),
            "no-ci": put("entry", ci=_DROP), "ci-empty": put("entry", ci=""),
            "ci-81": put("entry", ci="URN:UVCI:" + "X" * 72),
            "co-lower": put("entry", co="at"), "is-81": put("entry", **{"is": "I" * 81}),
            "entry-field-missing": put("entry", **{field_missing: _DROP}),
            "entry-field-wrong-type": put("entry", **{wrong_type[0]: wrong_type[1]}),
            "entry-field-bad-value": put("entry", **{bad_value[0]: bad_value[1]}),
        }
        for suffix, change in broken.items():
            self.vec(f"schema-{suffix}", {"EXPECTEDSCHEMAVALIDATION": False,
                                          "EXPECTEDVERIFY": True},
                     self.resigned(cert, self.with_dgc(change)))

        def tag_it(dgc: dict[str, Any], entry: dict[str, Any]) -> None:
            if not isinstance(entry[tagged[0]], cbor.Tag):  # some issuers tag it already
                entry[tagged[0]] = cbor.Tag(tagged[1], entry[tagged[0]])

        def unknown_fields(dgc: dict[str, Any], entry: dict[str, Any]) -> None:
            dgc["zz"] = {"x": [1, None]}
            entry["zz"] = 1

        valid: dict[str, Any] = {
            "dob-year": put("dgc", dob="1964"), "dob-year-month": put("dgc", dob="1964-08"),
            "dob-empty": put("dgc", dob=""), "dob-with-time": put("dgc", dob="1964-08-12T00:00:00"),
            "gnt-only": put("nam", fnt=_DROP, gnt="ERIKA"),
            "names-80": put("nam", fn="F" * 80, fnt="F" * 80),
            "unknown-fields": unknown_fields,
            "lenient-field": put("entry", **{k: (_DROP if v is None else v)
                                             for k, v in lenient.items()}),
            "tagged-date": tag_it,
        }
        for suffix, change in valid.items():
            self.vec(f"schema-ok-{suffix}", {
                "EXPECTEDSCHEMAVALIDATION": True, "EXPECTEDVERIFY": True,
                "EXPECTEDKEYUSAGE": True, "EXPECTEDEXPIRATIONCHECK": True},
                self.resigned(cert, self.with_dgc(change)))

    def indefinite(self, cert: x509.Certificate) -> None:
        """Indefinite-length CBOR (RFC 8949 section 3.2), as some issuers write it: the
        claims re-signed with every array, map and string of indefinite length; the
        genuine code's envelope re-written with indefinite lengths around its untouched
        protected header, payload and signature (its own certificate still verifies it);
        a protected header of indefinite length signed as written, or (wrongly) signed in
        its re-encoded definite form; and a misplaced break."""
        d = self.d
        claims = cbor.decode(self.msg.payload, max_items=100_000)
        ok = {"EXPECTEDVERIFY": True, "EXPECTEDSCHEMAVALIDATION": True,
              "EXPECTEDEXPIRATIONCHECK": True}
        if d.get("EXPECTEDRESULTS", {}).get("EXPECTEDDECODE") and "JSON" in d:
            ok["EXPECTEDDECODE"] = True
        self.vec("cbor-indefinite", ok, self.resigned(cert, indefinite(claims)))
        self.vec("cbor-indefinite-envelope", {
            f: w for f, w in d["EXPECTEDRESULTS"].items()
            if f in ("EXPECTEDVERIFY", "EXPECTEDDECODE", "EXPECTEDEXPIRATIONCHECK",
                     "EXPECTEDKEYUSAGE", "EXPECTEDSCHEMAVALIDATION")},
            _with_cose(d, indefinite_envelope(self.cose_bytes)))
        kid = kid_for_certificate(cert)
        prot = b"\xbf" + cbor.encode(1) + cbor.encode(cose.ALG_ES256) + cbor.encode(4) + \
            cbor.encode(kid) + b"\xff"
        self.vec("cbor-indefinite-protected", ok,
                 self.resigned(cert, self.msg.payload, protected=prot))
        self.vec("cbor-protected-re-encoded", {"EXPECTEDVERIFY": False},
                 self.resigned(cert, self.msg.payload, protected=prot,
                               signed_protected=cbor.encode(cbor.decode(prot))))
        misplaced = b"\xbf" + indefinite(claims)[1:-1] + cbor.encode(99) + b"\xff"
        self.vec("cbor-break-misplaced", {"EXPECTEDDECODE": False},
                 self.resigned(cert, misplaced))


class _Drop:
    """Marks a field to remove (see ``_Deriver.schema``)."""


_DROP = _Drop()


def indefinite(obj: Any) -> bytes:
    """``obj`` in CBOR with every array and map of indefinite length and every byte and
    text string of indefinite length in two chunks (RFC 8949 section 3.2)."""
    if isinstance(obj, bytes):
        return b"\x5f" + cbor.encode(obj[:len(obj) // 2]) + cbor.encode(obj[len(obj) // 2:]) \
            + b"\xff"
    if isinstance(obj, str):
        return b"\x7f" + cbor.encode(obj[:len(obj) // 2]) + cbor.encode(obj[len(obj) // 2:]) \
            + b"\xff"
    if isinstance(obj, list):
        return b"\x9f" + b"".join(indefinite(x) for x in obj) + b"\xff"
    if isinstance(obj, dict):
        return b"\xbf" + b"".join(indefinite(k) + indefinite(v) for k, v in obj.items()) \
            + b"\xff"
    if isinstance(obj, cbor.Tag):
        return cbor._head(6, obj.tag) + indefinite(obj.value)
    return cbor.encode(obj)


def indefinite_envelope(cose_bytes: bytes) -> bytes:
    """A COSE_Sign1 re-written with an indefinite-length array, unprotected map and
    chunked byte strings, its tags kept and its protected header, payload and signature
    bytes untouched: the same signature still verifies."""
    obj = cbor.decode(cose_bytes, max_items=100_000)
    tags = []
    while isinstance(obj, cbor.Tag):
        tags.append(obj.tag)
        obj = obj.value
    prot_b, unprot, payload, signature = obj
    out = b"\x9f" + b"".join((indefinite(prot_b), indefinite(unprot), indefinite(payload),
                              indefinite(signature))) + b"\xff"
    for t in reversed(tags):
        out = cbor._head(6, t) + out
    return out


def derived_vectors(base: list[tuple[str, dict[str, Any]]]) -> list[tuple[str, dict[str, Any]]]:
    """Vectors built from genuine ones by changing one thing each, with the result the EU
    checks list (BasicDgcTestsList.md) and the reference verifiers give for that change:
    the clock at / past ``exp`` and before ``iat``; a signer certificate valid from after
    ``iat`` (accepted while the clock is inside it), not yet valid or no longer valid at
    the clock; EKU that does or does not fit the DGC type; a forged signature, another
    country's certificate, kid placement (protected / unprotected, right / wrong), a CWT
    tag around the COSE tag, an alg that does not fit the key; each encoding stage
    broken; the DGC broken against the EU DCC schema one way at a time, or changed in
    ways the schema allows; and indefinite-length CBOR. Each says only what it tests,
    like the published ones."""
    key = ec.generate_private_key(ec.SECP256R1())
    out: list[tuple[str, dict[str, Any]]] = []
    certs = [d["TESTCTX"]["CERTIFICATE"] for _, d in base]
    for n, (name, d) in enumerate(base):
        _Deriver(name, d, key, out).all(other_cert=certs[(n + 5) % len(certs)])
    return out


def load_vectors(dirs: Iterable[Path]) -> list[tuple[str, dict[str, Any]]]:
    """Every ``*.json`` vector under ``dirs`` (named by its path), sorted."""
    out = []
    for base in dirs:
        for f in sorted(Path(base).rglob("*.json")):
            try:
                d = json.loads(f.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue
            if isinstance(d, dict) and "EXPECTEDRESULTS" in d:
                out.append((str(f.relative_to(base).with_suffix("")), d))
    return out


def main(argv: list[str]) -> int:
    derived = "--derived" in argv
    dirs = [Path(a) for a in argv if a != "--derived"] or [DCC_DIR]
    vectors = load_vectors(dirs)
    if derived:
        vectors += derived_vectors(vectors)
    reports = [check_vector(n, d) for n, d in vectors]
    for r in reports:
        if not r.passed:
            for f in r.failures():
                print(f"FAIL {r.name}: {f.flag} expected {f.expected}, got {f.got}")
    passed = sum(r.passed for r in reports)
    total = len(reports)
    print(f"{passed}/{total} vectors pass ({100 * passed / max(total, 1):.1f}%)")
    return 0 if passed == total else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
