"""zxing-cpp: the default decoder (fastest and most successful on phone screens here)."""

from __future__ import annotations

import zxingcpp

from device.decode.base import Frame, to_gray, unique


class ZxingDecoder:
    """QR codes through zxing-cpp, light-on-dark included (``try_invert``).

    Only QR Code is looked for: the payloads (``SG1:``/``HC1:`` signed codes, hundreds of
    characters) never fit a Micro QR symbol, and looking for one costs ~20 % more per
    frame. ``try_rotate`` (90/270-degree 1D codes) and ``try_downscale`` (zxing's extra
    pass on a 1/3-size copy) are off by default: neither reads a QR code on the bench
    corpus that the full-resolution pass misses, and together they cost ~30 %.
    """

    name = "zxing"

    def __init__(self, *, try_invert: bool = True, try_downscale: bool = False,
                 try_rotate: bool = False) -> None:
        self._try_invert = try_invert
        self._try_downscale = try_downscale
        self._try_rotate = try_rotate
        self._formats = zxingcpp.barcode_formats_from_str("QRCode")

    def decode(self, frame: Frame) -> list[bytes]:
        gray = to_gray(frame)
        found = zxingcpp.read_barcodes(
            gray,
            formats=self._formats,
            try_invert=self._try_invert,
            try_downscale=self._try_downscale,
            try_rotate=self._try_rotate,
        )
        return unique([bytes(b.bytes) for b in found if b.valid])
