"""QR decoding behind one seam (``Decoder``), with backends found by name.

    from device.decode import load_decoder, live_decoder, still_decoder
    dec = load_decoder("zxing")    # or "pyzbar", "opencv" (entry points scangate.decoders)
    payloads = dec.decode(frame)   # frame: uint8 ndarray, grey (H, W) or BGR (H, W, 3)
    live = live_decoder("zxing")   # camera: fast pass, hint-gated budgeted fallbacks
    still = still_decoder("zxing") # one image: the same with larger budgets

Payloads are raw ``bytes`` (binary-safe). Every backend reads light-on-dark (inverted)
codes. How the fallbacks stay cheap on empty frames: ``device.decode.fallback``.
"""

from __future__ import annotations

from device.decode.base import Decoder, Frame, to_gray
from device.decode.fallback import FallbackDecoder, Outcome, live_decoder, still_decoder
from device.decode.registry import decoder_names, load_decoder

__all__ = [
    "Decoder",
    "FallbackDecoder",
    "Frame",
    "Outcome",
    "decoder_names",
    "live_decoder",
    "load_decoder",
    "still_decoder",
    "to_gray",
]
