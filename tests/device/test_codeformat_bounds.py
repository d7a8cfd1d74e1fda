"""device.verify.codeformat: the zlib bound at its exact edge, and prefix splitting."""

from __future__ import annotations

import zlib

import pytest

from device.verify.codeformat import PREFIXES, Reject, bounded_decompress, split_prefix, unwrap
from device.verify.verdict import Reason


@pytest.mark.parametrize("size", [0, 1, 100, 4096])
def test_decompress_exactly_at_the_cap_passes_one_more_byte_is_refused(size: int) -> None:
    data = bytes(range(256)) * (size // 256 + 1)
    assert bounded_decompress(zlib.compress(data[:size]), max_bytes=size) == data[:size]
    with pytest.raises(Reject) as exc:
        bounded_decompress(zlib.compress(data[:size + 1]), max_bytes=size)
    assert exc.value.reason is Reason.TOO_LARGE


def test_decompress_refuses_truncated_and_trailing_streams() -> None:
    blob = zlib.compress(b"hello" * 50)
    for bad in (blob[:-1], blob[:5], blob + b"\x00", b""):
        with pytest.raises(Reject) as exc:
            bounded_decompress(bad)
        assert exc.value.reason is Reason.BAD_COMPRESSION


def test_split_prefix_and_unwrap_inputs() -> None:
    for prefix, profile in PREFIXES.items():
        assert split_prefix(prefix + "ABC") == (profile, "ABC")
        assert split_prefix(prefix) == (profile, "")
    for text in ("", "HC1", "hc1:ABC", "XX1:ABC", " HC1:"):
        with pytest.raises(Reject) as exc:
            split_prefix(text)
        assert exc.value.reason is Reason.UNKNOWN_FORMAT

    class Text(str):
        pass

    body = "HC1:" + "0" * 3  # Base45 "000" = two zero bytes: not a zlib stream
    for payload in (body, Text(body), body.encode(), bytearray(body.encode()), body + "\r\n"):
        with pytest.raises(Reject) as exc:
            unwrap(payload)  # type: ignore[arg-type]
        assert exc.value.reason is Reason.BAD_COMPRESSION
    with pytest.raises(Reject) as exc:
        unwrap(42)  # type: ignore[arg-type]
    assert exc.value.reason is Reason.UNKNOWN_FORMAT
