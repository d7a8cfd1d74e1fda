"""The bounded CBOR decoder and deterministic encoder."""

from __future__ import annotations

import contextlib
import copy
import itertools
import math
import pickle
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


@pytest.mark.parametrize(("hexdata", "value"), [  # RFC 8949 appendix A, indefinite lengths
    ("5f42010243030405ff", b"\x01\x02\x03\x04\x05"),
    ("7f657374726561646d696e67ff", "streaming"), ("9fff", []),
    ("9f018202039f0405ffff", [1, [2, 3], [4, 5]]), ("9f01820203820405ff", [1, [2, 3], [4, 5]]),
    ("83018202039f0405ff", [1, [2, 3], [4, 5]]), ("83019f0203ff820405", [1, [2, 3], [4, 5]]),
    ("9f0102030405060708090a0b0c0d0e0f101112131415161718181819ff", list(range(1, 26))),
    ("bf61610161629f0203ffff", {"a": 1, "b": [2, 3]}),
    ("826161bf61626163ff", ["a", {"b": "c"}]),
    ("bf6346756ef563416d7421ff", {"Fun": True, "Amt": -2}),
    ("5fff", b""), ("7fff", ""), ("5f4040ff", b""), ("bfff", {}),
    ("7f62c3bc6161ff", "üa"),  # every chunk valid UTF-8 on its own
    ("bf7f6161ff01ff", {"a": 1}),  # an indefinite string as a map key
    ("c19f01ff", cbor.Tag(1, [1])),  # a tag around an indefinite array
])
def test_indefinite_length_items(hexdata: str, value: object) -> None:
    assert cbor.decode(bytes.fromhex(hexdata)) == value


@pytest.mark.parametrize(("hexdata", "why"), [  # after RFC 8949 appendix F
    # chunks that are not definite strings of the string's own type
    ("5f00ff", "chunk"), ("5f21ff", "chunk"), ("5f6100ff", "chunk"), ("5f80ff", "chunk"),
    ("5fa0ff", "chunk"), ("5fc000ff", "chunk"), ("5fe0ff", "chunk"), ("7f4100ff", "chunk"),
    ("5f5f4100ffff", "chunk"), ("7f7f6100ffff", "chunk"), ("5f5cff", "reserved"),
    # a text chunk that splits a UTF-8 sequence
    ("7f61c361bcff", "UTF-8"),
    # a break where none may be: in definite containers, a map value, a tag, at top level
    ("81ff", "break"), ("8200ff", "break"), ("a1ff", "exceeds"), ("a1ff00", "break"),
    ("a100ff", "break"), ("9f81ff", "break"), ("bf00ff", "map value"), ("c0ff", "break"),
    ("ff", "break"), ("9fff00", "trailing"),
    # the break missing
    ("5f4100", "truncated"), ("7f6100", "truncated"), ("9f", "truncated"),
    ("9f0102", "truncated"), ("bf", "truncated"), ("bf01020102", "truncated"),
    ("819f", "truncated"), ("9f8000", "truncated"), ("9f9f9f9f9fffffffff", "truncated"),
    # additional information 31 on an integer or a tag
    ("1f", "indefinite length"), ("3f", "indefinite length"), ("df", "indefinite length"),
    # what definite maps refuse, indefinite ones refuse too
    ("bf0101 0102ff".replace(" ", ""), "duplicate"), ("bf8101 02ff".replace(" ", ""),
                                                       "key of unsupported"),
    ("bfc10101ff", "key of unsupported"), ("bff701ff", "key of unsupported"),
    ("5f4201ff", "truncated"),  # a chunk running past the end
])
def test_malformed_indefinite(hexdata: str, why: str) -> None:
    with pytest.raises(cbor.CBORError, match=why) as exc:
        cbor.decode(bytes.fromhex(hexdata))
    assert not isinstance(exc.value, cbor.CBORLimitError)


def test_indefinite_items_are_bounded_like_definite_ones() -> None:
    """docs/code-format.md section 7: the same depth and item limits, charged as read."""
    at_limit = b"\x9f" * 3 + b"\x00" + b"\xff" * 3  # the integer at depth 3
    assert cbor.decode(at_limit, max_depth=3) == [[[0]]]
    with pytest.raises(cbor.CBORLimitError):
        cbor.decode(b"\x9f" + at_limit + b"\xff", max_depth=3)
    assert cbor.decode(b"\x9f" * 3 + b"\x9f\xff" + b"\xff" * 3, max_depth=3) == [[[[]]]]
    with pytest.raises(cbor.CBORLimitError):  # map keys are one level down
        cbor.decode(b"\xbf\x01\x02\xff", max_depth=0)
    flat = b"\x9f" + b"\x01" * 99 + b"\xff"  # the array and 99 items
    assert len(cbor.decode(flat, max_items=100)) == 99
    with pytest.raises(cbor.CBORLimitError):
        cbor.decode(flat, max_items=99)
    pairs = b"\xbf" + b"".join(bytes((0x18, i, 0)) for i in range(30, 40)) + b"\xff"
    assert len(cbor.decode(pairs, max_items=21)) == 10
    with pytest.raises(cbor.CBORLimitError):
        cbor.decode(pairs, max_items=20)
    chunks = b"\x5f" + b"\x41x" * 50 + b"\xff"  # each chunk is one item
    assert cbor.decode(chunks, max_items=51) == b"x" * 50
    with pytest.raises(cbor.CBORLimitError):
        cbor.decode(chunks, max_items=50)
    with pytest.raises(cbor.CBORLimitError):  # 16 KiB of empty chunks
        cbor.decode(b"\x5f" + b"\x40" * 16_000 + b"\xff")
    # an endless indefinite array is refused by the item limit, not by running out of bytes
    with pytest.raises(cbor.CBORLimitError):
        cbor.decode(b"\x9f" + b"\x00" * (cbor.MAX_ITEMS + 10))


