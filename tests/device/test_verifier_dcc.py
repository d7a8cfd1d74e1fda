"""EU DCC: the published samples, and the DCC-specific checks (kid sharing, EKU, PS256)."""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Any

import pytest

from device.verify.claims import CLAIM_EXP, CLAIM_HCERT, CLAIM_IAT
from device.verify.codecs import cbor
from device.verify.trustlist import SignerKey
from device.verify.verdict import Decision, Reason
from device.verify.verifier import Verifier
from sim.issuer import Issuer
from tests.device.dcc_vectors import DCC_DIR, check_vector, derived_vectors, load_vectors
from tests.device.verifier_fixtures import (
    EKU_RECOV,
    EKU_TEST,
    EKU_VACC,
    EKU_VACC_ALT,
    cert_signer,
    dcc_payload,
    dcc_samples,
    ec_key,
    kid_of,
    make_cert,
    resign,
    rsa_key,
)

SAMPLES = dcc_samples()
BY_NAME = {s.name: s for s in SAMPLES}


def test_samples_present() -> None:
    assert {s.name.split("-")[0] for s in SAMPLES} == {"AT", "BE", "DE", "IT", "SE"}
    assert len(SAMPLES) >= 20


VECTORS = load_vectors([DCC_DIR])
DERIVED = derived_vectors(VECTORS)
DERIVED_KINDS = sorted({name.split("~")[1] for name, _ in DERIVED})


@pytest.mark.parametrize(("name", "vector"), VECTORS, ids=[n for n, _ in VECTORS])
def test_published_vector_meets_every_expected_result(name: str, vector: dict[str, Any]) -> None:
    report = check_vector(name, vector)
    assert report.passed, [(f.flag, f.expected, f.got) for f in report.failures()]
    assert {r.flag for r in report.results} >= {"EXPECTEDVERIFY", "EXPECTEDUNPREFIX"}


@pytest.mark.parametrize("kind", DERIVED_KINDS)
def test_derived_vectors_meet_every_expected_result(kind: str) -> None:
    reports = [check_vector(n, d) for n, d in DERIVED if n.endswith("~" + kind)]
    assert len(reports) == len(VECTORS)
    failed = {r.name: [(f.flag, f.expected, f.got) for f in r.failures()]
              for r in reports if not r.passed}
    assert not failed


def test_the_harness_catches_a_wrong_result() -> None:
    """check_vector fails a vector whose expectation the verifier does not meet."""
    name, d = VECTORS[0]
    for flags in ({"EXPECTEDVERIFY": False}, {"EXPECTEDKEYUSAGE": False},
                  {"EXPECTEDEXPIRATIONCHECK": False}, {"EXPECTEDUNPREFIX": False},
                  {"EXPECTEDDECODE": False}, {"EXPECTEDSCHEMAVALIDATION": False}):
        assert not check_vector(name, {**d, "EXPECTEDRESULTS": flags}).passed, flags
    expired = dict(next(v for n, v in DERIVED if n == f"{name}~clock-after-exp"))
    assert not check_vector(name, {**expired, "EXPECTEDRESULTS": {
        "EXPECTEDEXPIRATIONCHECK": True}}).passed
    # an earlier expected failure masks a later check; an unexpected one does not
    forged = next(v for n, v in DERIVED if n == f"{name}~signature-forged")
    assert check_vector(name, {**forged, "EXPECTEDRESULTS": {
        "EXPECTEDVERIFY": False, "EXPECTEDEXPIRATIONCHECK": False}}).passed
    assert not check_vector(name, {**forged, "EXPECTEDRESULTS": {
        "EXPECTEDEXPIRATIONCHECK": False}}).passed
    report = check_vector(name, {**d, "EXPECTEDRESULTS": {"EXPECTEDPICTUREDECODE": True}})
    assert report.passed and report.not_applicable == ["EXPECTEDPICTUREDECODE"]
    # a DGC off the schema: the schema flag must say so, and its signature still verifies
    no_dob = next(v for n, v in DERIVED if n == f"{name}~schema-no-dob")
    for flags in ({"EXPECTEDSCHEMAVALIDATION": True}, {"EXPECTEDVERIFY": False},
                  {"EXPECTEDEXPIRATIONCHECK": True}):
        assert not check_vector(name, {**no_dob, "EXPECTEDRESULTS": flags}).passed, flags
    assert check_vector(name, {**no_dob, "EXPECTEDRESULTS": {
        "EXPECTEDSCHEMAVALIDATION": False, "EXPECTEDVERIFY": True}}).passed


