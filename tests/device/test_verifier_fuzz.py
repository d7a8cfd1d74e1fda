"""Fuzzing every parser with hypothesis: random and mutated input never escapes as an
exception, and every verdict is a clean DENY (or a genuine ACCEPT). Bounded to a few
seconds per test (max_examples, no deadline)."""

from __future__ import annotations

import contextlib
import copy
import tracemalloc
import zlib

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from device.verify.claims import decode_claims
from device.verify.codecs import base45, cbor, cose
from device.verify.codeformat import (
    MAX_DECOMPRESSED_BYTES,
    MAX_PAYLOAD_CHARS,
    PROFILE_DCC,
    PROFILE_SCANGATE,
    Reject,
    bounded_decompress,
    unwrap,
    wrap,
)
from device.verify.dccschema import check_dgc
from device.verify.trustlist import SignerKey
from device.verify.verdict import Decision, Reason, Verdict
from device.verify.verifier import Verifier
from sim.issuer import Issuer
from tests.device.dcc_vectors import indefinite, indefinite_envelope
from tests.device.verifier_fixtures import dcc_samples, ec_key

NOW = 1_800_000_000.0
ISSUER = Issuer(ec_key())
DCC = next(s for s in dcc_samples() if s.name == "SE-1")
VERIFIER = Verifier([ISSUER_KEY := __import__("device.verify.trustlist", fromlist=["x"]).SignerKey
                     .from_public_key(ISSUER.private_key.public_key(),
                                      profiles={"scangate"}), DCC.signer])
#: the issuer's key trusted for both profiles: signed DCC claims reach every later stage
DCC_VERIFIER = Verifier([SignerKey.from_public_key(ISSUER.private_key.public_key(),
                                                   profiles={"scangate", "eu-dcc"})])
GOOD_SG = ISSUER.mint("green", now=NOW)
GOOD_DCC = DCC.prefix
FUZZ = settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
ALPHABET = base45.ALPHABET + "abcxyz\x00\n\té中"


def check(v: object, *, may_accept: bool = False) -> Verdict:
    assert isinstance(v, Verdict)
    assert not v.detail.startswith("internal error"), v.detail
    assert isinstance(v.reason, Reason)
    if not may_accept:
        assert v.decision is Decision.DENY
    assert (v.decision is Decision.ACCEPT) == (v.reason is Reason.OK)
    return v


@FUZZ
@given(st.text(alphabet=ALPHABET, max_size=500) | st.binary(max_size=500))
def test_random_payloads(payload: str | bytes) -> None:
    check(VERIFIER.verify(payload, at=NOW))


@FUZZ
@given(st.sampled_from(["SG1:", "HC1:"]), st.text(alphabet=base45.ALPHABET, max_size=600))
def test_random_base45_after_a_prefix(prefix: str, body: str) -> None:
    check(VERIFIER.verify(prefix + body, at=NOW))


@FUZZ
@given(st.sampled_from([PROFILE_SCANGATE, PROFILE_DCC]), st.binary(max_size=400))
def test_random_cose_bytes(profile: str, blob: bytes) -> None:
    check(VERIFIER.verify(wrap(profile, blob), at=NOW))


def _mutate(data: bytes, edits: list[tuple[int, int, int]]) -> bytes:
    buf = bytearray(data)
    for op, pos, val in edits:
        if not buf:
            break
        i = pos % len(buf)
        if op == 0:
            buf[i] = val
        elif op == 1:
            del buf[i]
        else:
            buf.insert(i, val)
    return bytes(buf)


EDITS = st.lists(st.tuples(st.integers(0, 2), st.integers(0, 10**6), st.integers(0, 255)),
                 min_size=1, max_size=4)


@FUZZ
@given(st.sampled_from([GOOD_SG, GOOD_DCC]), EDITS)
def test_mutated_text_of_valid_codes(good: str, edits: list[tuple[int, int, int]]) -> None:
    mutated = _mutate(good.encode(), edits)
    check(VERIFIER.verify(mutated, at=DCC.at), may_accept=True)


@FUZZ
@given(st.sampled_from([GOOD_SG, GOOD_DCC]), EDITS)
def test_mutated_compressed_bytes(good: str, edits: list[tuple[int, int, int]]) -> None:
    comp = _mutate(base45.decode(good[4:]), edits)
    check(VERIFIER.verify(good[:4] + base45.encode(comp), at=DCC.at), may_accept=True)


