"""The encoding chain: PREFIX + Base45(zlib(COSE_Sign1(CWT))), bounded at every stage.

Two profiles share it: our own codes (``"scangate"``, prefix ``SG1:``) and the EU
Digital COVID Certificate (``"eu-dcc"``, prefix ``HC1:``). See ``docs/code-format.md``.
"""

from __future__ import annotations

import zlib

from device.verify.codecs import base45
from device.verify.verdict import Reason

PROFILE_SCANGATE = "scangate"
PROFILE_DCC = "eu-dcc"
PREFIX_SCANGATE = "SG1:"
PREFIX_DCC = "HC1:"
PREFIXES: dict[str, str] = {PREFIX_SCANGATE: PROFILE_SCANGATE, PREFIX_DCC: PROFILE_DCC}
PROFILE_PREFIX: dict[str, str] = {v: k for k, v in PREFIXES.items()}
_PREFIX_LENGTHS = tuple(sorted({len(p) for p in PREFIXES}))

#: A QR code holds at most 4,296 alphanumeric characters.
MAX_PAYLOAD_CHARS = 4296
#: Decompressed COSE bytes: real codes are well under 2 KiB.
MAX_DECOMPRESSED_BYTES = 16 * 1024
#: zlib input is fed in chunks so a bomb is stopped early.
_ZLIB_CHUNK = 1024


class Reject(Exception):
    """A stage of the chain refused the input: carries the reason code."""

    def __init__(self, reason: Reason, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


def split_prefix(text: str) -> tuple[str, str]:
    """(profile, Base45 body) or :class:`Reject` (``unknown_format``)."""
    for n in _PREFIX_LENGTHS:
        profile = PREFIXES.get(text[:n])
        if profile is not None:
            return profile, text[n:]
    shown = "".join(c if c.isprintable() and c.isascii() else "?" for c in text[:4])
    raise Reject(Reason.UNKNOWN_FORMAT, f"no known prefix (starts with {shown!r})")


def bounded_decompress(data: bytes, max_bytes: int = MAX_DECOMPRESSED_BYTES) -> bytes:
    """zlib-decompress ``data``, refusing (``too_large``) once output passes ``max_bytes``.

    Never produces more than ``max_bytes + 1`` bytes of output, whatever the input.
    """
    d = zlib.decompressobj()
    try:
        # One call does it for any stream within the bound: with an output limit, zlib
        # only leaves input unconsumed once the limit is reached (the loop is a guard).
        out = d.decompress(data, max_bytes + 1)
        while d.unconsumed_tail and len(out) <= max_bytes:
            out += d.decompress(d.unconsumed_tail, max_bytes + 1 - len(out))
    except zlib.error as exc:
        raise Reject(Reason.BAD_COMPRESSION, f"zlib: {exc}") from None
    if len(out) > max_bytes:
        raise Reject(Reason.TOO_LARGE, f"decompressed content exceeds {max_bytes} bytes")
    if not d.eof:
        raise Reject(Reason.BAD_COMPRESSION, "zlib stream is truncated")
    if d.unused_data:
        raise Reject(Reason.BAD_COMPRESSION, "bytes after the end of the zlib stream")
    return out


def unwrap(payload: str | bytes) -> tuple[str, bytes]:
    """Payload text -> (profile, COSE bytes), or :class:`Reject` at the failing stage."""
    if type(payload) is str:
        text = payload
    elif isinstance(payload, bytes | bytearray | memoryview):
        raw = bytes(payload)
        if len(raw) > MAX_PAYLOAD_CHARS + 8:
            raise Reject(Reason.TOO_LARGE, f"payload longer than {MAX_PAYLOAD_CHARS} characters")
        try:
            text = raw.decode("ascii")
        except UnicodeDecodeError:
            raise Reject(Reason.UNKNOWN_FORMAT, "payload is not ASCII text") from None
    elif isinstance(payload, str):
        text = str(payload)
    else:
        raise Reject(Reason.UNKNOWN_FORMAT, f"payload of type {type(payload).__name__}")
    text = text.strip("\r\n\t ")  # readers add line endings; Base45 never ends in a space
    if len(text) > MAX_PAYLOAD_CHARS:
        raise Reject(Reason.TOO_LARGE, f"payload longer than {MAX_PAYLOAD_CHARS} characters")
    profile, body = split_prefix(text)
    try:
        compressed = base45.decode(body)
    except base45.Base45Error as exc:
        raise Reject(Reason.BAD_ENCODING, str(exc)) from None
    return profile, bounded_decompress(compressed)


def wrap(profile: str, cose_bytes: bytes) -> str:
    """COSE bytes -> payload text for ``profile`` (zlib level 9, Base45, prefix)."""
    return PROFILE_PREFIX[profile] + base45.encode(zlib.compress(cose_bytes, 9))
