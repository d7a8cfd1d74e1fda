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
_PREFIXES_ASCII: dict[bytes, str] = {k.encode("ascii"): v for k, v in PREFIXES.items()}
#: What a verifier trims from both ends of a payload (readers add line endings).
TRIMMED = "\r\n\t "
_TRIMMED_ASCII = TRIMMED.encode("ascii")

#: A QR code holds at most 4,296 alphanumeric characters.
MAX_PAYLOAD_CHARS = 4296
#: Decompressed COSE bytes: real codes are well under 2 KiB.
MAX_DECOMPRESSED_BYTES = 16 * 1024
#: zlib input is fed in chunks so a bomb is stopped early.
_ZLIB_CHUNK = 1024


class Reject(Exception):
    """A stage of the chain refused the input: carries the reason code, and the profile
    once the prefix has been recognised (``None`` before that)."""

    def __init__(self, reason: Reason, detail: str, profile: str | None = None) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail
        self.profile = profile


def _shown(start: str) -> str:
    return "".join(c if c.isprintable() and c.isascii() else "?" for c in start)


def split_prefix(text: str) -> tuple[str, str]:
    """(profile, Base45 body) or :class:`Reject` (``unknown_format``)."""
    for n in _PREFIX_LENGTHS:
        profile = PREFIXES.get(text[:n])
        if profile is not None:
            return profile, text[n:]
    raise Reject(Reason.UNKNOWN_FORMAT, f"no known prefix (starts with {_shown(text[:4])!r})")


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
    """Payload text -> (profile, COSE bytes), or :class:`Reject` at the failing stage.

    Stage 0 (docs/code-format.md section 6) is the same for text and bytes: trim
    ``TRIMMED`` from both ends; more than ``MAX_PAYLOAD_CHARS`` characters left is
    ``too_large``; any character (or byte) outside ASCII is ``unknown_format``.
    """
    if isinstance(payload, str):
        text = payload.strip(TRIMMED) if type(payload) is str else str(payload).strip(TRIMMED)
        if len(text) > MAX_PAYLOAD_CHARS:
            raise Reject(Reason.TOO_LARGE, f"payload longer than {MAX_PAYLOAD_CHARS} characters")
        if not text.isascii():
            raise Reject(Reason.UNKNOWN_FORMAT, "payload is not ASCII text")
        raw = text.encode("ascii")
    elif isinstance(payload, bytes | bytearray | memoryview):
        raw = bytes(payload).strip(_TRIMMED_ASCII)
        if len(raw) > MAX_PAYLOAD_CHARS:
            raise Reject(Reason.TOO_LARGE, f"payload longer than {MAX_PAYLOAD_CHARS} characters")
        if not raw.isascii():
            raise Reject(Reason.UNKNOWN_FORMAT, "payload is not ASCII text")
    else:
        raise Reject(Reason.UNKNOWN_FORMAT, f"payload of type {type(payload).__name__}")
    for n in _PREFIX_LENGTHS:
        profile = _PREFIXES_ASCII.get(raw[:n])
        if profile is not None:
            break
    else:
        raise Reject(Reason.UNKNOWN_FORMAT,
                     f"no known prefix (starts with {_shown(raw[:4].decode('ascii'))!r})")
    try:
        compressed = base45.decode(raw[n:])
    except base45.Base45Error as exc:
        raise Reject(Reason.BAD_ENCODING, str(exc), profile) from None
    try:
        return profile, bounded_decompress(compressed)
    except Reject as r:
        r.profile = profile
        raise


def wrap(profile: str, cose_bytes: bytes) -> str:
    """COSE bytes -> payload text for ``profile`` (zlib level 9, Base45, prefix)."""
    return PROFILE_PREFIX[profile] + base45.encode(zlib.compress(cose_bytes, 9))
