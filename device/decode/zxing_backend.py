"""zxing-cpp: the default decoder (fastest and most successful on phone screens here)."""

from __future__ import annotations

import zxingcpp

from device.decode.base import Frame, to_gray, unique


class ZxingDecoder:
    """QR codes through zxing-cpp. Inverted (light-on-dark) codes are read (``try_invert``).

    ``try_downscale`` is zxing's own extra pass on smaller copies; the full-resolution
    frame is always read as well (we never downscale a frame before decoding).
    """

    name = "zxing"

    def __init__(self, *, try_invert: bool = True, try_downscale: bool = True) -> None:
        self._try_invert = try_invert
        self._try_downscale = try_downscale
        self._formats = zxingcpp.barcode_formats_from_str("QRCode,MicroQRCode")

    def decode(self, frame: Frame) -> list[bytes]:
        gray = to_gray(frame)
        found = zxingcpp.read_barcodes(
            gray,
            formats=self._formats,
            try_invert=self._try_invert,
            try_downscale=self._try_downscale,
        )
        return unique([bytes(b.bytes) for b in found if b.valid])
