"""Generated camera scenes: a phone showing a QR code, as a gate camera sees it.

``render_scene(SceneSpec(...))`` draws one BGR frame: a cluttered background (a
person's clothes, the hall), a phone whose screen shows the code (rendered with segno),
then the distortions of the field: tilt (perspective, about the vertical and the
horizontal axis), in-plane rotation, blur (focus), motion blur (a hand moving the phone),
glare (a lamp on the glass), dark mode (light modules on a dark screen), sensor noise,
reduced contrast and JPEG compression (an MJPEG camera). ``payload=None`` gives an empty
scene (no phone, or a phone with no code; ``busy=True`` adds sharp clutter: printed text,
stripes, grids and nested squares, the things a QR detector might take for a code). Sizes
640x480 and 1280x720; module sizes 2-8 px in the frame.

``random_spec(rng, ...)`` draws a spec from a distortion class; ``scene_stream`` yields
(frame, label) pairs: people holding up phones for a while, empty frames between them.
"""

from __future__ import annotations

import functools
import math
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt
import segno

from sim.errors import ScenarioError

Image = npt.NDArray[np.uint8]

SIZES: dict[str, tuple[int, int]] = {"vga": (640, 480), "720p": (1280, 720)}
#: Distortion classes the corpus and the scene stream draw from.
CLASSES: tuple[str, ...] = (
    "clean", "tilt", "blur", "glare", "dark", "lowcontrast", "motion", "perspective", "noise",
    "jpeg", "combo",
)


@dataclass(frozen=True, kw_only=True)
class SceneSpec:
    payload: bytes | str | None
    size: tuple[int, int] = (640, 480)  # (width, height)
    module_px: float = 4.0
    tilt_deg: float = 0.0  # out-of-plane tilt about the vertical axis (perspective)
    tilt_y_deg: float = 0.0  # out-of-plane tilt about the horizontal axis
    rotate_deg: float = 0.0  # in-plane rotation
    blur_px: float = 0.0  # Gaussian sigma
    motion_px: float = 0.0  # length of a linear motion blur
    motion_deg: float = 0.0  # its direction
    glare: float = 0.0  # 0..1 strength of a bright blob over the screen
    dark_mode: bool = False  # light-on-dark code
    contrast: float = 1.0  # 1 = full screen contrast; 0.3 = a dim, washed-out screen
    noise: float = 2.0  # sensor noise sigma (grey levels)
    jpeg_quality: int = 0  # 1..100: the frame went through JPEG at this quality; 0 = not
    offset: tuple[float, float] = (0.0, 0.0)  # phone centre offset, fraction of frame
    phone: bool = True  # draw a phone (False with payload=None: nobody there)
    busy: bool = False  # sharp clutter in the background (text, stripes, grids, squares)
    seed: int = 0


def qr_modules(payload: bytes | str, *, border: int = 4) -> npt.NDArray[np.bool_]:
    """The code's module matrix (True = dark) with a quiet zone of ``border`` modules."""
    return _qr_modules(payload, border).copy()


@functools.lru_cache(maxsize=256)
def _qr_modules(payload: bytes | str, border: int) -> npt.NDArray[np.bool_]:
    try:
        qr = segno.make_qr(payload, error="m")
    except Exception as exc:  # segno raises DataOverflowError etc.
        raise ScenarioError(f"cannot make a QR code of this payload: {exc}") from exc
    m = np.array([list(row) for row in qr.matrix], dtype=bool)
    return np.pad(m, border, constant_values=False)


