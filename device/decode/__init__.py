"""QR decoding behind one seam (``Decoder``), with backends found by name.

    from device.decode import load_decoder, rotating_decoder
    dec = load_decoder("zxing")    # or "pyzbar", "opencv" (entry points scangate.decoders)
    payloads = dec.decode(frame)   # frame: uint8 ndarray, grey (H, W) or BGR (H, W, 3)
    live = rotating_decoder("zxing")  # camera: plain, sharpened, upscaled on successive frames

Payloads are raw ``bytes`` (binary-safe). Every backend reads light-on-dark (inverted)
codes. Frames are never downscaled before decoding.
"""

from __future__ import annotations

from device.decode.base import Decoder, Frame, to_gray
from device.decode.preprocess import (
    DEFAULT_STEPS,
    RotatingDecoder,
    decode_thorough,
    rotating_decoder,
)
from device.decode.registry import decoder_names, load_decoder

__all__ = [
    "DEFAULT_STEPS",
    "Decoder",
    "Frame",
    "RotatingDecoder",
    "decode_thorough",
    "decoder_names",
    "load_decoder",
    "rotating_decoder",
    "to_gray",
]
