"""A small, bounded CBOR (RFC 8949) decoder and a deterministic encoder.

Written for untrusted input from a QR code: every length is checked against the bytes
that remain (a short string's once it has been read, see :func:`_item`), nesting depth
and the total number of data items are capped, duplicate map keys are refused, and
trailing bytes are an error. Tags are kept (:class:`Tag`); the caller decides what they
mean.

Indefinite-length items (RFC 8949 section 3.2) are accepted, as the EU reference
decoders accept them, within the same bounds: an indefinite array or map charges each
item to ``max_items`` as it is read and nests like a definite one; an indefinite string
is a series of definite-length chunks of its own major type (each chunk counts as one
data item, each text chunk must be valid UTF-8 on its own) ended by a "break". A break
anywhere else (in place of a map value, a tag's item or a top-level item), a nested
indefinite chunk, a chunk of another type, or the additional information 31 on an
integer or a tag is malformed (:class:`CBORError`). They are read by :func:`_indefinite`,
off the definite fast path.

It sits on the verifier's hot path (about 60 items per EU DCC), so the decoder is one
recursive function per container with the common items (short strings, small ints)
decoded inline, and a container's items are charged against ``max_items`` when its head
is read. An input that is both malformed and over a limit may therefore be reported as
over the limit (:class:`CBORLimitError`) rather than malformed.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any

#: Defaults sized for a QR code: far above any real code, far below anything harmful.
MAX_DEPTH = 16
MAX_ITEMS = 4096


class CBORError(ValueError):
    """The bytes are not well-formed CBOR (or use a feature this decoder refuses)."""


class CBORLimitError(CBORError):
    """The CBOR is well-formed so far but exceeds a depth or item-count limit."""


@dataclass(frozen=True, slots=True)
class Tag:
    """A tagged data item (major type 6)."""

    tag: int
    value: Any


_set_tag_tag, _set_tag_value = Tag.__dict__["tag"].__set__, Tag.__dict__["value"].__set__


def _new_tag(tag: int, value: Any) -> Tag:
    """``Tag(tag, value)`` without the frozen dataclass ``__init__`` (hot: tag 18)."""
    t = object.__new__(Tag)
    _set_tag_tag(t, tag)
    _set_tag_value(t, value)
    return t


class _Undefined:
    """The simple value undefined: one instance (``UNDEFINED``), kept by copy and pickle."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "undefined"

    def __copy__(self) -> _Undefined:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> _Undefined:
        return self

    def __reduce__(self) -> str:
        return "UNDEFINED"


UNDEFINED = _Undefined()


#: Header byte -> 1 + length for a short text string (0x60..0x77), else 0.
_SHORT_TEXT = bytes(b - 0x5F if 0x60 <= b <= 0x77 else 0 for b in range(256))
_SIMPLE: dict[int, Any] = {20: False, 21: True, 22: None, 23: UNDEFINED}
_FLOATS = {25: (">e", 2), 26: (">f", 4), 27: (">d", 8)}


def _past_end() -> CBORError:
    return CBORError("truncated CBOR (string runs past the end)")


def _too_deep() -> CBORLimitError:
    return CBORLimitError("CBOR nesting too deep")


def _too_many() -> CBORLimitError:
    return CBORLimitError("too many CBOR data items")