@pytest.mark.parametrize("sample", SAMPLES, ids=lambda s: s.name)
def test_sample_verdict_carries_facts_and_nothing_personal(sample: Any) -> None:
    v = Verifier([sample.signer]).verify(sample.prefix, at=sample.at)
    assert v.reason is Reason.OK
    assert v.profile == "eu-dcc"
    assert v.kid == kid_of(sample.cert)
    assert v.cert_type in ("v", "t", "r")
    assert v.subject_ref is None and v.status is None
    assert v.iat is not None and v.exp is not None and v.iat <= sample.at <= v.exp
    # code id = SHA-256 of the UVCI, 32 hex chars; nothing personal in the verdict
    claims = cbor.decode(resign_payload(sample.cose_bytes()), max_items=10000)
    dgc = claims[CLAIM_HCERT][1]
    ci = dgc[v.cert_type][0]["ci"]
    assert v.code_id == hashlib.sha256(ci.encode()).hexdigest()[:32]
    text = repr(v.to_json()) + repr(v)
    assert dgc["nam"]["fn"] not in text and dgc["dob"] not in text


def resign_payload(cose_bytes: bytes) -> bytes:
    from device.verify.codecs import cose

    return cose.parse_sign1(cbor.decode(cose_bytes)).payload


def test_sample_valid_through_exp_inclusive_and_not_before_iat() -> None:
    s = BY_NAME["AT-1"]
    ver = Verifier([s.signer])
    ok = ver.verify(s.prefix, at=s.at)
    exp, iat = float(ok.exp or 0), float(ok.iat or 0)
    assert ver.verify(s.prefix, at=exp).reason is Reason.OK  # the exp instant itself
    assert ver.verify(s.prefix, at=exp + 0.5).reason is Reason.EXPIRED
    assert ver.verify(s.prefix, at=exp + 1).reason is Reason.EXPIRED
    early = ver.verify(s.prefix, at=iat - 3600)
    assert early.reason is Reason.NOT_YET_VALID and early.decision is Decision.DENY


def test_unknown_key_with_another_countrys_certificate() -> None:
    v = Verifier([BY_NAME["BE-1"].signer]).verify(BY_NAME["AT-1"].prefix, at=BY_NAME["AT-1"].at)
    assert v.reason is Reason.UNKNOWN_KEY


def test_kid_in_unprotected_header_is_used() -> None:
    s = BY_NAME["DE-1"]  # the German samples carry kid in the unprotected header
    assert Verifier([s.signer]).verify(s.prefix, at=s.at).reason is Reason.OK


def test_several_keys_share_a_kid_each_is_tried() -> None:
    s = BY_NAME["SE-1"]
    impostor = SignerKey.from_public_key(ec_key().public_key(), kid=kid_of(s.cert),
                                         profiles={"eu-dcc"})
    for order in ([impostor, s.signer], [s.signer, impostor]):
        assert Verifier(order).verify(s.prefix, at=s.at).reason is Reason.OK
    assert Verifier([impostor]).verify(s.prefix, at=s.at).reason is Reason.BAD_SIGNATURE


def test_protected_kid_wins_over_unprotected() -> None:
    s = BY_NAME["AT-1"]
    key = ec_key()
    cert = make_cert(key)
    kid = kid_of(cert)
    from device.verify.codecs import cose

    msg = cose.parse_sign1(cbor.decode(s.cose_bytes()))
    signed = cbor.decode(cose.sign1(msg.payload, key, kid, unprotected={4: b"\x00" * 8}))
    assert signed.value[1] == {4: b"\x00" * 8}
    v = Verifier([cert_signer(cert)]).verify(dcc_payload(cbor.encode(signed)), at=s.at)
    assert v.reason is Reason.OK and v.kid == kid


def _resigned(sample_name: str, eku: list[str]) -> tuple[str, SignerKey, float]:
    s = BY_NAME[sample_name]
    key = ec_key()
    cert = make_cert(key, eku=eku)
    return dcc_payload(resign(s.cose_bytes(), key, kid_of(cert))), cert_signer(cert), s.at


@pytest.mark.parametrize(("sample", "eku", "reason"), [
    ("AT-1", [EKU_VACC], Reason.OK),            # vaccination signed by a vaccination key
    ("AT-1", [EKU_VACC_ALT], Reason.OK),        # the .0. variant OID
    ("AT-1", [EKU_TEST], Reason.KEY_USAGE),     # vaccination signed by a test-only key
    ("AT-2", [EKU_RECOV], Reason.OK),
    ("AT-2", [EKU_TEST, EKU_VACC], Reason.KEY_USAGE),
    ("AT-3", [EKU_TEST, EKU_RECOV], Reason.OK),
    ("AT-3", ["1.3.6.1.5.5.7.3.2"], Reason.OK),  # no hcert OID at all: may sign any type
    ("AT-3", [], Reason.OK),
])
def test_extended_key_usage(sample: str, eku: list[str], reason: Reason) -> None:
    payload, signer, at = _resigned(sample, eku)
    assert Verifier([signer]).verify(payload, at=at).reason is reason


