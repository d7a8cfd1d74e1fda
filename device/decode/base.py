"""The decoder seam: a frame in, the payloads of the QR codes it shows out."""

from __future__ import annotations

from typing import Any, Protocol

import cv2
import numpy as np
import numpy.typing as npt

#: A camera frame or image: uint8, grey (H, W) or BGR (H, W, 3).
Frame = npt.NDArray[np.uint8]


class Decoder(Protocol):
    """Reads every QR code in a frame. Never raises on image content; returns ``[]``."""

    name: str

    def decode(self, frame: Frame) -> list[bytes]:
        """The payloads (raw bytes) of the codes found in ``frame``."""
        ...


def to_gray(frame: Any) -> Frame:
    """A contiguous uint8 grey image from a grey, BGR or BGRA frame."""
    arr = np.asarray(frame)
    if arr.dtype != np.uint8:
        arr = np.clip(arr, 0, 255).astype(np.uint8)
    if arr.ndim == 3 and arr.shape[2] == 3:
        return np.ascontiguousarray(cv2.cvtColor(arr, cv2.COLOR_BGR2GRAY))
    if arr.ndim == 3 and arr.shape[2] == 4:
        return np.ascontiguousarray(cv2.cvtColor(arr, cv2.COLOR_BGRA2GRAY))
    if arr.ndim == 3 and arr.shape[2] == 1:
        return np.ascontiguousarray(arr[:, :, 0])
    if arr.ndim != 2:
        raise ValueError(f"a frame must be (H, W) or (H, W, 3), got shape {arr.shape}")
    return np.ascontiguousarray(arr)


def unique(payloads: list[bytes]) -> list[bytes]:
    """Payloads in first-seen order without repeats."""
    return list(dict.fromkeys(payloads))
