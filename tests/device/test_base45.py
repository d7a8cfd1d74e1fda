"""Base45 (RFC 9285): the RFC's vectors, round trips and every kind of bad input."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from device.verify.codecs import base45

VECTORS = [(b"AB", "BB8"), (b"Hello!!", "%69 VD92EX0"), (b"base-45", "UJCLQE7W581"),
           (b"ietf!", "QED8WEX0"), (b"", ""), (b"\x00", "00"), (b"\xff\xff", "FGW")]


@pytest.mark.parametrize(("raw", "text"), VECTORS)
def test_rfc_vectors(raw: bytes, text: str) -> None:
    assert base45.encode(raw) == text
    assert base45.decode(text) == raw
    assert base45.decode(text.encode()) == raw


@pytest.mark.parametrize(("text", "why"), [
    ("GGW", "above 65535"), (":::", "above 65535"), ("A", "impossible"), ("ABCD", "impossible"),
    ("aBC", "not in the Base45 alphabet"), ("AB\n", "not in the Base45 alphabet"),
    ("ZZ", "above 255"), ("ÄB", "non-ASCII"),
])
def test_invalid(text: str, why: str) -> None:
    with pytest.raises(base45.Base45Error, match=why):
        base45.decode(text)


def test_length_bound_checked_first() -> None:
    with pytest.raises(base45.Base45Error, match="longer than"):
        base45.decode("0" * (base45.MAX_CHARS + 3))
    assert base45.decode("000" * 6, max_chars=18) == bytes(12)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=600))
def test_round_trip(data: bytes) -> None:
    assert base45.decode(base45.encode(data)) == data


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=base45.ALPHABET + "abc\x00é", max_size=400))
def test_decode_never_fails_otherwise(text: str) -> None:
    try:
        out = base45.decode(text)
    except base45.Base45Error:
        return
    assert base45.encode(out) == text  # canonical: every valid text round-trips


def test_triples_around_65535_exhaustively() -> None:
    # the decoder only checks triples whose last digit is 32 one by one (c2 <= 31 always
    # fits, c2 >= 33 never does): check every triple with c2 in 31..33 against the RFC rule
    for c2 in (31, 32, 33):
        for c1 in range(45):
            for c0 in range(45):
                text = base45.ALPHABET[c0] + base45.ALPHABET[c1] + base45.ALPHABET[c2]
                value = c0 + 45 * c1 + 2025 * c2
                if value <= 0xFFFF:
                    assert base45.decode("000" + text) == b"\0\0" + value.to_bytes(2, "big")
                else:
                    with pytest.raises(base45.Base45Error, match="above 65535"):
                        base45.decode("000" + text)


@settings(max_examples=200, deadline=None)
@given(st.binary(min_size=2, max_size=300), st.integers(0, 10**6))
def test_one_bad_triple_anywhere_is_refused(data: bytes, where: int) -> None:
    text = base45.encode(data)
    i = 3 * (where % (len(data) // 2))
    bad = text[:i] + ":::" + text[i + 3:]  # 44 + 45*44 + 2025*44 > 65535
    with pytest.raises(base45.Base45Error, match="above 65535"):
        base45.decode(bad)
