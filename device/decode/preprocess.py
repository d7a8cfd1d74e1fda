"""Cheap recovery of hard frames: rotate the preprocessing across successive frames.

A camera sees the same phone for many frames. Instead of running every enhancement on
every frame (which would multiply the time per frame), frame *n* gets step
``steps[n % len(steps)]``: ``plain`` (the frame as it is), ``sharpen`` (unsharp mask
with a 5x5 box blur: soft focus, hand shake, small modules) or ``upscale`` (2x, cubic:
small, far codes). Within three frames (100 ms at 30 fps) every step has been tried once.

The enhanced steps are decoded by an ``enhanced`` decoder, for zxing-cpp one without its
extra downscaled pass (an enhanced frame is only useful at full resolution, and skipping
that pass pays for the enhancement), and the sharpened frame without the inverted pass,
so the median cost per frame stays at the plain decoder's. Frames are never downscaled
before decoding. Inverted (light-on-dark) codes are read by the backends themselves (on
the plain and upscaled frames of the rotation).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from typing import cast

import cv2

from device.decode.base import Decoder, Frame, to_gray
from device.decode.registry import load_decoder

#: The rotation the camera path uses.
DEFAULT_STEPS: tuple[str, ...] = ("plain", "sharpen", "upscale")

#: Upscale factor of the ``upscale`` step.
UPSCALE_FACTOR = 2.0


def sharpen(gray: Frame) -> Frame:
    """Unsharp mask: ``2 * img - box5(img)`` (a box blur costs the same at any radius)."""
    blur = cv2.blur(gray, (5, 5))
    return cast(Frame, cv2.addWeighted(gray, 2.0, blur, -1.0, 0))


def upscale(gray: Frame) -> Frame:
    f = UPSCALE_FACTOR
    return cast(Frame, cv2.resize(gray, None, fx=f, fy=f, interpolation=cv2.INTER_CUBIC))


def plain(gray: Frame) -> Frame:
    return gray


STEPS: dict[str, Callable[[Frame], Frame]] = {
    "plain": plain,
    "sharpen": sharpen,
    "upscale": upscale,
}


def _check_steps(steps: tuple[str, ...]) -> None:
    if not steps:
        raise ValueError("at least one preprocessing step is needed")
    unknown = [s for s in steps if s not in STEPS]
    if unknown:
        raise ValueError(f"unknown preprocessing step(s) {unknown}; known: {sorted(STEPS)}")


class RotatingDecoder:
    """Wraps a decoder; each call applies the next preprocessing step of the rotation.

    ``plain`` frames go to ``inner``; enhanced ones to ``step_decoders[step]``, else
    ``enhanced``, else ``inner``.
    """

    def __init__(
        self,
        inner: Decoder,
        *,
        steps: tuple[str, ...] = DEFAULT_STEPS,
        enhanced: Decoder | None = None,
        step_decoders: Mapping[str, Decoder] | None = None,
    ) -> None:
        _check_steps(steps)
        self.inner = inner
        self.enhanced = enhanced or inner
        self.step_decoders = dict(step_decoders or {})
        self.steps = steps
        self.name = f"{inner.name}+rotate"
        self._index = 0
        self._lock = threading.Lock()

    def next_step(self) -> str:
        with self._lock:
            step = self.steps[self._index % len(self.steps)]
            self._index += 1
        return step

    def decode(self, frame: Frame) -> list[bytes]:
        step = self.next_step()
        if step == "plain":
            return self.inner.decode(frame)
        dec = self.step_decoders.get(step, self.enhanced)
        return dec.decode(STEPS[step](to_gray(frame)))


def rotating_decoder(name: str, *, steps: tuple[str, ...] = DEFAULT_STEPS) -> RotatingDecoder:
    """The camera path's decoder: backend ``name`` with the preprocessing rotation."""
    inner = load_decoder(name)
    if name != "zxing":
        return RotatingDecoder(inner, steps=steps)
    # Enhanced frames: full resolution only. The sharpened frame skips the inverted pass
    # too, which keeps its cost at the plain frame's (so the median per frame stays
    # there); light-on-dark codes are read by the plain and upscaled frames.
    return RotatingDecoder(
        inner,
        steps=steps,
        enhanced=load_decoder(name, try_downscale=False),
        step_decoders={"sharpen": load_decoder(name, try_downscale=False, try_invert=False)},
    )


def decode_thorough(
    decoder: Decoder,
    frame: Frame,
    *,
    steps: tuple[str, ...] = DEFAULT_STEPS,
    enhanced: Decoder | None = None,
) -> list[bytes]:
    """For a still image (no successive frames): try each step until one reads a code."""
    _check_steps(steps)
    gray = to_gray(frame)
    for step in steps:
        dec = decoder if step == "plain" else (enhanced or decoder)
        found = dec.decode(STEPS[step](gray))
        if found:
            return found
    return []
