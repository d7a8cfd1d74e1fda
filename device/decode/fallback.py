"""zxing-cpp with fallbacks for hard frames that cost (almost) nothing on empty ones.

A gate camera sees no code most of the time, so the decoder is built around the empty
frame. Per frame:

1. **Fast pass**: zxing-cpp on the grey frame, QR codes only, light-on-dark included
   (``try_invert``), without its rotated-1D and downscaled passes (neither reads a QR
   code here that the full-resolution pass misses; together they cost ~30 %), and with
   ``return_errors=True``. A decoded code ends the frame. This pass costs ~0.7 of plain
   ``zxingcpp.read_barcodes(frame, formats=QRCode)``; most frames end here.
2. **Hints** (only when nothing was decoded): zxing's own "found a symbol, could not
   decode it" results (*strong*), and patches of two-way texture in a quarter-size map
   (*weak*); see ``device.decode.regions``. No hint, no fallback: an empty frame costs
   the fast pass and the texture map (~0.15-0.3 of a plain decode, cache-cold; the live
   camera makes the map on every other such frame, ``weak_every=2``).
3. **Fallbacks on the hinted regions only**, cheapest-per-rescue first
   (``device.decode.enhance``: sharpen, sharpen+upscale, upscale, ...), within two
   per-frame budgets, both larger for a strong hint than for a weak one:

   - *work*, in pixels (``strong_budget`` 2.0 / ``weak_budget`` 0.35 full frames): it
     caps the attempts whatever the machine, and is what makes a frame's attempts the
     same on every run when the time budget is off (``time_factor=None``, the tests);
   - *time*, as a multiple of this frame's own fast pass (``strong_time`` 1.2 /
     ``weak_time`` 0.3): a crop of a damaged code costs far more per pixel than the
     average of a frame (zxing tries many candidate symbols there), so an attempt is
     only started when its predicted time fits; the prediction is learnt from the
     attempts already made on the frame. Relative to the fast pass, the budget scales
     with the machine (a Pi gets the same share of its frame time as this machine).

So a frame costs at most ~(1 + strong_time) fast passes plus one attempt's error.
"""

from __future__ import annotations

import collections
import threading
import time
from dataclasses import dataclass, field

import zxingcpp

from device.decode.base import Decoder, Frame, to_gray, unique
from device.decode.enhance import STEPS, Step, sharpen, upscale
from device.decode.regions import Box, crop, position_box, strong_regions, texture_boxes
from device.decode.registry import load_decoder

_QR = zxingcpp.barcode_formats_from_str("QRCode")

#: Per-frame fallback work budgets, in full-frame decodes.
STRONG_BUDGET = 2.0
WEAK_BUDGET = 0.35
#: Per-frame fallback time budgets, in multiples of the frame's fast pass.
STRONG_TIME = 1.2
WEAK_TIME = 0.3
#: Prior for the time a crop costs per pixel of work, in multiples of the fast pass's
#: average per frame pixel (a code region is busier than the average pixel).
CROP_RATE = 3.0
#: The live camera computes the texture map (weak hints) on every other frame that has
#: no strong hint.
LIVE_WEAK_EVERY = 2


@dataclass
class Outcome:
    """What one frame took: the payloads, how they were found and the work spent."""

    payloads: list[bytes]
    stage: str  # "fast", "fallback" or "none"
    step: str | None = None  # the fallback step that read the code
    hint: str | None = None  # "strong", "weak" or None (no fallback ran)
    regions: list[Box] = field(default_factory=list)
    attempts: int = 0  # fallback reads
    work: float = 0.0  # fallback work in full-frame decodes (0 = fast pass only)
    fast_ms: float = 0.0  # the fast pass
    fallback_ms: float = 0.0  # the fallback attempts (the texture map not counted)


def _read(gray: Frame, *, errors: bool = False) -> list[zxingcpp.Barcode]:
    return zxingcpp.read_barcodes(gray, formats=_QR, try_rotate=False, try_downscale=False,
                                  try_invert=True, return_errors=errors)