def test_undefined_and_nan() -> None:
    assert cbor.decode(b"\xf7") is cbor.UNDEFINED
    # one instance, whatever copies a decoded value (encode() tells it by identity)
    assert copy.deepcopy([cbor.UNDEFINED])[0] is cbor.UNDEFINED
    assert pickle.loads(pickle.dumps(cbor.UNDEFINED)) is cbor.UNDEFINED
    assert cbor.encode(copy.copy(cbor.UNDEFINED)) == b"\xf7"
    assert math.isnan(cbor.decode(bytes.fromhex("f97e00")))


@pytest.mark.parametrize(("hexdata", "why"), [
    ("", "truncated"), ("18", "truncated"), ("62c3", "truncated"), ("8301", "exceeds"),
    ("ff", "break"),
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
    if info == 31 and major != 7:
        return _ref_indefinite(data, pos, major)
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
            _ref_put(m, k, v)
        return m, pos
    v, pos = _ref_item(data, pos)
    return cbor.Tag(arg, v), pos


def _ref_put(m: dict[object, object], k: object, v: object) -> None:
    if k in m or isinstance(k, cbor.Tag) or k is cbor.UNDEFINED:
        raise KeyError
    m[k] = v


def _ref_indefinite(data: bytes, pos: int, major: int) -> tuple[object, int]:
    """RFC 8949 section 3.2, one item at a time (IndexError / KeyError: not well-formed)."""
    if major in (2, 3):
        parts = []
        while data[pos] != 0xFF:
            if data[pos] >> 5 != major or data[pos] & 0x1F == 31:
                raise KeyError
            chunk, pos = _ref_item(data, pos)
            parts.append(chunk)
        return (b"" if major == 2 else "").join(parts), pos + 1  # type: ignore[attr-defined]
    if major == 4:
        out = []
        while data[pos] != 0xFF:
            v, pos = _ref_item(data, pos)
            out.append(v)
        return out, pos + 1
    if major == 5:
        m: dict[object, object] = {}
        while data[pos] != 0xFF:
            k, pos = _ref_item(data, pos)
            if data[pos] == 0xFF:
                raise KeyError
            v, pos = _ref_item(data, pos)
            _ref_put(m, k, v)
        return m, pos + 1
    raise KeyError  # majors 0, 1 and 6 have no indefinite form


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
)] + [b"".join((  # indefinite: maps, an array, chunked byte and text strings, a chunked key
    b"\xbf\x01\x7f", cbor.encode("A"), cbor.encode("T"), b"\xff", cbor.encode(4),
    cbor.encode(1620237600), cbor.encode(-260), b"\xbf\x01\xbf", cbor.encode("v"), b"\x9f\xbf",
    cbor.encode("ci"), b"\x7f", cbor.encode("URN:"), cbor.encode("UVCI"), b"\xff",
    cbor.encode("dn"), cbor.encode(1), b"\xff\xff", cbor.encode("ver"), cbor.encode("1.0.0"),
    b"\xff\xff", cbor.encode(99), b"\x5f", cbor.encode(b"\x01\xff"), cbor.encode(b""),
    cbor.encode(b"abc"), b"\xff\xff",
))]


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


def _encode_any_length(obj: object, draw: st.DataObject) -> bytes:
    """``obj`` in CBOR where each string, array and map is written with a definite or an
    indefinite length (strings in random chunks), as the drawn choices say."""
    if isinstance(obj, (bytes, str)) and draw.draw(st.booleans()):
        raw = obj if isinstance(obj, bytes) else obj.encode()
        cuts = sorted(draw.draw(st.lists(st.integers(0, len(raw)), max_size=4)))
        if isinstance(obj, str):  # a text chunk may not split a UTF-8 sequence
            cuts = [c for c in cuts if c == len(raw) or raw[c] & 0xC0 != 0x80]
        bounds = [0, *cuts, len(raw)]
        head = b"\x5f" if isinstance(obj, bytes) else b"\x7f"
        chunks = [cbor.encode(raw[a:b] if isinstance(obj, bytes) else raw[a:b].decode())
                  for a, b in itertools.pairwise(bounds)]
        return head + b"".join(chunks) + b"\xff"
    if isinstance(obj, list):
        body = b"".join(_encode_any_length(x, draw) for x in obj)
        if draw.draw(st.booleans()):
            return b"\x9f" + body + b"\xff"
        return cbor._head(4, len(obj)) + body
    if isinstance(obj, dict):
        body = b"".join(_encode_any_length(k, draw) + _encode_any_length(v, draw)
                        for k, v in obj.items())
        if draw.draw(st.booleans()):
            return b"\xbf" + body + b"\xff"
        return cbor._head(5, len(obj)) + body
    if isinstance(obj, cbor.Tag):
        return cbor._head(6, obj.tag) + _encode_any_length(obj.value, draw)
    return cbor.encode(obj)


@settings(max_examples=300, deadline=None)
@given(values, st.data())
def test_indefinite_and_definite_lengths_decode_alike(value: object, draw: st.DataObject
                                                      ) -> None:
    data = _encode_any_length(value, draw)
    assert cbor.decode(data, max_depth=64, max_items=10**6) == value
    assert _same(_ref_decode(data), cbor.decode(data, max_depth=64, max_items=10**6))


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
