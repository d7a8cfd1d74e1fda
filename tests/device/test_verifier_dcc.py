"""EU DCC: the published samples, and the DCC-specific checks (kid sharing, EKU, PS256)."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest

from device.verify.claims import CLAIM_EXP, CLAIM_HCERT, CLAIM_IAT
from device.verify.codecs import cbor
from device.verify.trustlist import SignerKey
from device.verify.verdict import Decision, Reason
from device.verify.verifier import Verifier
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


@pytest.mark.parametrize("sample", SAMPLES, ids=lambda s: s.name)
def test_sample_verifies_at_its_clock(sample: Any) -> None:
    v = Verifier([sample.signer]).verify(sample.prefix, at=sample.at)
    expected_ok = sample.expected.get("EXPECTEDVERIFY", True) and sample.expected.get(
        "EXPECTEDEXPIRATIONCHECK", True)
    assert v.accepted is expected_ok, v.detail
    assert v.reason is Reason.OK
    assert v.profile == "eu-dcc"
    assert v.kid == kid_of(sample.cert)
    assert v.cert_type in ("v", "t", "r")
    assert v.subject_ref is None and v.status is None
    assert v.iat is not None and v.exp is not None and v.iat <= sample.at < v.exp
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


def test_sample_expired_after_exp_and_not_yet_valid_before_iat() -> None:
    s = BY_NAME["AT-1"]
    ver = Verifier([s.signer])
    ok = ver.verify(s.prefix, at=s.at)
    assert ver.verify(s.prefix, at=float(ok.exp or 0)).reason is Reason.EXPIRED
    assert ver.verify(s.prefix, at=float(ok.exp or 0) - 1).reason is Reason.OK
    early = ver.verify(s.prefix, at=float(ok.iat or 0) - 3600)
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


def test_signer_certificate_outside_validity_at_signing_is_key_usage() -> None:
    import datetime as dt

    s = BY_NAME["AT-1"]
    key = ec_key()
    cert = make_cert(key, not_before=dt.datetime(2019, 1, 1, tzinfo=dt.UTC),
                     not_after=dt.datetime(2020, 1, 1, tzinfo=dt.UTC))
    payload = dcc_payload(resign(s.cose_bytes(), key, kid_of(cert)))
    assert Verifier([cert_signer(cert)]).verify(payload, at=s.at).reason is Reason.KEY_USAGE


def test_key_for_scangate_profile_only_cannot_sign_dcc() -> None:
    s = BY_NAME["SE-2"]
    signer = SignerKey.from_certificate(s.cert, profiles={"scangate"})
    assert Verifier([signer]).verify(s.prefix, at=s.at).reason is Reason.KEY_USAGE


@pytest.mark.parametrize(("mutate", "reason"), [
    (lambda c: c.pop(CLAIM_EXP), Reason.BAD_STRUCTURE),
    (lambda c: c.__setitem__(CLAIM_IAT, "yesterday"), Reason.BAD_STRUCTURE),
    (lambda c: c.pop(CLAIM_HCERT), Reason.BAD_STRUCTURE),
    (lambda c: c[CLAIM_HCERT][1].__setitem__("t", c[CLAIM_HCERT][1]["v"]), Reason.BAD_STRUCTURE),
    (lambda c: c[CLAIM_HCERT][1]["v"][0].pop("ci"), Reason.BAD_STRUCTURE),
])
def test_dcc_structure_errors(mutate: Any, reason: Reason) -> None:
    s = BY_NAME["AT-1"]
    key = ec_key()
    cert = make_cert(key)
    payload = dcc_payload(resign(s.cose_bytes(), key, kid_of(cert), mutate=mutate))
    assert Verifier([cert_signer(cert)]).verify(payload, at=s.at).reason is reason