def _item(data: bytes, pos: int, end: int, depth: int, budget: int,
          short_text: bytes = _SHORT_TEXT) -> tuple[Any, int, int]:
    """Decode the item at ``pos``: (value, next position, item budget left).

    ``depth`` is how many more levels of nesting are allowed below this item; ``budget``
    how many more items may follow. A container charges its children to the budget as
    soon as its head is read (so an over-long one is refused before any work), and then
    decodes them inline where they are short strings or small ints (the bulk of a CWT
    and of COSE headers) rather than through another call.

    Truncation: reading a head past the end raises IndexError, which :func:`decode`
    reports. An inline string that runs past the end is not checked on the spot: it
    leaves ``pos > end``, so the next head read fails, a container length check fails
    (``end - pos`` is negative) or :func:`decode` finds ``pos != end``. Either way the
    input is refused.
    """
    ib = data[pos]
    pos += 1
    major = ib >> 5
    arg = ib & 0x1F
    if arg > 23:
        if major == 7:
            return _float(data, pos, end, arg), pos + (1 << (arg - 24)), budget
        if arg == 24:
            arg = data[pos]
            pos += 1
        elif arg < 28:
            e = pos + (1 << (arg - 24))
            if e > end:
                raise CBORError("truncated CBOR (argument runs past the end)")
            arg = int.from_bytes(data[pos:e], "big")
            pos = e
        elif arg == 31:
            return _indefinite(data, pos, end, major, depth, budget)
        else:
            raise CBORError(f"reserved additional information {arg} at offset {pos - 1}")
    if major == 5:
        if arg * 2 > end - pos:
            raise CBORError("map length exceeds the remaining bytes")
        out: dict[Any, Any] = {}
        if not arg:
            return out, pos, budget
        budget -= 2 * arg
        if depth < 1:
            raise _too_deep()
        if budget < 0:
            raise _too_many()
        depth -= 1
        key: Any
        try:
            for _ in range(arg):
                ib = data[pos]
                n = short_text[ib]
                if n:
                    s = pos + 1
                    pos += n
                    key = data[s:pos].decode()
                elif ib < 24:
                    key = ib
                    pos += 1
                elif ib == 0x39 or ib == 0x3A:  # negative claim keys (-260, -70001)
                    s = pos + 1
                    pos = s + (2 if ib == 0x39 else 4)
                    key = -1 - int.from_bytes(data[s:pos], "big")
                else:
                    key, pos, budget = _item(data, pos, end, depth, budget)
                    if type(key) is Tag or key is UNDEFINED:
                        raise CBORError("map key of unsupported type (tag or undefined)")
                ib = data[pos]
                n = short_text[ib]
                if n:
                    s = pos + 1
                    pos += n
                    out[key] = data[s:pos].decode()
                elif ib < 24:
                    out[key] = ib
                    pos += 1
                elif ib == 0x78:  # text of 24..255 bytes (identifiers, issuer names)
                    s = pos + 2
                    pos = s + data[pos + 1]
                    out[key] = data[s:pos].decode()
                elif ib == 0x1A:  # uint32 (iat, exp); a cut-off one leaves pos > end
                    s = pos + 1
                    pos += 5
                    out[key] = int.from_bytes(data[s:pos], "big")
                elif 0x40 <= ib <= 0x57:  # short byte string (kid, cti)
                    s = pos + 1
                    pos = s + ib - 0x40
                    out[key] = data[s:pos]
                elif 0x20 <= ib <= 0x37:  # small negative int (alg)
                    out[key] = 0x1F - ib
                    pos += 1
                else:
                    out[key], pos, budget = _item(data, pos, end, depth, budget)
        except UnicodeDecodeError:
            raise CBORError("text string is not valid UTF-8") from None
        except TypeError:
            raise CBORError("map key of unsupported type (array or map)") from None
        if len(out) != arg:
            raise CBORError("duplicate map key")
        return out, pos, budget
    if major == 4:
        if arg > end - pos:
            raise CBORError("array length exceeds the remaining bytes")
        items: list[Any] = []
        if not arg:
            return items, pos, budget
        budget -= arg
        if depth < 1:
            raise _too_deep()
        if budget < 0:
            raise _too_many()
        depth -= 1
        append = items.append
        try:
            for _ in range(arg):
                ib = data[pos]
                n = short_text[ib]
                if n:
                    s = pos + 1
                    pos += n
                    append(data[s:pos].decode())
                elif ib < 24:
                    append(ib)
                    pos += 1
                elif 0x40 <= ib <= 0x59:  # byte string up to 64 KiB (the COSE_Sign1 parts)
                    if ib < 0x58:
                        s = pos + 1
                        pos = s + ib - 0x40
                    elif ib == 0x58:
                        s = pos + 2
                        pos = s + data[pos + 1]
                    else:
                        s = pos + 3
                        pos = s + (data[pos + 1] << 8 | data[pos + 2])
                    append(data[s:pos])
                elif ib == 0xA0:  # empty map (the unprotected header)
                    append({})
                    pos += 1
                else:
                    value, pos, budget = _item(data, pos, end, depth, budget)
                    append(value)
        except UnicodeDecodeError:
            raise CBORError("text string is not valid UTF-8") from None
        return items, pos, budget
    if major == 3 or major == 2:
        e = pos + arg
        if e > end:
            raise _past_end()
        if major == 2:
            return data[pos:e], e, budget
        try:
            return data[pos:e].decode(), e, budget
        except UnicodeDecodeError:
            raise CBORError("text string is not valid UTF-8") from None
    if major == 0:
        return arg, pos, budget
    if major == 1:
        return -1 - arg, pos, budget
    if major == 6:
        budget -= 1
        if depth < 1:
            raise _too_deep()
        if budget < 0:
            raise _too_many()
        value, pos, budget = _item(data, pos, end, depth - 1, budget)
        return _new_tag(arg, value), pos, budget
    # major 7 with a value < 24
    if arg in _SIMPLE:
        return _SIMPLE[arg], pos, budget
    raise CBORError(f"unsupported simple value (additional information {arg})")