class FallbackDecoder:
    """zxing-cpp with hint-gated, budgeted fallbacks (see the module docstring).

    ``weak_every`` > 1 (the live camera path) makes the texture map on every n-th frame
    that has no strong hint only: the one stateful part.
    """

    name = "zxing+fallback"

    def __init__(
        self,
        *,
        strong_budget: float = STRONG_BUDGET,
        weak_budget: float = WEAK_BUDGET,
        strong_time: float = STRONG_TIME,
        weak_time: float = WEAK_TIME,
        time_factor: float | None = 1.0,
        weak_regions: int = 1,
        weak_every: int = 1,
        steps: tuple[Step, ...] = STEPS,
        margin: float = 0.15,
    ) -> None:
        if min(strong_budget, weak_budget, strong_time, weak_time) < 0 or (
            time_factor is not None and time_factor < 0
        ):
            raise ValueError("fallback budgets must be >= 0")
        if weak_every < 1:
            raise ValueError("weak_every must be >= 1 (1: the texture map on every frame)")
        self.strong_budget = strong_budget
        self.weak_budget = weak_budget
        self.strong_time = strong_time
        self.weak_time = weak_time
        self.time_factor = time_factor
        self.weak_regions = weak_regions
        self.weak_every = weak_every
        self.steps = steps
        self.margin = margin
        self.stats: collections.Counter[str] = collections.Counter()
        self._lock = threading.Lock()
        self._misses = 0  # frames without a strong hint: every weak_every-th gets the map

    def decode(self, frame: Frame) -> list[bytes]:
        return self.read(frame).payloads

    def read(self, frame: Frame) -> Outcome:
        """Decode ``frame``; the ``Outcome`` says which stage read it and the work spent."""
        gray = to_gray(frame)
        t0 = time.perf_counter()
        results = _read(gray, errors=True)
        fast_s = time.perf_counter() - t0
        found = unique([bytes(r.bytes) for r in results if r.valid])
        if found:
            self._count("fast")
            return Outcome(found, "fast", fast_ms=fast_s * 1000)
        outcome = self._fallbacks(gray, [position_box(r) for r in results], fast_s)
        outcome.fast_ms = fast_s * 1000
        if outcome.payloads:
            self._count("fallback", outcome.step)
        else:
            self._count("none", outcome.hint)
        return outcome

    # -- the fallbacks ---------------------------------------------------------------

    def _fallbacks(self, gray: Frame, errors: list[Box], fast_s: float) -> Outcome:
        if not errors:
            with self._lock:
                self._misses += 1
                weak_turn = (self._misses - 1) % self.weak_every == 0
        texture: list[Box] = []
        if errors or (weak_turn and self.weak_budget > 0):
            texture = texture_boxes(gray, limit=3)
        if errors:
            hint, budget, share = "strong", self.strong_budget, self.strong_time
            regions = strong_regions(errors, texture)
        else:
            hint, budget, share = "weak", self.weak_budget, self.weak_time
            regions = texture[: self.weak_regions]
        if not regions or budget <= 0:
            return Outcome([], "none")
        frame_px = float(gray.shape[0] * gray.shape[1])
        left = budget * frame_px
        # time: seconds allowed, and the predicted seconds per pixel of work
        timed = self.time_factor is not None
        allowed = share * (self.time_factor or 0.0) * fast_s
        rate = CROP_RATE * fast_s / frame_px
        spent = 0.0
        out = Outcome([], "none", hint=hint, regions=regions)
        for region in regions:
            patch = crop(gray, region, margin=self.margin)
            if patch is None:
                continue
            for step in self.steps:
                cost = step.cost(patch.shape)
                if cost is None or cost > left:
                    continue  # not for this crop, or a cheaper step may still fit
                if timed and spent + cost * rate > allowed:
                    continue
                t0 = time.perf_counter()
                got = [r for r in _read(step.apply(patch)) if r.valid]
                dt = time.perf_counter() - t0
                spent += dt
                rate = max(rate, dt / cost)
                left -= cost
                out.attempts += 1
                if got:
                    out.payloads = unique([bytes(r.bytes) for r in got])
                    out.stage, out.step = "fallback", step.name
                    break
            if out.payloads:
                break
        out.work = round(budget - left / frame_px, 4)
        out.fallback_ms = spent * 1000
        return out

    # -- statistics ----------------------------------------------------------------

    def _count(self, stage: str, detail: str | None = None) -> None:
        self.stats[stage] += 1
        if detail:
            self.stats[f"{stage}:{detail}"] += 1


def live_decoder(name: str = "zxing") -> Decoder:
    """The camera path's decoder: zxing-cpp with fallbacks, the texture map (weak hints)
    on every other frame without a strong hint (a phone is held up for many frames: a
    weak-hint rescue comes at most one frame later, and an empty hall costs half the
    maps); any other backend as it is (10-40x slower already)."""
    if name == "zxing":
        return FallbackDecoder(weak_every=LIVE_WEAK_EVERY)
    return load_decoder(name)


class StillDecoder:
    """Another backend on a still image: as it is, then sharpened, then upscaled 2x."""

    def __init__(self, inner: Decoder) -> None:
        self.inner = inner
        self.name = inner.name

    def decode(self, frame: Frame) -> list[bytes]:
        gray = to_gray(frame)
        for image in (lambda: gray, lambda: sharpen(gray), lambda: upscale(gray)):
            found = self.inner.decode(image())
            if found:
                return found
        return []


def still_decoder(name: str = "zxing") -> Decoder:
    """For a still image (``scangate decode``): time matters less, so larger budgets and
    more texture regions, with the same hint gating (no hint, no fallback); any other
    backend gets the whole image as it is, sharpened and upscaled in turn."""
    if name == "zxing":
        return FallbackDecoder(strong_budget=8.0, weak_budget=4.0, weak_regions=3)
    return StillDecoder(load_decoder(name))