def test_key_usage_failure_comes_after_signature() -> None:
    payload, _, at = _resigned("AT-1", [EKU_TEST])
    other = make_cert(ec_key(), eku=[EKU_TEST])
    # same kid, wrong key: the signature stage fails first
    impostor = SignerKey.from_certificate(other, kid=_resigned_kid(payload), profiles={"eu-dcc"})
    assert Verifier([impostor]).verify(payload, at=at).reason is Reason.BAD_SIGNATURE


def _resigned_kid(payload: str) -> bytes:
    from device.verify.codecs import cose
    from device.verify.codeformat import unwrap

    return cose.parse_sign1(cbor.decode(unwrap(payload)[1])).kid or b""


def test_ps256_signed_dcc_verifies() -> None:
    s = BY_NAME["IT-2"]
    key = rsa_key()
    cert = make_cert(key)
    payload = dcc_payload(resign(s.cose_bytes(), key, kid_of(cert)))
    v = Verifier([cert_signer(cert)]).verify(payload, at=s.at)
    assert v.reason is Reason.OK
    # an EC key under the same kid cannot verify a PS256 signature
    ec_signer = SignerKey.from_public_key(ec_key().public_key(), kid=kid_of(cert),
                                          profiles={"eu-dcc"})
    assert Verifier([ec_signer]).verify(payload, at=s.at).reason is Reason.BAD_SIGNATURE


def _signed_by_cert(sample: Any, not_before: dt.datetime,
                    not_after: dt.datetime) -> tuple[str, SignerKey]:
    key = ec_key()
    cert = make_cert(key, not_before=not_before, not_after=not_after)
    return dcc_payload(resign(sample.cose_bytes(), key, kid_of(cert))), cert_signer(cert)