@FUZZ
@given(st.sampled_from([GOOD_SG, GOOD_DCC]), EDITS)
def test_mutated_cose_bytes(good: str, edits: list[tuple[int, int, int]]) -> None:
    profile, cose_bytes = unwrap(good)
    mutated = _mutate(cose_bytes, edits)
    v = check(VERIFIER.verify(wrap(profile, mutated), at=DCC.at), may_accept=True)
    if v.accepted:  # only a change outside the signed bytes can keep a code valid
        orig, new = (cose.parse_sign1(cbor.decode(b)) for b in (cose_bytes, mutated))
        assert (orig.protected_bytes, orig.payload, orig.signature) == (
            new.protected_bytes, new.payload, new.signature)


@FUZZ
@given(st.sampled_from([PROFILE_SCANGATE, PROFILE_DCC]), EDITS)
def test_mutated_claims_with_valid_signature(profile: str, edits: list[tuple[int, int, int]]
                                             ) -> None:
    """Correctly signed garbage claims reach the CWT parser and the later stages."""
    source = unwrap(GOOD_SG if profile == PROFILE_SCANGATE else GOOD_DCC)[1]
    payload = _mutate(cose.parse_sign1(cbor.decode(source)).payload, edits)
    signed = cose.sign1(payload, ISSUER.private_key, ISSUER.kid)
    check(VERIFIER.verify(wrap(profile, signed), at=NOW), may_accept=True)
    try:
        decode_claims(profile, payload)
    except Reject as r:
        assert r.reason in (Reason.BAD_STRUCTURE, Reason.TOO_LARGE)


@FUZZ
@given(st.sampled_from([GOOD_SG, GOOD_DCC]), EDITS)
def test_mutated_indefinite_length_cose_bytes(good: str, edits: list[tuple[int, int, int]]
                                              ) -> None:
    """The genuine codes re-written with indefinite lengths (still valid), then mutated."""
    profile, cose_bytes = unwrap(good)
    at = DCC.at if profile == PROFILE_DCC else NOW
    rewritten = indefinite_envelope(cose_bytes)
    assert VERIFIER.verify(wrap(profile, rewritten), at=at).accepted
    mutated = _mutate(rewritten, edits)
    v = check(VERIFIER.verify(wrap(profile, mutated), at=at), may_accept=True)
    if v.accepted:  # only a change outside the signed bytes can keep a code valid
        orig, new = (cose.parse_sign1(cbor.decode(b)) for b in (cose_bytes, mutated))
        assert (orig.protected_bytes, orig.payload, orig.signature) == (
            new.protected_bytes, new.payload, new.signature)


@FUZZ
@given(st.sampled_from([PROFILE_SCANGATE, PROFILE_DCC]), EDITS)
def test_mutated_indefinite_length_claims_with_valid_signature(
        profile: str, edits: list[tuple[int, int, int]]) -> None:
    source = unwrap(GOOD_SG if profile == PROFILE_SCANGATE else GOOD_DCC)[1]
    claims = cbor.decode(cose.parse_sign1(cbor.decode(source)).payload)
    payload = _mutate(indefinite(claims), edits)
    key = ISSUER.private_key
    signed = cose.sign1(payload, key, ISSUER.kid)
    check(DCC_VERIFIER.verify(wrap(profile, signed), at=DCC.at), may_accept=True)


_DGC = cbor.decode(cose.parse_sign1(cbor.decode(unwrap(GOOD_DCC)[1])).payload)
_FIELDS = sorted({"ver", "nam", "dob", "v", "t", "r", "fnt", "gnt", "fn", "gn", "tg", "vp",
                  "mp", "ma", "dn", "sd", "dt", "co", "is", "ci", "sc", "tr", "tc", "df"})
_VALUES = st.sampled_from([None, True, 0, 1, 10, -1, 1.0, 2.5, "", "AT", "at", "1964",
                           "1899-01-01", "1964-08-12T00:00:00", "X" * 81, "MUSTER<X", "1.3.0",
                           [], [{}], {}, {"fnt": "X"}, cbor.Tag(0, "2021"), cbor.Tag(9, 1),
                           b"bytes", cbor.UNDEFINED])


@FUZZ
@given(st.lists(st.tuples(st.sampled_from(["dgc", "nam", "entry"]), st.sampled_from(_FIELDS),
                          st.one_of(st.just("drop"), _VALUES)), min_size=1, max_size=4))
