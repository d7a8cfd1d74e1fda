"""The bounded CBOR decoder and deterministic encoder."""

from __future__ import annotations

import contextlib
import math
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from device.verify.codecs import cbor


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
    ("a1c10501", "key of unsupported"), ("a1f701", "key of unsupported"),  # tag / undefined key
    ("a201f50102", "duplicate"),  # 1 and true are equal keys
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


def test_depth_counts_arrays_maps_and_tags_and_an_empty_container_is_free() -> None:
    """docs/code-format.md section 7: the deepest item may be at depth max_depth."""
    for head in (b"\x81", b"\xa1\x00", b"\xc1"):  # one-item array, one-entry map, tag 1
        at_limit = head * 3 + b"\x00"  # the integer at depth 3
        assert cbor.decode(at_limit, max_depth=3) is not None
        with pytest.raises(cbor.CBORLimitError):
            cbor.decode(head + at_limit, max_depth=3)
    assert cbor.decode(b"\x81" * 3 + b"\x80", max_depth=3) == [[[[]]]]  # empty at depth 3
    assert cbor.decode(b"\x81" * 3 + b"\xa0", max_depth=3) == [[[{}]]]
    with pytest.raises(cbor.CBORLimitError):
        cbor.decode(b"\x81" * 3 + b"\x81\x00", max_depth=3)
    # map keys are one level down like values (a key cannot be a container, but a tag is
    # refused as a key whatever the depth)
    assert cbor.decode(b"\xa1\x01\x02", max_depth=1) == {1: 2}
    with pytest.raises(cbor.CBORLimitError):
        cbor.decode(b"\xa1\x01\x02", max_depth=0)


def test_items_count_every_key_value_and_tag() -> None:
    assert cbor.decode(b"\xa1\x01\x02", max_items=3) == {1: 2}  # map + key + value
    with pytest.raises(cbor.CBORLimitError):
        cbor.decode(b"\xa1\x01\x02", max_items=2)
    assert cbor.decode(b"\xc1\x00", max_items=2) == cbor.Tag(1, 0)  # tag + its item
    with pytest.raises(cbor.CBORLimitError):
        cbor.decode(b"\xc1\x00", max_items=1)


def test_a_length_past_the_end_is_malformed_not_over_a_limit() -> None:
    for data in (b"\x9a\xff\xff\xff\xff\x00", b"\xba\xff\xff\xff\xff\x00\x00",
                 b"\x5a\xff\xff\xff\xff\x00", b"\x59\x01\x00\x00"):
        with pytest.raises(cbor.CBORError) as exc:
            cbor.decode(data, max_items=2, max_depth=0)
        assert not isinstance(exc.value, cbor.CBORLimitError), data.hex()


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


# ---------------------------------------------------------------- against a plain reference
# The decoder inlines short strings and small ints and charges container items up front;
# this straightforward one-item-at-a-time decoder (no limits) pins down what it must return.


def _ref_item(data: bytes, pos: int) -> tuple[object, int]:
    ib = data[pos]
    pos += 1
    major, info = ib >> 5, ib & 0x1F
    if major == 7:
        simple = {20: False, 21: True, 22: None, 23: cbor.UNDEFINED}
        if info in simple:
            return simple[info], pos
        fmt, size = {25: (">e", 2), 26: (">f", 4), 27: (">d", 8)}[info]
        if pos + size > len(data):
            raise IndexError
        return struct.unpack(fmt, data[pos:pos + size])[0], pos + size
    if info < 24:
        arg = info
    else:
        size = {24: 1, 25: 2, 26: 4, 27: 8}[info]
        if pos + size > len(data):
            raise IndexError
        arg, pos = int.from_bytes(data[pos:pos + size], "big"), pos + size
    if major == 0:
        return arg, pos
    if major == 1:
        return -1 - arg, pos
    if major in (2, 3):
        if pos + arg > len(data):
            raise IndexError
        raw = data[pos:pos + arg]
        return (raw if major == 2 else raw.decode("utf-8")), pos + arg
    if major == 4:
        out = []
        for _ in range(arg):
            v, pos = _ref_item(data, pos)
            out.append(v)
        return out, pos
    if major == 5:
        m: dict[object, object] = {}
        for _ in range(arg):
            k, pos = _ref_item(data, pos)
            v, pos = _ref_item(data, pos)
            if k in m:
                raise KeyError
            m[k] = v
        return m, pos
    v, pos = _ref_item(data, pos)
    return cbor.Tag(arg, v), pos


def _ref_decode(data: bytes) -> object:
    try:
        value, pos = _ref_item(data, 0)
    except (IndexError, KeyError, TypeError, UnicodeDecodeError, RecursionError):
        return _INVALID
    return value if pos == len(data) else _INVALID


