"""COSE_Sign1: Sig_structure bytes, ES256/ES384/PS256 sign and verify, header rules."""

from __future__ import annotations

from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)
from hypothesis import given, settings
from hypothesis import strategies as st

from device.verify.codecs import cbor, cose
from tests.device.verifier_fixtures import ec_key, rsa_key


def test_sig_structure_layout() -> None:
    tbs = cose.sig_structure(b"\xa1\x01\x26", b"payload")
    assert cbor.decode(tbs) == ["Signature1", b"\xa1\x01\x26", b"", b"payload"]
    assert cose.sig_structure(b"p", b"x" * 300) == cbor.encode(["Signature1", b"p", b"",
                                                                b"x" * 300])


def test_es256_raw_signature_is_r_concat_s_and_verifies_with_cryptography() -> None:
    key = ec_key()
    sig = cose.sign(cose.ALG_ES256, key, b"data")
    assert len(sig) == 64
    r, s = int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big")
    key.public_key().verify(encode_dss_signature(r, s), b"data", ec.ECDSA(hashes.SHA256()))
    assert cose.verify(cose.ALG_ES256, key.public_key(), b"data", sig)
    assert not cose.verify(cose.ALG_ES256, key.public_key(), b"datA", sig)
    assert not cose.verify(cose.ALG_ES256, key.public_key(), b"data", sig[:-1])
    assert not cose.verify(cose.ALG_ES256, ec_key().public_key(), b"data", sig)
    # a DER signature is not a COSE signature
    der = key.sign(b"data", ec.ECDSA(hashes.SHA256()))
    assert decode_dss_signature(der)
    assert not cose.verify(cose.ALG_ES256, key.public_key(), b"data", der)


def test_other_algorithms_and_key_mismatch() -> None:
    p384 = ec.generate_private_key(ec.SECP384R1())
    assert cose.alg_for_key(p384) == cose.ALG_ES384
    sig = cose.sign(cose.ALG_ES384, p384, b"m")
    assert len(sig) == 96 and cose.verify(cose.ALG_ES384, p384.public_key(), b"m", sig)
    assert not cose.verify(cose.ALG_ES256, p384.public_key(), b"m", sig)
    rsa = rsa_key()
    sig = cose.sign(cose.ALG_PS256, rsa, b"m")
    assert cose.verify(cose.ALG_PS256, rsa.public_key(), b"m", sig)
    assert not cose.verify(cose.ALG_ES256, rsa.public_key(), b"m", sig)
    assert not cose.verify(cose.ALG_PS256, ec_key().public_key(), b"m", sig)
    assert not cose.verify(-8, rsa.public_key(), b"m", sig)


def test_sign1_round_trip_and_header_precedence() -> None:
    key = ec_key()
    data = cose.sign1(b"hello", key, b"kid-prot", unprotected={4: b"kid-unpr", 1: -37})
    msg = cose.parse_sign1(cbor.decode(data))
    assert msg.kid == b"kid-prot" and msg.alg == cose.ALG_ES256  # protected wins
    assert msg.payload == b"hello"
    assert cose.verify(msg.alg, key.public_key(), msg.to_be_signed(), msg.signature)
    unprot = cose.parse_sign1(cbor.decode(cose.sign1(b"x", key, b"u", kid_in_protected=False)))
    assert unprot.kid == b"u"


def test_untagged_and_cwt_tagged_are_accepted() -> None:
    msg = cbor.decode(cose.sign1(b"x", ec_key(), b"k"))
    assert cose.parse_sign1(msg.value).kid == b"k"
    assert cose.parse_sign1(cbor.Tag(61, msg)).kid == b"k"


@pytest.mark.parametrize("obj", [
    cbor.Tag(98, [b"", {}, b"", b""]), [b"", {}, b""], [b"", {}, b"", b"", b""], "x",
    [b"", [], b"", b""], [b"", {}, None, b""], [b"", {}, b"", "sig"], ["p", {}, b"", b""],
    [b"\x01", {1: -7}, b"", b""], [cbor.encode([1]), {1: -7}, b"", b""],
    [b"", {}, b"", b""], [b"", {1: "ES256"}, b"", b""], [b"", {1: -7, 4: "kid"}, b"", b""],
    [b"", {1: True}, b"", b""],
])
def test_malformed_sign1(obj: object) -> None:
    with pytest.raises(cose.COSEError):
        cose.parse_sign1(obj)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from([32, 48, 66]), st.data())