def test_signed_dccs_with_changed_documents(edits: list[tuple[str, str, object]]) -> None:
    """Genuinely signed DCCs whose DGC is changed field by field: the verdict is OK exactly
    when the schema check passes, else bad_structure naming a field (stage 7)."""
    claims = copy.deepcopy(_DGC)
    dgc = claims[-260][1]
    for where, name, value in edits:
        target = dgc if where == "dgc" else dgc.get("nam") if where == "nam" else next(
            (g[0] for k in ("v", "t", "r") if isinstance(g := dgc.get(k), list) and g
             and isinstance(g[0], dict)), None)
        if not isinstance(target, dict):
            continue
        if value == "drop":
            target.pop(name, None)
        else:
            target[name] = copy.deepcopy(value)  # the samples are shared between examples
    signed = cose.sign1(cbor.encode(claims), ISSUER.private_key, ISSUER.kid)
    v = check(DCC_VERIFIER.verify(wrap(PROFILE_DCC, signed), at=DCC.at), may_accept=True)
    problem = check_dgc(dgc)[0]
    if problem is None:
        assert v.reason is Reason.OK, v.detail
    else:
        assert (v.reason, v.detail) == (Reason.BAD_STRUCTURE, "DGC schema: " + problem)


@FUZZ
@given(st.binary(max_size=300))
def test_zlib_stage(blob: bytes) -> None:
    try:
        out = bounded_decompress(blob)
    except Reject as r:
        assert r.reason in (Reason.BAD_COMPRESSION, Reason.TOO_LARGE)
    else:
        assert len(out) <= MAX_DECOMPRESSED_BYTES


@FUZZ
@given(st.binary(max_size=300))
def test_cose_parser(blob: bytes) -> None:
    with contextlib.suppress(cbor.CBORError, cose.COSEError):
        cose.parse_sign1(cbor.decode(blob))


class _CountingDecompressor:
    """Wraps a real zlib decompressor and counts the bytes it hands out."""

    produced = 0

    def __init__(self) -> None:
        self._d = _real_decompressobj()

    def decompress(self, data: bytes, max_length: int = 0) -> bytes:
        out = self._d.decompress(data, max_length)
        _CountingDecompressor.produced += len(out)
        return out

    def __getattr__(self, name: str) -> object:
        return getattr(self._d, name)


_real_decompressobj = zlib.decompressobj


def test_zlib_bomb_refused_having_read_no_more_than_the_cap(monkeypatch: pytest.MonkeyPatch
                                                            ) -> None:
    bomb = zlib.compress(b"\x00" * (10 * 2**20), 9)  # 10 MB of zeros, ~10 KB compressed
    monkeypatch.setattr(zlib, "decompressobj", _CountingDecompressor)
    _CountingDecompressor.produced = 0
    tracemalloc.start()
    try:
        with pytest.raises(Reject) as exc:
            bounded_decompress(bomb)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert exc.value.reason is Reason.TOO_LARGE
    assert _CountingDecompressor.produced <= MAX_DECOMPRESSED_BYTES + 1
    assert peak < 256 * 1024, peak  # 10 MB if it had been inflated


def test_zlib_bomb_through_the_verifier() -> None:
    # the biggest bomb a QR code can carry (about 2.8 MB of zeros)
    bomb = zlib.compress(b"\x00" * (2800 * 1024), 9)
    payload = "SG1:" + base45.encode(bomb)
    assert len(payload) <= MAX_PAYLOAD_CHARS
    tracemalloc.start()
    try:
        v = VERIFIER.verify(payload, at=NOW)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert v.reason is Reason.TOO_LARGE
    assert peak < 256 * 1024, peak


_ROOT = ec_key()
_GOOD_LIST = __import__("sim.keys", fromlist=["x"]).sign_trust_list(
    _ROOT, 3, NOW, NOW + 3600, [DCC.signer, ISSUER_KEY], ["ab" * 16])


@FUZZ
@given(EDITS)
def test_trust_list_parser_mutations(edits: list[tuple[int, int, int]]) -> None:
    from device.errors import TrustListError
    from device.verify.trustlist import TrustList

    data = _mutate(_GOOD_LIST, edits)
    try:
        tl = TrustList.from_bytes(data, _ROOT.public_key())
    except TrustListError:
        return
    assert tl.version == 3  # only an unsigned part (e.g. the empty unprotected map) changed


@FUZZ
@given(st.binary(max_size=400))
def test_trust_list_parser_random(data: bytes) -> None:
    from device.errors import TrustListError
    from device.verify.trustlist import TrustList

    with pytest.raises(TrustListError):
        TrustList.from_bytes(data, _ROOT.public_key())


@FUZZ
@given(st.binary(max_size=300) | st.sampled_from([b"-----BEGIN CERTIFICATE-----\nAAAA\n",
                                                   b"-----BEGIN PUBLIC KEY-----\n\n"]))
def test_key_file_parser(data: bytes) -> None:
    from device.errors import KeyLoadError
    from device.verify.keys import parse_public_key

    with pytest.raises(KeyLoadError):
        parse_public_key(data)