_BREAK = 0xFF


def _indefinite(data: bytes, pos: int, end: int, major: int, depth: int,
                budget: int) -> tuple[Any, int, int]:
    """The indefinite-length item whose head (additional information 31) ended at ``pos``:
    (value, next position, item budget left), under the same limits as :func:`_item`."""
    if major == 2 or major == 3:
        return _chunked(data, pos, end, major, budget)
    if major == 4:
        items: list[Any] = []
        append = items.append
        while data[pos] != _BREAK:
            budget -= 1
            if depth < 1:
                raise _too_deep()
            if budget < 0:
                raise _too_many()
            value, pos, budget = _item(data, pos, end, depth - 1, budget)
            append(value)
        return items, pos + 1, budget
    if major == 5:
        out: dict[Any, Any] = {}
        pairs = 0
        try:
            while data[pos] != _BREAK:
                budget -= 2
                if depth < 1:
                    raise _too_deep()
                if budget < 0:
                    raise _too_many()
                key, pos, budget = _item(data, pos, end, depth - 1, budget)
                if type(key) is Tag or key is UNDEFINED:
                    raise CBORError("map key of unsupported type (tag or undefined)")
                if data[pos] == _BREAK:
                    raise CBORError(f"'break' in place of a map value at offset {pos}")
                out[key], pos, budget = _item(data, pos, end, depth - 1, budget)
                pairs += 1
        except TypeError:
            raise CBORError("map key of unsupported type (array or map)") from None
        if len(out) != pairs:
            raise CBORError("duplicate map key")
        return out, pos + 1, budget
    kind = {0: "an unsigned integer", 1: "a negative integer", 6: "a tag"}[major]
    raise CBORError(f"indefinite length (additional information 31) on {kind} at offset "
                    f"{pos - 1}")


def _chunked(data: bytes, pos: int, end: int, major: int,
             budget: int) -> tuple[Any, int, int]:
    """An indefinite-length byte (2) or text (3) string: definite chunks of the same major
    type up to the break; each chunk is one data item, each text chunk valid UTF-8."""
    parts: list[Any] = []
    while True:
        ib = data[pos]
        if ib == _BREAK:
            break
        budget -= 1
        if budget < 0:
            raise _too_many()
        info = ib & 0x1F
        if ib >> 5 != major or info == 31:
            raise CBORError(f"chunk of an indefinite-length {'byte' if major == 2 else 'text'} "
                            f"string at offset {pos} is not a definite-length string of the "
                            "same type")
        pos += 1
        if info < 24:
            n = info
        elif info < 28:
            e = pos + (1 << (info - 24))
            if e > end:
                raise CBORError("truncated CBOR (argument runs past the end)")
            n = int.from_bytes(data[pos:e], "big")
            pos = e
        else:
            raise CBORError(f"reserved additional information {info} at offset {pos - 1}")
        e = pos + n
        if e > end:
            raise _past_end()
        chunk = data[pos:e]
        pos = e
        if major == 3:
            try:
                parts.append(chunk.decode())
            except UnicodeDecodeError:
                raise CBORError("text string chunk is not valid UTF-8") from None
        else:
            parts.append(chunk)
    return ("" if major == 3 else b"").join(parts), pos + 1, budget