def test_raw_to_der_matches_cryptography(size: int, data: st.DataObject) -> None:
    # leading zero bytes, high bits and zero values are the cases DER is particular about
    part = st.one_of(st.binary(min_size=size, max_size=size),
                     st.integers(0, size).map(lambda z: bytes(z) + b"\x80" * (size - z)),
                     st.integers(0, size).map(lambda z: bytes(z) + b"\x01" * (size - z)))
    r, s = data.draw(part), data.draw(part)
    expected = encode_dss_signature(int.from_bytes(r, "big"), int.from_bytes(s, "big"))
    assert cose.raw_to_der(r + s, size) == expected


def test_fast_constructors_build_the_same_objects() -> None:
    from device.verify.claims import Claims, _new_claims

    args = (b"\xa1\x01\x26", {1: -7}, {4: b"k"}, b"payload", b"s" * 64, -7, b"k")
    fast = cose._new_sign1(*args)
    assert fast == cose.Sign1(*args) and fast.to_be_signed() == cose.Sign1(*args).to_be_signed()
    c = ("AT", 1, 2, "ab", "green", "cd", "v")
    assert _new_claims(*c) == Claims(*c) and repr(_new_claims(*c)) == repr(Claims(*c))
    with pytest.raises(AttributeError):  # still frozen
        fast.alg = 1  # type: ignore[misc]


_KEYS: dict[str, Any] = {"p256": ec_key(), "p384": ec.generate_private_key(ec.SECP384R1()),
         "p521": ec.generate_private_key(ec.SECP521R1()), "rsa": rsa_key(),
         "k1": ec.generate_private_key(ec.SECP256K1())}


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(sorted(_KEYS)), st.sampled_from(sorted(_KEYS)),
       st.sampled_from([cose.ALG_ES256, cose.ALG_ES384, cose.ALG_ES512, cose.ALG_PS256, -8, 0]),
       st.binary(max_size=64), st.integers(0, 3))
def test_prepared_check_agrees_with_verify(signer: str, verifier: str, alg: int, data: bytes,
                                           damage: int) -> None:
    """cose.checker_for(key) is verify(alg, key, ...) with the key's type looked at once."""
    key = _KEYS[signer]
    try:
        sig = cose.sign(cose.alg_for_key(key), key, data)
    except cose.COSEError:  # secp256k1 has no COSE alg here: any bytes will do
        sig = bytes(64)
    if damage == 1:
        sig = sig[:-1] + bytes([sig[-1] ^ 1])
    elif damage == 2:
        sig = sig[:-1]
    elif damage == 3:
        data += b"!"
    pub = _KEYS[verifier].public_key()
    assert cose.checker_for(pub)(alg, data, sig) is cose.verify(alg, pub, data, sig)
    if signer == verifier and signer != "k1" and not damage and alg == cose.alg_for_key(key):
        assert cose.checker_for(pub)(alg, data, sig) is True


def _generic(data: bytes) -> cose.Sign1 | None:
    try:
        return cose.parse_sign1(cbor.decode(data, max_depth=6, max_items=64))
    except (cbor.CBORError, cose.COSEError):
        return None


def _fields(m: cose.Sign1) -> tuple[object, ...]:
    return (m.protected_bytes, m.protected, m.unprotected, m.payload, m.signature, m.alg, m.kid)


_KID = b"\x01\x02\x03\x04\x05\x06\x07\x08"
_LAYOUTS = [
    cbor.encode(cbor.Tag(18, [cbor.encode({1: -7, 4: _KID}), {}, b"p" * 100, b"s" * 64])),
    cbor.encode(cbor.Tag(18, [bytes.fromhex("a20448") + _KID + bytes.fromhex("0126"), {},
                              b"p" * 300, b"s" * 64])),  # kid first, as some DCCs have it
    cbor.encode(cbor.Tag(18, [cbor.encode({1: -7, 4: _KID}), {}, b"", b"s" * 64])),
    cbor.encode(cbor.Tag(18, [cbor.encode({1: -37, 4: _KID}), {}, b"p", b"s" * 256])),
]


