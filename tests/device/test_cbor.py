"""The bounded CBOR decoder and deterministic encoder."""

from __future__ import annotations

import contextlib
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from device import cbor


@pytest.mark.parametrize(("hexdata", "value"), [  # RFC 8949 appendix A
    ("00", 0), ("17", 23), ("1818", 24), ("1903e8", 1000), ("1b000000e8d4a51000", 10**12),
    ("20", -1), ("3863", -100), ("40", b""), ("4401020304", b"\x01\x02\x03\x04"),
    ("60", ""), ("6449455446", "IETF"), ("62c3bc", "ü"), ("83010203", [1, 2, 3]),
    ("a201020304", {1: 2, 3: 4}), ("f4", False), ("f5", True), ("f6", None),
    ("f93e00", 1.5), ("fa47c35000", 100000.0), ("fb3ff199999999999a", 1.1),
    ("c11a514b67b0", cbor.Tag(1, 1363896240)),
])
def test_rfc_examples(hexdata: str, value: object) -> None:
    assert cbor.decode(bytes.fromhex(hexdata)) == value


def test_undefined_and_nan() -> None:
    assert cbor.decode(b"\xf7") is cbor.UNDEFINED
    assert math.isnan(cbor.decode(bytes.fromhex("f97e00")))


@pytest.mark.parametrize(("hexdata", "why"), [
    ("", "truncated"), ("18", "truncated"), ("62c3", "truncated"), ("8301", "exceeds"),
    ("5f42010243030405ff", "indefinite"), ("9f01ff", "indefinite"), ("ff", "break"),
    ("1c", "reserved"), ("f0", "simple"), ("f818", "simple"), ("62c328", "UTF-8"),
    ("a2010101 02".replace(" ", ""), "duplicate"), ("a1810102", "key of unsupported"),
    ("0001", "trailing"), ("a1", "exceeds"),
])
def test_malformed(hexdata: str, why: str) -> None:
    with pytest.raises(cbor.CBORError, match=why):
        cbor.decode(bytes.fromhex(hexdata))


def test_limits() -> None:
    nested = b"\x81" * 16 + b"\x00"
    assert cbor.decode(nested, max_depth=16) is not None
    with pytest.raises(cbor.CBORLimitError):
        cbor.decode(b"\x81" + nested, max_depth=16)
    with pytest.raises(cbor.CBORLimitError):
        cbor.decode(cbor.encode(list(range(100))), max_items=100)
    assert len(cbor.decode(cbor.encode(list(range(99))), max_items=100)) == 99
    # a huge declared length is refused before any allocation
    with pytest.raises(cbor.CBORError):
        cbor.decode(b"\x9b" + b"\xff" * 8)
    with pytest.raises(cbor.CBORError):
        cbor.decode(b"\x5b" + b"\x7f" * 8)


def test_deterministic_encoding() -> None:
    expected = bytes.fromhex("a40a032004616102616201")  # keys sorted bytewise (RFC 8949 4.2.1)
    assert cbor.encode({"b": 1, "a": 2, 10: 3, -1: 4}) == expected
    assert cbor.encode({-1: 4, 10: 3, "a": 2, "b": 1}) == expected
    assert cbor.encode(1000) == bytes.fromhex("1903e8")
    with pytest.raises(TypeError):
        cbor.encode(object())
    with pytest.raises(ValueError):
        cbor.encode(2**64)


leaves = (st.integers(min_value=-(2**64), max_value=2**64 - 1) | st.binary(max_size=40)
          | st.text(max_size=40) | st.booleans() | st.none()
          | st.floats(allow_nan=False))
values = st.recursive(
    leaves,
    lambda inner: st.lists(inner, max_size=5)
    | st.dictionaries(st.integers(-100, 100) | st.text(max_size=5), inner, max_size=5)
    | st.builds(cbor.Tag, st.integers(0, 2**32), inner),
    max_leaves=30,
)


@settings(max_examples=300, deadline=None)
@given(values)
def test_round_trip(value: object) -> None:
    assert cbor.decode(cbor.encode(value), max_depth=64, max_items=10**6) == value


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=200))
def test_random_bytes_decode_or_cborerror(data: bytes) -> None:
    with contextlib.suppress(cbor.CBORError):
        cbor.decode(data)