def _float(data: bytes, pos: int, end: int, info: int) -> Any:
    fmt = _FLOATS.get(info)
    if fmt is None:
        if info == 31:
            raise CBORError(f"unexpected 'break' at offset {pos - 1} (it may only end an "
                            "indefinite-length item)")
        raise CBORError(f"unsupported simple value (additional information {info})")
    e = pos + fmt[1]
    if e > end:
        raise CBORError("truncated CBOR (float runs past the end)")
    return struct.unpack(fmt[0], data[pos:e])[0]


def decode(data: bytes, *, max_depth: int = MAX_DEPTH, max_items: int = MAX_ITEMS) -> Any:
    """Decode exactly one CBOR data item that spans all of ``data``.

    At most ``max_depth`` levels of nesting below the top item and ``max_items`` data
    items in all. Raises :class:`CBORLimitError` past the limits, :class:`CBORError` on
    anything else (never another exception, whatever the bytes).
    """
    data = bytes(data)
    end = len(data)
    if max_depth < 0:
        raise CBORLimitError(f"CBOR nesting deeper than {max_depth}")
    if max_items < 1:
        raise CBORLimitError(f"more than {max_items} CBOR data items")
    try:
        value, pos, _ = _item(data, 0, end, max_depth, max_items - 1)
    except IndexError:
        raise CBORError("truncated CBOR (expected another data item)") from None
    except CBORLimitError as exc:
        raise CBORLimitError(f"{exc} (limits: depth {max_depth}, {max_items} items)") from None
    except RecursionError:  # pragma: no cover - max_depth keeps us far from it
        raise CBORLimitError("CBOR nesting too deep") from None
    if pos != end:
        if pos > end:  # a short string ran past the end (see _item)
            raise CBORError("truncated CBOR (string runs past the end)")
        raise CBORError(f"{end - pos} trailing bytes after the CBOR item")
    return value


# ---------------------------------------------------------------- encoder


def _head(major: int, arg: int) -> bytes:
    if arg < 24:
        return bytes((major << 5 | arg,))
    if arg < 0x100:
        return bytes((major << 5 | 24, arg))
    if arg < 0x10000:
        return bytes((major << 5 | 25,)) + arg.to_bytes(2, "big")
    if arg < 0x100000000:
        return bytes((major << 5 | 26,)) + arg.to_bytes(4, "big")
    if arg < 0x10000000000000000:
        return bytes((major << 5 | 27,)) + arg.to_bytes(8, "big")
    raise ValueError("integer too large for CBOR major types 0/1")


def encode(obj: Any) -> bytes:
    """Deterministic CBOR (RFC 8949 section 4.2.1: shortest heads, sorted map keys)."""
    if obj is False:
        return b"\xf4"
    if obj is True:
        return b"\xf5"
    if obj is None:
        return b"\xf6"
    if obj is UNDEFINED:
        return b"\xf7"
    if isinstance(obj, int):
        return _head(0, obj) if obj >= 0 else _head(1, -1 - obj)
    if isinstance(obj, bytes | bytearray | memoryview):
        b = bytes(obj)
        return _head(2, len(b)) + b
    if isinstance(obj, str):
        b = obj.encode("utf-8")
        return _head(3, len(b)) + b
    if isinstance(obj, list | tuple):
        return _head(4, len(obj)) + b"".join(encode(x) for x in obj)
    if isinstance(obj, dict):
        pairs = sorted((encode(k), encode(v)) for k, v in obj.items())
        return _head(5, len(pairs)) + b"".join(k + v for k, v in pairs)
    if isinstance(obj, Tag):
        return _head(6, obj.tag) + encode(obj.value)
    if isinstance(obj, float):
        return b"\xfb" + struct.pack(">d", obj)
    raise TypeError(f"cannot CBOR-encode {type(obj).__name__}")
