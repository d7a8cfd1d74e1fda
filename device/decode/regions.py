"""Where in a frame a code may be, found cheaply: the hints that gate the fallbacks.

Two sources of hints, both nearly free once the fast pass has run:

- **strong**: zxing-cpp's own detector. With ``return_errors=True`` the fast pass also
  returns the symbols it located but could not decode (a checksum or format error: a
  blurred, tiny or JPEG-damaged code). Their boxes are often one finder pattern or a
  part of the code, not all of it, so they are grown to the textured region around them.
- **weak**: a texture map of the frame at quarter resolution. A QR code is a square
  patch with strong edges in *both* directions everywhere inside it; the map keeps the
  pixels whose horizontal *and* vertical gradients are both high (a smoothed minimum of
  the two), so single edges, stripes and lines of text mostly drop out. Connected
  patches that are big enough, filled enough and roughly square become boxes.

Costs on a 1280x720 frame (this machine): the quarter image 0.06 ms, the map and the
boxes ~0.05 ms. Boxes are in full-frame pixels: ``(x, y, w, h)``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, NamedTuple

import cv2
import numpy as np

from device.decode.base import Frame

#: Quarter-resolution texture threshold: the smoothed min(|dx|, |dy|) in grey levels.
TEXTURE_THRESHOLD = 15
#: Smallest box side the texture map reports, in quarter-resolution pixels (40 px full).
MIN_SIDE_Q = 10
#: A patch must fill this share of its bounding box (a code is a solid square).
MIN_FILL = 0.35
#: ... and be no more elongated than this (text lines, stripes are long and thin).
MAX_ASPECT = 3.0


class Box(NamedTuple):
    x: int
    y: int
    w: int
    h: int

    @property
    def area(self) -> int:
        return self.w * self.h

    def overlaps(self, other: Box) -> bool:
        return (self.x < other.x + other.w and other.x < self.x + self.w
                and self.y < other.y + other.h and other.y < self.y + self.h)

    def union(self, other: Box) -> Box:
        x0, y0 = min(self.x, other.x), min(self.y, other.y)
        x1 = max(self.x + self.w, other.x + other.w)
        y1 = max(self.y + self.h, other.y + other.h)
        return Box(x0, y0, x1 - x0, y1 - y0)

    def grown(self, factor: float, min_side: int = 0) -> Box:
        """The box scaled by ``factor`` about its centre (at least ``min_side`` a side)."""
        w = max(int(self.w * factor), min_side)
        h = max(int(self.h * factor), min_side)
        cx, cy = self.x + self.w / 2, self.y + self.h / 2
        return Box(int(cx - w / 2), int(cy - h / 2), w, h)


def halve(gray: Frame) -> Frame:
    """Half size by area averaging (an even crop first: OpenCV's fast 2:1 path)."""
    h, w = gray.shape[:2]
    even = gray[: h & ~1, : w & ~1]
    return np.asarray(cv2.resize(even, (w // 2, h // 2), interpolation=cv2.INTER_AREA))


def position_box(result: Any) -> Box:
    """The bounding box of a zxing-cpp result's position."""
    p = result.position
    xs = (p.top_left.x, p.top_right.x, p.bottom_right.x, p.bottom_left.x)
    ys = (p.top_left.y, p.top_right.y, p.bottom_right.y, p.bottom_left.y)
    return Box(min(xs), min(ys), max(xs) - min(xs), max(ys) - min(ys))


class TextureMap:
    """The two-way texture of a grey frame at quarter resolution (see the module doc)."""

    def __init__(self, gray: Frame) -> None:
        h, w = gray.shape[:2]
        self.usable = h >= 8 * MIN_SIDE_Q and w >= 8 * MIN_SIDE_Q
        if not self.usable:
            self.map = np.zeros((1, 1), np.uint8)
            return
        half = halve(gray)
        dx = cv2.absdiff(half[:-1, 1:], half[:-1, :-1])
        dy = cv2.absdiff(half[1:, :-1], half[:-1, :-1])
        # gradients at half size (modules under 2 px still show), pooled to quarter size
        self.map = np.asarray(cv2.blur(halve(np.asarray(cv2.min(dx, dy), np.uint8)), (5, 5)),
                              np.uint8)

    def boxes(self, limit: int = 3) -> list[Box]:
        """Code-like patches, biggest first, at most ``limit`` (full-frame pixels)."""
        if not self.usable:
            return []
        _, mask = cv2.threshold(self.map, TEXTURE_THRESHOLD, 255, cv2.THRESH_BINARY)
        contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        found: list[tuple[float, Box]] = []
        for c in contours:
            x, y, bw, bh = cv2.boundingRect(c)
            if bw < MIN_SIDE_Q or bh < MIN_SIDE_Q or max(bw, bh) > MAX_ASPECT * min(bw, bh):
                continue
            area = float(cv2.contourArea(c))
            if area < MIN_FILL * bw * bh:
                continue
            found.append((area, Box(4 * x, 4 * y, 4 * bw, 4 * bh)))
        found.sort(key=lambda t: -t[0])
        return [b for _, b in found[:limit]]


def texture_boxes(gray: Frame, *, limit: int = 3) -> list[Box]:
    """Code-like patches of ``gray`` (full resolution), biggest first, at most ``limit``."""
    return TextureMap(gray).boxes(limit)


def strong_regions(errors: Sequence[Box], texture: Iterable[Box]) -> list[Box]:
    """Regions around zxing's located-but-undecoded symbols, biggest first.

    A textured patch an error box touches becomes that patch grown to hold the error
    boxes (the whole code); an error box on no patch is grown threefold about its centre.
    """
    out: list[Box] = []
    used: set[int] = set()
    for t in texture:
        hits = [i for i, e in enumerate(errors) if e.overlaps(t)]
        if hits:
            region = t
            for i in hits:
                region = region.union(errors[i])
            out.append(region)
            used.update(hits)
    for i, e in enumerate(errors):
        if i not in used:
            out.append(e.grown(3.0, min_side=48))
    out.sort(key=lambda b: -b.area)
    return out


def crop(gray: Frame, box: Box, *, margin: float = 0.15) -> Frame | None:
    """``box`` and a margin (the quiet zone, a misplaced edge) cut from ``gray``."""
    h, w = gray.shape[:2]
    mx, my = int(box.w * margin) + 8, int(box.h * margin) + 8
    x0, y0 = max(0, box.x - mx), max(0, box.y - my)
    x1, y1 = min(w, box.x + box.w + mx), min(h, box.y + box.h + my)
    if x1 - x0 < 21 or y1 - y0 < 21:  # smaller than a version-1 code at 1 px a module
        return None
    return np.ascontiguousarray(gray[y0:y1, x0:x1])
