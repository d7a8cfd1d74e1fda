"""Base45 (RFC 9285): the QR-alphanumeric-friendly encoding of the HC1 chain.

Bounded: :func:`decode` refuses input longer than ``max_chars`` before doing any work.
Decoding is table driven (``bytes.translate``) and vectorised with big-integer
arithmetic instead of a loop per triple, so a full QR payload decodes in microseconds.
"""

from __future__ import annotations

ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:"
#: A QR code holds at most 4,296 alphanumeric characters.
MAX_CHARS = 4296

_INVALID = 0xFF
_TABLE = bytearray([_INVALID] * 256)
for _i, _c in enumerate(ALPHABET):
    _TABLE[ord(_c)] = _i
_DECODE_TABLE = bytes(_TABLE)
_ENCODE = ALPHABET.encode("ascii")
_BELOW_33 = bytes(range(33))


class Base45Error(ValueError):
    """The text is not valid Base45 (bad character, bad length or value out of range)."""


def encode(data: bytes) -> str:
    """Base45-encode ``data`` (RFC 9285 section 4)."""
    out = bytearray()
    enc = _ENCODE
    n = len(data)
    for i in range(0, n - 1, 2):
        v = data[i] * 256 + data[i + 1]
        v, c = divmod(v, 45)
        e, d = divmod(v, 45)
        out += bytes((enc[c], enc[d], enc[e]))
    if n % 2:
        d, c = divmod(data[-1], 45)
        out += bytes((enc[c], enc[d]))
    return out.decode("ascii")


def decode(text: str | bytes, *, max_chars: int = MAX_CHARS) -> bytes:
    """Decode Base45 text. Raises :class:`Base45Error` on any invalid input."""
    if len(text) > max_chars:
        raise Base45Error(f"Base45 text longer than {max_chars} characters")
    if isinstance(text, str):
        try:
            raw = text.encode("ascii")
        except UnicodeEncodeError:
            raise Base45Error("non-ASCII character in Base45 text") from None
    else:
        raw = bytes(text)
    n = len(raw)
    if n % 3 == 1:
        raise Base45Error(f"Base45 length {n} is impossible (length mod 3 == 1)")
    vals = raw.translate(_DECODE_TABLE)
    if _INVALID in vals:
        pos = vals.index(_INVALID)
        raise Base45Error(f"character {raw[pos:pos + 1]!r} at {pos} is not in the Base45 alphabet")
    words = n // 3
    full = words * 3
    # A triple c0 c1 c2 is c0 + 45*c1 + 2025*c2 <= 65535: always true when c2 <= 31,
    # never when c2 >= 33, and when c2 == 32 only if c0 + 45*c1 <= 735.
    high = vals[2:full:3]
    if high.translate(None, _BELOW_33):
        raise Base45Error("Base45 triple decodes to a value above 65535")
    i = high.find(32)
    while i >= 0:
        if vals[3 * i] + 45 * vals[3 * i + 1] > 735:
            raise Base45Error("Base45 triple decodes to a value above 65535")
        i = high.find(32, i + 1)
    # Every triple fits its 16 bits, so the output is one big integer: put each digit
    # column in the low byte of 2-byte slots, combine the columns arithmetically (no slot
    # can carry) and write it out big-endian. No per-triple Python loop.
    buf = bytearray(2 * words)
    buf[1::2] = vals[0:full:3]
    col0 = int.from_bytes(buf, "big")
    buf[1::2] = vals[1:full:3]
    col1 = int.from_bytes(buf, "big")
    buf[1::2] = high
    out = (col0 + 45 * col1 + 2025 * int.from_bytes(buf, "big")).to_bytes(2 * words, "big")
    if n % 3 == 2:
        v = vals[-2] + vals[-1] * 45
        if v > 0xFF:
            raise Base45Error("final Base45 pair decodes to a value above 255")
        out += bytes((v,))
    return out