@settings(max_examples=500, deadline=None)
@given(st.sampled_from(_LAYOUTS), st.lists(st.tuples(st.integers(0, 400), st.integers(0, 255)),
                                           max_size=3), st.integers(-3, 3))
def test_common_layout_reader_agrees_with_the_generic_decoder(
        data: bytes, flips: list[tuple[int, int]], cut: int) -> None:
    """parse_sign1_common returns what the generic path returns, or None (then the
    generic path decides): never a different Sign1, never an exception."""
    raw = bytearray(data)
    for pos, value in flips:
        if pos < len(raw):
            raw[pos] = value
    if cut < 0:
        raw = raw[:cut]
    elif cut > 0:
        raw += b"\x00" * cut
    fast = cose.parse_sign1_common(bytes(raw))
    if fast is not None:
        slow = _generic(bytes(raw))
        assert slow is not None and _fields(fast) == _fields(slow)


def test_common_layout_reader_takes_the_usual_codes() -> None:
    for data in _LAYOUTS[:3]:
        fast = cose.parse_sign1_common(data)
        assert fast is not None and _fields(fast) == _fields(_generic(data))  # type: ignore[arg-type]
    # anything else is left to the generic decoder (e.g. a two-byte alg such as PS256)
    assert cose.parse_sign1_common(_LAYOUTS[3]) is None
    assert cose.parse_sign1_common(cbor.encode(cbor.Tag(61, cbor.decode(_LAYOUTS[0])))) is None
    unprot = cbor.encode(cbor.Tag(18, [cbor.encode({1: -7}), {4: _KID}, b"p", b"s" * 64]))
    assert cose.parse_sign1_common(unprot) is None
    assert cose.parse_sign1_common(_LAYOUTS[0] + b"\x00") is None


def _chunked(data: bytes) -> bytes:
    half = len(data) // 2
    return b"\x5f" + cbor.encode(data[:half]) + cbor.encode(data[half:]) + b"\xff"


@pytest.mark.parametrize("indefinite", range(1, 32))
def test_indefinite_items_go_to_the_generic_decoder_and_sign_the_bytes_as_received(
        indefinite: int) -> None:
    """Any indefinite-length part (bit 0: the array, 1: the protected header's map,
    2: its byte string, 3: the unprotected map, 4: payload and signature chunked) makes
    the direct reader step aside; the generic decoder gives the same fields as for the
    definite layout, and the Sig_structure uses the protected bytes as received."""
    key = ec_key()
    body = cbor.encode({1: "x", 4: 2, 6: 1})
    prot_b = (b"\xbf\x01\x26\x04\x48" + _KID + b"\xff" if indefinite & 2
              else cbor.encode({1: -7, 4: _KID}))
    sig = cose.sign(cose.ALG_ES256, key, cose.sig_structure(prot_b, body))
    parts = [_chunked(prot_b) if indefinite & 4 else cbor.encode(prot_b),
             b"\xbf\xff" if indefinite & 8 else b"\xa0",
             _chunked(body) if indefinite & 16 else cbor.encode(body),
             _chunked(sig) if indefinite & 16 else cbor.encode(sig)]
    raw = b"\xd2" + (b"\x9f" + b"".join(parts) + b"\xff" if indefinite & 1
                     else b"\x84" + b"".join(parts))
    assert cose.parse_sign1_common(raw) is None
    msg = _generic(raw)
    assert msg is not None
    assert (msg.protected_bytes, msg.unprotected, msg.payload, msg.signature, msg.alg,
            msg.kid) == (prot_b, {}, body, sig, cose.ALG_ES256, _KID)
    assert msg.to_be_signed() == cose.sig_structure(prot_b, body)
    assert cose.verify(msg.alg, key.public_key(), msg.to_be_signed(), msg.signature)
