"""OpenCV's QR detector: a selectable backend (no extra dependency, slower, reads less)."""

from __future__ import annotations

import cv2

from device.decode.base import Frame, to_gray, unique


class OpenCVDecoder:
    """QR codes through ``cv2.QRCodeDetector``; inverted codes by a second pass."""

    name = "opencv"

    def __init__(self) -> None:
        self._detector = cv2.QRCodeDetector()

    def _read(self, gray: Frame) -> list[bytes]:
        try:
            ok, texts, _points, _straight = self._detector.detectAndDecodeMulti(gray)
        except cv2.error:
            return []
        if not ok:
            return []
        # OpenCV hands back text; latin-1 keeps every byte value it produced.
        out: list[bytes] = []
        for t in texts:
            if t:
                try:
                    out.append(t.encode("latin-1"))
                except UnicodeEncodeError:
                    out.append(t.encode("utf-8"))
        return out

    def decode(self, frame: Frame) -> list[bytes]:
        gray = to_gray(frame)
        found = self._read(gray)
        if not found:
            found = self._read(255 - gray)
        return unique(found)
