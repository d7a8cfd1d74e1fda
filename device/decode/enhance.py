"""Image steps that recover hard codes, each with its cost, for the fallback decoder.

A step sharpens and/or upscales a grey crop; the decoder then reads the result. Its
``cost`` is counted in pixels: the pixels the decoder reads plus a share for each filter
(a 5x5 box blur and a weighted sum cost ~0.3 of a decode per pixel, a cubic resize
~0.1). The fallback decoder charges that against a per-frame budget, so the same frame
always gets the same attempts (deterministic, testable) and the work scales with the
machine exactly as the plain decode does.

Upscaling is for small modules: a crop is never upscaled beyond ``MAX_SIDE`` pixels a
side (a code that big in the frame has modules of several pixels already), and an
upscaling step that would enlarge less than 1.25x is skipped.

The order is cheapest-per-rescue first, measured on the crops of the bench corpus's
codes that plain zxing-cpp misses (``bench/decode.py``): ``sharpen`` rescues ~1/3 of
the rescuable ones at the lowest cost, ``sharpen_upscale`` ~4/5, ``upscale`` and
``upscale_1_5`` most of the rest (small modules, JPEG), ``upscale_sharpen`` (stronger)
a few more.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

import cv2

from device.decode.base import Frame

#: Longest side an upscaled crop may have.
MAX_SIDE = 720
#: Filter costs per pixel, relative to a decode of that pixel.
SHARPEN_COST = 0.3
RESIZE_COST = 0.1


def sharpen(gray: Frame, *, k: int = 5, amount: float = 1.0) -> Frame:
    """Unsharp mask with a k x k box blur: ``(1 + a) img - a box(img)``."""
    blur = cv2.blur(gray, (k, k))
    return cast(Frame, cv2.addWeighted(gray, 1.0 + amount, blur, -amount, 0))


def upscale(gray: Frame, factor: float = 2.0) -> Frame:
    return cast(Frame, cv2.resize(gray, None, fx=factor, fy=factor,
                                  interpolation=cv2.INTER_CUBIC))


@dataclass(frozen=True)
class Step:
    """Sharpen (``before``), upscale by ``scale``, sharpen again (``after``: k, amount)."""

    name: str
    before: bool = False
    scale: float = 1.0
    after: tuple[int, float] | None = None

    def factor(self, shape: tuple[int, ...]) -> float | None:
        """The upscale factor used on a crop of ``shape``; None: skip the step."""
        if self.scale <= 1.0:
            return 1.0
        f = min(self.scale, MAX_SIDE / max(shape[0], shape[1]))
        return f if f >= 1.25 else None

    def cost(self, shape: tuple[int, ...]) -> float | None:
        """Pixels of work on a crop of ``shape`` (see the module docstring)."""
        f = self.factor(shape)
        if f is None:
            return None
        px = float(shape[0] * shape[1])
        out = px * f * f
        total = out
        if self.before:
            total += SHARPEN_COST * px
        if f > 1.0:
            total += RESIZE_COST * out
        if self.after:
            total += SHARPEN_COST * out
        return total

    def apply(self, gray: Frame) -> Frame:
        f = self.factor(gray.shape)
        if f is None:
            raise ValueError(f"step {self.name} does not apply to a crop of {gray.shape}")
        img = sharpen(gray) if self.before else gray
        if f > 1.0:
            img = upscale(img, f)
        if self.after:
            k, amount = self.after
            img = sharpen(img, k=k, amount=amount)
        return img


STEPS: tuple[Step, ...] = (
    Step("sharpen", before=True),
    Step("sharpen_upscale", before=True, scale=2.0),
    Step("upscale", scale=2.0),
    Step("upscale_1_5", scale=1.5),
    Step("upscale_sharpen", scale=2.0, after=(9, 1.5)),
)
STEP_NAMES: tuple[str, ...] = tuple(s.name for s in STEPS)