def _utc(t: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(t, dt.UTC)


def test_iat_before_the_certificate_is_accepted_while_the_check_time_is_inside_it() -> None:
    """EU reference rule: the signer certificate is judged at the check time, not at iat."""
    s = BY_NAME["AT-1"]  # iat == the sample's clock
    payload, signer = _signed_by_cert(s, _utc(s.at + 3600), _utc(s.at + 400 * 86400))
    ver = Verifier([signer])
    assert ver.verify(payload, at=s.at + 7200).reason is Reason.OK
    assert ver.verify(payload, at=s.at + 3600).reason is Reason.OK  # not_before itself


@pytest.mark.parametrize("profile", ["eu-dcc", "scangate"])
def test_check_time_outside_the_signer_validity_is_a_time_denial(profile: str) -> None:
    """Before the key's not_before: not_yet_valid; after its not_after: expired."""
    s = BY_NAME["AT-1"]
    if profile == "eu-dcc":
        payload, signer = _signed_by_cert(s, _utc(s.at + 86400), _utc(s.at + 2 * 86400))
        iat = s.at
    else:
        key = ec_key()
        signer = SignerKey.from_public_key(key.public_key(), profiles={"scangate"},
                                           not_before=s.at + 86400, not_after=s.at + 2 * 86400)
        payload = Issuer(key).mint(valid_s=10 * 86400, now=s.at)
        iat = s.at
    ver = Verifier([signer])
    early = ver.verify(payload, at=iat + 3600)
    assert (early.reason, early.profile) == (Reason.NOT_YET_VALID, profile)
    assert "signer key" in early.detail
    assert ver.verify(payload, at=iat + 86400).reason is Reason.OK
    assert ver.verify(payload, at=iat + 2 * 86400).reason is Reason.OK  # not_after itself
    late = ver.verify(payload, at=iat + 2 * 86400 + 1)
    assert late.reason is Reason.EXPIRED and "signer key" in late.detail


def test_key_for_scangate_profile_only_cannot_sign_dcc() -> None:
    s = BY_NAME["SE-2"]
    signer = SignerKey.from_certificate(s.cert, profiles={"scangate"})
    assert Verifier([signer]).verify(s.prefix, at=s.at).reason is Reason.KEY_USAGE


@pytest.mark.parametrize(("mutate", "after_signature"), [
    (lambda c: c.pop(CLAIM_EXP), False),
    (lambda c: c.__setitem__(CLAIM_IAT, "yesterday"), False),
    (lambda c: c.pop(CLAIM_HCERT), False),
    (lambda c: c.__setitem__(CLAIM_HCERT, {2: {}}), False),
    (lambda c: c[CLAIM_HCERT].__setitem__(1, "not a map"), True),
    (lambda c: c[CLAIM_HCERT][1].__setitem__("t", c[CLAIM_HCERT][1]["v"]), True),
    (lambda c: c[CLAIM_HCERT][1]["v"][0].pop("ci"), True),
    (lambda c: c[CLAIM_HCERT][1].pop("dob"), True),
])
def test_dcc_structure_errors(mutate: Any, after_signature: bool) -> None:
    """The CWT (stage 4) is judged before the signature, the DGC (stage 7) after it: a
    DGC off the schema is bad_structure with the claims reported, as facts are once the
    signature verified."""
    s = BY_NAME["AT-1"]
    key = ec_key()
    cert = make_cert(key)
    payload = dcc_payload(resign(s.cose_bytes(), key, kid_of(cert), mutate=mutate))
    v = Verifier([cert_signer(cert)]).verify(payload, at=s.at)
    assert v.reason is Reason.BAD_STRUCTURE and v.decision is Decision.DENY
    assert v.detail.startswith("DGC schema: ") is after_signature
    assert (v.iat is not None) is after_signature and (v.kid is not None) is after_signature


def _schema_broken(mutate: Any, *, eku: tuple[str, ...] = (),
                   sample: str = "AT-1") -> tuple[str, SignerKey, float]:
    s = BY_NAME[sample]
    key = ec_key()
    cert = make_cert(key, eku=eku)
    return (dcc_payload(resign(s.cose_bytes(), key, kid_of(cert), mutate=mutate)),
            cert_signer(cert), s.at)


def test_dgc_schema_stage_comes_after_the_signature_and_before_key_usage_and_time() -> None:
    """docs/code-format.md section 6: signature (6), DCC schema (7), key usage (8),
    validity window (9)."""
    def no_dob(c: dict[Any, Any]) -> None:
        del c[CLAIM_HCERT][1]["dob"]

    payload, signer, at = _schema_broken(no_dob, eku=(EKU_TEST,))  # a vaccination, test key
    ver = Verifier([signer])
    late = float(Verifier([signer]).verify(payload, at=at).exp or 0) + 3600
    for when in (at, late):  # wrong EKU, and also expired: the schema stage still first
        v = ver.verify(payload, at=when)
        assert (v.reason, v.detail) == (Reason.BAD_STRUCTURE, "DGC schema: dob missing")
    forged = SignerKey.from_public_key(ec_key().public_key(), kid=signer.kid,
                                       profiles={"eu-dcc"})
    assert Verifier([forged]).verify(payload, at=late).reason is Reason.BAD_SIGNATURE
    fine, signer2, _ = _schema_broken(lambda c: None, eku=(EKU_TEST,))
    assert Verifier([signer2]).verify(fine, at=late).reason is Reason.KEY_USAGE
    fine3, signer3, _ = _schema_broken(lambda c: None)
    assert Verifier([signer3]).verify(fine3, at=late).reason is Reason.EXPIRED


@pytest.mark.parametrize(("field", "value"), [
    ("dob", "1899-02-26"), ("nam", {"fn": "Gößinger", "fnt": "Gößinger"}),
    ("v", [{"ci": "URN:UVCI:01:AT:SECRET", "dn": 0}]),
])
def test_a_schema_failure_names_the_field_never_its_value(field: str, value: Any) -> None:
    def put(c: dict[Any, Any]) -> None:
        c[CLAIM_HCERT][1][field] = value

    payload, signer, at = _schema_broken(put)
    v = Verifier([signer]).verify(payload, at=at)
    assert v.reason is Reason.BAD_STRUCTURE and field in v.detail
    text = repr(v) + repr(v.to_json())
    for secret in ("1899", "Gößinger", "SECRET", "Musterfrau", "1998-02-26"):
        assert secret not in text


def test_each_kind_of_dcc_is_checked_against_its_entry_rules() -> None:
    for sample, field in (("AT-1", "dt"), ("AT-3", "sc"), ("AT-2", "du")):
        kind = {"AT-1": "v", "AT-3": "t", "AT-2": "r"}[sample]

        def drop(c: dict[Any, Any], kind: str = kind, field: str = field) -> None:
            del c[CLAIM_HCERT][1][kind][0][field]

        payload, signer, at = _schema_broken(drop, sample=sample)
        v = Verifier([signer]).verify(payload, at=at)
        assert (v.reason, v.detail, v.cert_type) == (
            Reason.BAD_STRUCTURE, f"DGC schema: {kind}[0].{field} missing", kind)