def _background(rng: np.random.Generator, w: int, h: int) -> Image:
    """Low-frequency clutter: gradients and blobs (clothes, a hall), no code-like edges."""
    # drawn at a quarter of the size (it is all low-frequency), then scaled up
    qw, qh = max(16, w // 4), max(16, h // 4)
    small = rng.integers(40, 200, size=(max(2, h // 60), max(2, w // 60), 3), dtype=np.uint8)
    bg = cv2.resize(small, (qw, qh), interpolation=cv2.INTER_CUBIC)
    for _ in range(int(rng.integers(2, 6))):
        centre = (int(rng.integers(0, qw)), int(rng.integers(0, qh)))
        axes = (int(rng.integers(qw // 10, qw // 3)), int(rng.integers(qh // 10, qh // 3)))
        colour = tuple(int(c) for c in rng.integers(20, 235, size=3))
        cv2.ellipse(bg, centre, axes, float(rng.uniform(0, 180)), 0, 360, colour, -1)
    bg = cv2.GaussianBlur(bg, (0, 0), 0.75)
    return np.asarray(cv2.resize(bg, (w, h), interpolation=cv2.INTER_LINEAR), dtype=np.uint8)


def _screen(spec: SceneSpec) -> tuple[Image, float]:
    """The phone's face (grey) with the code on its screen, and the module size in it."""
    # The code drawn at an integer module size >= the wanted one, scaled later.
    assert spec.payload is not None
    mods = qr_modules(spec.payload)
    lo, hi = (235, 20) if not spec.dark_mode else (25, 225)  # (light, dark) grey levels
    mid = 128
    lo = int(mid + (lo - mid) * spec.contrast)
    hi = int(mid + (hi - mid) * spec.contrast)
    scale = 8
    code = np.where(mods, hi, lo).astype(np.uint8)
    code = np.asarray(
        cv2.resize(code, None, fx=scale, fy=scale, interpolation=cv2.INTER_NEAREST), np.uint8
    )
    n = code.shape[0]
    screen_w = int(n * 1.25)
    screen_h = int(n * 2.0)
    face = np.full((screen_h + 2 * scale * 3, screen_w + 2 * scale * 3), 15, np.uint8)
    y0, x0 = scale * 3, scale * 3
    face[y0 : y0 + screen_h, x0 : x0 + screen_w] = lo
    cy = y0 + int(screen_h * 0.45) - n // 2
    cx = x0 + (screen_w - n) // 2
    face[cy : cy + n, cx : cx + n] = code
    # a status bar and a caption, as an app shows them
    cv2.rectangle(face, (x0, y0), (x0 + screen_w, y0 + scale * 4), hi // 2 + lo // 2, -1)
    cv2.rectangle(
        face, (cx, cy + n + scale * 4), (cx + n, cy + n + scale * 8), int(hi * 0.7 + lo * 0.3), -1
    )
    return face, float(scale)


def _warp_corners(
    w: float, h: float, spec: SceneSpec, frame_w: int, frame_h: int, scale: float
) -> npt.NDArray[np.float32]:
    """Where the face's corners land in the frame: scaled, tilted, rotated, placed."""
    k = spec.module_px / scale
    pw, ph = w * k, h * k
    corners = np.array([[-pw / 2, -ph / 2], [pw / 2, -ph / 2], [pw / 2, ph / 2], [-pw / 2, ph / 2]])
    # out-of-plane tilt about the vertical axis: one side nearer (bigger) than the other
    t = math.radians(spec.tilt_deg)
    if t:
        z = corners[:, 0] * math.sin(t) / max(pw, 1.0)  # -0.5..0.5 * sin
        corners[:, 0] *= math.cos(t)
        corners = corners * (1 + z)[:, None]
    ty = math.radians(spec.tilt_y_deg)
    if ty:
        z = corners[:, 1] * math.sin(ty) / max(ph, 1.0)
        corners[:, 1] *= math.cos(ty)
        corners = corners * (1 + z)[:, None]
    r = math.radians(spec.rotate_deg)
    rot = np.array([[math.cos(r), -math.sin(r)], [math.sin(r), math.cos(r)]])
    corners = corners @ rot.T
    cx = frame_w / 2 + spec.offset[0] * frame_w
    cy = frame_h / 2 + spec.offset[1] * frame_h
    out: npt.NDArray[np.float32] = (corners + np.array([cx, cy])).astype(np.float32)
    return out


def render_scene(spec: SceneSpec) -> Image:
    """One BGR frame of the scene ``spec`` describes."""
    w, h = spec.size
    if w < 64 or h < 64:
        raise ScenarioError(f"scene size {w}x{h} is too small")
    if not 1.0 <= spec.module_px <= 16.0:
        raise ScenarioError(f"module size {spec.module_px} px is outside 1..16")
    rng = np.random.default_rng(spec.seed)
    frame = _background(rng, w, h)
    if spec.busy:
        _add_clutter(frame, np.random.default_rng(spec.seed + 7919))
    if spec.phone:
        if spec.payload is not None:
            face, scale = _screen(spec)
        else:  # a phone showing something else (no code)
            face = np.full((480, 300), 15, np.uint8)
            face[24:-24, 24:-24] = 200 if not spec.dark_mode else 40
            cv2.putText(face, "12:30", (60, 200), cv2.FONT_HERSHEY_SIMPLEX, 2.2, 90, 5)
            scale = 8.0
            spec = replace(spec, module_px=max(spec.module_px, 4.0))
        fh, fw = face.shape
        dst = _warp_corners(fw, fh, spec, w, h, scale)
        src = np.array([[0, 0], [fw, 0], [fw, fh], [0, fh]], dtype=np.float32)
        m = cv2.getPerspectiveTransform(src, dst)
        warped = cv2.warpPerspective(face, m, (w, h), flags=cv2.INTER_AREA)
        mask = cv2.warpPerspective(np.full_like(face, 255), m, (w, h), flags=cv2.INTER_LINEAR)
        alpha = mask.astype(np.float32) / 255.0
        phone = cv2.cvtColor(warped, cv2.COLOR_GRAY2BGR)
        frame = np.asarray(cv2.blendLinear(phone, frame, alpha, 1.0 - alpha), np.uint8)
        if spec.glare > 0:
            frame = _add_glare(frame, dst, spec.glare, rng)
    if spec.blur_px > 0:
        frame = np.asarray(cv2.GaussianBlur(frame, (0, 0), spec.blur_px), np.uint8)
    if spec.motion_px >= 1.0:
        frame = np.asarray(
            cv2.filter2D(frame, -1, _motion_kernel(spec.motion_px, spec.motion_deg)), np.uint8
        )
    if spec.noise > 0:
        noise = np.empty(frame.shape, np.int16)
        cv2.setRNGSeed(spec.seed)
        sigma = float(spec.noise)
        cv2.randn(noise, (0.0, 0.0, 0.0), (sigma, sigma, sigma))  # type: ignore[call-overload]
        frame = np.asarray(cv2.add(frame, noise, dtype=cv2.CV_8U), np.uint8)
    if spec.jpeg_quality:
        if not 1 <= spec.jpeg_quality <= 100:
            raise ScenarioError(f"jpeg_quality {spec.jpeg_quality} is outside 1..100")
        ok, buf = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, spec.jpeg_quality])
        if not ok:  # pragma: no cover - OpenCV always has a JPEG codec
            raise ScenarioError("OpenCV cannot encode JPEG here")
        frame = np.asarray(cv2.imdecode(buf, cv2.IMREAD_COLOR), np.uint8)
    return frame


def _motion_kernel(length: float, angle_deg: float) -> npt.NDArray[np.float32]:
    """A normalised line of ``length`` px at ``angle_deg``: the blur of a moving hand."""
    n = math.ceil(length) | 1
    k = np.zeros((n, n), np.float32)
    c = n // 2
    dx, dy = math.cos(math.radians(angle_deg)), math.sin(math.radians(angle_deg))
    half = (length - 1) / 2
    p0 = (round(c - dx * half), round(c - dy * half))
    p1 = (round(c + dx * half), round(c + dy * half))
    cv2.line(k, p0, p1, 1.0, 1, cv2.LINE_AA)
    total = float(k.sum())
    if total <= 0:
        k[c, c] = 1.0
        total = 1.0
    return k / np.float32(total)


def _add_clutter(frame: Image, rng: np.random.Generator) -> None:
    """Sharp, high-contrast things a hall holds: printed text, stripes, grids, nested
    squares (signs, tiles, a checked shirt). Drawn in place."""
    h, w = frame.shape[:2]
    for _ in range(int(rng.integers(4, 9))):
        kind = int(rng.integers(0, 4))
        x, y = int(rng.integers(0, w - 40)), int(rng.integers(0, h - 40))
        size = int(rng.integers(min(w, h) // 12, min(w, h) // 3))
        dark = tuple(int(v) for v in rng.integers(0, 60, 3))
        light = tuple(int(v) for v in rng.integers(190, 256, 3))
        if kind == 0:  # printed text
            for line in range(int(rng.integers(2, 6))):
                text = "".join(chr(int(c)) for c in rng.integers(65, 91, int(rng.integers(4, 14))))
                cv2.putText(frame, text, (x, y + line * size // 4), cv2.FONT_HERSHEY_SIMPLEX,
                            float(rng.uniform(0.4, 1.4)), dark, int(rng.integers(1, 3)))
        elif kind == 1:  # stripes
            step = int(rng.integers(3, 12))
            for k in range(0, size, 2 * step):
                cv2.rectangle(frame, (x + k, y), (x + k + step - 1, y + size), dark, -1)
        elif kind == 2:  # a grid (tiles, a checked shirt)
            step = int(rng.integers(4, 16))
            cv2.rectangle(frame, (x, y), (x + size, y + size), light, -1)
            for i in range(0, size, step):
                for j in range(0, size, step):
                    if (i // step + j // step) % 2:
                        cv2.rectangle(frame, (x + i, y + j), (x + i + step - 1, y + j + step - 1),
                                      dark, -1)
        else:  # nested squares, about the proportions of a finder pattern
            unit = max(2, size // 9)
            cv2.rectangle(frame, (x, y), (x + 7 * unit, y + 7 * unit), dark, -1)
            cv2.rectangle(frame, (x + unit, y + unit), (x + 6 * unit, y + 6 * unit), light, -1)
            cv2.rectangle(frame, (x + 2 * unit, y + 2 * unit), (x + 5 * unit, y + 5 * unit),
                          dark, -1)


def _add_glare(
    frame: Image, corners: npt.NDArray[np.float32], strength: float, rng: np.random.Generator
) -> Image:
    """A bright Gaussian blob (a lamp reflected on the glass) near the screen's centre."""
    h, w = frame.shape[:2]
    span = corners.max(0) - corners.min(0)
    cx, cy = corners.mean(axis=0) + rng.uniform(-0.2, 0.2, 2) * span
    radius = float(np.linalg.norm(corners[2] - corners[0])) * 0.18
    r = int(radius * 3)
    x0, x1 = max(0, int(cx) - r), min(w, int(cx) + r + 1)
    y0, y1 = max(0, int(cy) - r), min(h, int(cy) + r + 1)
    if x0 >= x1 or y0 >= y1:
        return frame
    yy, xx = np.mgrid[y0:y1, x0:x1].astype(np.float32)
    blob = np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / np.float32(2 * radius**2))
    add = (blob * np.float32(255 * strength)).astype(np.uint8)
    out = frame.copy()
    out[y0:y1, x0:x1] = cv2.add(out[y0:y1, x0:x1], cv2.cvtColor(add, cv2.COLOR_GRAY2BGR))
    return out


def random_spec(
    rng: random.Random,
    *,
    klass: str,
    payload: bytes | str | None,
    size: tuple[int, int] = (640, 480),
    module_px: float | None = None,
) -> SceneSpec:
    """A spec of distortion class ``klass`` (one of CLASSES) with random strengths."""
    if klass not in CLASSES:
        raise ScenarioError(f"unknown distortion class {klass!r}; known: {', '.join(CLASSES)}")
    spec = SceneSpec(
        payload=payload,
        size=size,
        module_px=module_px if module_px is not None else rng.uniform(2.0, 8.0),
        rotate_deg=rng.uniform(-12, 12),
        offset=(rng.uniform(-0.12, 0.12), rng.uniform(-0.1, 0.1)),
        seed=rng.randrange(2**31),
    )
    tilt: dict[str, Any] = {"tilt_deg": rng.uniform(25, 50) * rng.choice((-1, 1))}
    blur: dict[str, Any] = {"blur_px": rng.uniform(1.0, 2.0)}
    glare: dict[str, Any] = {"glare": rng.uniform(0.5, 0.9)}
    dark: dict[str, Any] = {"dark_mode": True}
    low: dict[str, Any] = {"contrast": rng.uniform(0.25, 0.45), "noise": 4.0}
    table: dict[str, dict[str, Any]] = {
        "clean": {},
        "tilt": tilt,
        "blur": blur,
        "glare": glare,
        "dark": {**dark, "blur_px": rng.uniform(0, 0.8)},
        "lowcontrast": low,
    }
    if klass in table:
        return replace(spec, **table[klass])
    # The later classes draw from their own generator (seeded by the spec), so adding
    # them left the sequences of the classes above, and of scene_stream, as they were.
    sub = random.Random(spec.seed ^ 0x5CE7E)
    sign = lambda: sub.choice((-1, 1))  # noqa: E731
    motion = {"motion_px": sub.uniform(2.5, 7.0), "motion_deg": sub.uniform(0, 180)}
    perspective = {"tilt_deg": sub.uniform(15, 45) * sign(),
                   "tilt_y_deg": sub.uniform(15, 40) * sign(),
                   "rotate_deg": spec.rotate_deg + sub.uniform(-25, 25)}
    later: dict[str, dict[str, Any]] = {
        "motion": motion,
        "perspective": perspective,
        "noise": {"noise": sub.uniform(12.0, 28.0), "contrast": sub.uniform(0.4, 0.8)},
        "jpeg": {"jpeg_quality": sub.randint(5, 20), "noise": 3.0,
                 "blur_px": sub.uniform(0.0, 0.8)},
        # everything at once, each milder: a hand-held phone under a lamp, MJPEG camera
        "combo": {**perspective, "glare": sub.uniform(0.2, 0.6),
                  **({"blur_px": sub.uniform(0.8, 1.5)} if sub.random() < 0.5 else
                     {"motion_px": sub.uniform(3.0, 7.0), "motion_deg": sub.uniform(0, 180)}),
                  "noise": sub.uniform(4.0, 10.0), "jpeg_quality": sub.randint(20, 60),
                  "dark_mode": sub.random() < 0.3},
    }
    return replace(spec, **later[klass])


def scene_stream(
    *,
    seed: int = 0,
    size: tuple[int, int] = (640, 480),
    hold_frames: int = 20,
    gap_frames: int = 10,
    classes: tuple[str, ...] = ("clean", "tilt", "blur", "glare", "dark"),
    payloads: list[str] | None = None,
    next_payload: Callable[[], str] | None = None,
) -> Iterator[tuple[Image, str | None]]:
    """Endless (frame, label) pairs: a person holds up a phone for ``hold_frames`` frames,
    then ``gap_frames`` empty frames pass before the next. ``label`` is the payload shown.
    Each person shows ``next_payload()`` if given (e.g. a freshly minted code), else the
    next of ``payloads``, else a placeholder text (decided as ``unknown_format``).

    Each person's frames vary slightly (hand shake) around their scene.
    """
    rng = random.Random(seed)
    n = 0
    while True:
        if next_payload is not None:
            payload = next_payload()
        else:
            payload = payloads[n % len(payloads)] if payloads else f"SIM-CODE-{seed}-{n:06d}"
        n += 1
        base = random_spec(rng, klass=rng.choice(classes), payload=payload, size=size,
                           module_px=rng.uniform(3.0, 7.0))
        for i in range(hold_frames):
            shake = replace(
                base,
                rotate_deg=base.rotate_deg + rng.uniform(-1.5, 1.5),
                offset=(base.offset[0] + rng.uniform(-0.01, 0.01),
                        base.offset[1] + rng.uniform(-0.01, 0.01)),
                seed=base.seed + i,
            )
            yield render_scene(shake), payload
        empty = SceneSpec(payload=None, size=size, phone=rng.random() < 0.3,
                          seed=rng.randrange(2**31))
        frame = render_scene(empty)
        for _ in range(gap_frames):
            yield frame, None