_INVALID = object()


def _same(a: object, b: object) -> bool:
    if type(a) is not type(b):
        return False
    if isinstance(a, float) and isinstance(b, float):
        return a == b or (math.isnan(a) and math.isnan(b))
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return list(a) == list(b) and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, cbor.Tag) and isinstance(b, cbor.Tag):
        return a.tag == b.tag and _same(a.value, b.value)
    return a == b


_SEEDS = [cbor.encode(v) for v in (
    {1: "AT", 4: 1635876000, 6: 1620324000, -260: {1: {"v": [{"ci": "URN:UVCI:01:AT:" + "X" * 30,
                                                          "dn": 1, "is": "Ministry " * 4}],
                                                   "nam": {"fn": "Gößinger", "gn": "G"}}}},
    cbor.Tag(18, [b"\xa2\x01\x26\x04\x48" + b"k" * 8, {}, b"p" * 300, b"s" * 64]),
    [1, -1, -24, -25, b"", b"x" * 23, b"y" * 24, "", "z" * 23, "w" * 24, "é" * 20, 1.5, None,
     True, cbor.UNDEFINED, {}, [], cbor.Tag(0, "2021")],
    {-7: b"k", "k": -24, 4: [b"b" * 30], b"bk": {"n": -300}},
)]


@settings(max_examples=400, deadline=None)
@given(st.sampled_from(_SEEDS), st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255),
                                                   st.sampled_from(["set", "cut", "ins", "del"])),
                                         max_size=3))
def test_matches_reference_decoder_on_mutated_inputs(seed: bytes, edits: list[tuple[int, int, str]]
                                                     ) -> None:
    data = bytearray(seed)
    for where, byte, op in edits:
        i = where % (len(data) + 1)
        if op == "set" and i < len(data):
            data[i] = byte
        elif op == "cut":
            del data[i:]
        elif op == "ins":
            data[i:i] = bytes((byte,))
        elif i < len(data):
            del data[i]
    expected = _ref_decode(bytes(data))
    try:
        got = cbor.decode(bytes(data), max_depth=64, max_items=10**6)
    except cbor.CBORError:
        assert expected is _INVALID
        return
    assert expected is not _INVALID and _same(got, expected)


@pytest.mark.parametrize("seed", _SEEDS)
def test_every_truncation_is_refused(seed: bytes) -> None:
    assert _same(cbor.decode(seed), _ref_decode(seed))
    for n in range(len(seed)):
        with pytest.raises(cbor.CBORError):
            cbor.decode(seed[:n])


def test_limits_count_map_entries_tags_and_nesting() -> None:
    flat = cbor.encode({i: i for i in range(10)})  # 1 map + 20 items
    assert len(cbor.decode(flat, max_items=21)) == 10
    with pytest.raises(cbor.CBORLimitError):
        cbor.decode(flat, max_items=20)
    tagged = cbor.encode(cbor.Tag(1, cbor.Tag(2, 0)))
    assert cbor.decode(tagged, max_depth=2, max_items=3) == cbor.Tag(1, cbor.Tag(2, 0))
    with pytest.raises(cbor.CBORLimitError):
        cbor.decode(tagged, max_depth=1)
    with pytest.raises(cbor.CBORLimitError):
        cbor.decode(tagged, max_items=2)
    nested_maps = cbor.encode({"a": {"b": {"c": "d"}}})
    assert cbor.decode(nested_maps, max_depth=3)
    with pytest.raises(cbor.CBORLimitError):
        cbor.decode(nested_maps, max_depth=2)
    assert cbor.decode(cbor.encode([[], {}]), max_depth=1) == [[], {}]  # empty: no children
    with pytest.raises(cbor.CBORLimitError):
        cbor.decode(b"\x00", max_depth=-1)
    with pytest.raises(cbor.CBORLimitError):
        cbor.decode(b"\x00", max_items=0)


def test_inline_strings_running_past_the_end() -> None:
    # the last item of each is a string decoded inline (short text/bytes, 1-byte-length text)
    for value in ({"a": "bc"}, {"a": "x" * 30}, ["ab"], [b"ab"], {1: b"kid"}, {"k": ["v"]}):
        data = cbor.encode(value)
        assert cbor.decode(data) == value
        with pytest.raises(cbor.CBORError, match="truncated"):
            cbor.decode(data[:-1])
    # an overrun inside a container that is followed by more items
    data = cbor.encode([{"a": "bc"}, 1])
    with pytest.raises(cbor.CBORError):
        cbor.decode(data[:4] + data[6:])
