"""The preprocessing rotation: plain, sharpened, upscaled across successive frames."""

from __future__ import annotations

import numpy as np
import pytest

from device.decode import (
    DEFAULT_STEPS,
    RotatingDecoder,
    decode_thorough,
    load_decoder,
    rotating_decoder,
)
from device.decode.base import Frame
from sim.scenes import SceneSpec, render_scene

# Hard frames found with sim.scenes: plain zxing-cpp misses them, one step reads them.
# (If sim.scenes' rendering changes, find new ones: plain misses, only that step reads.)
ONLY_SHARPEN = SceneSpec(
    payload="HC1:HARD-23-ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", size=(1280, 720),
    module_px=2.829839966246543, rotate_deg=-8.77601104796489, blur_px=1.531835872267194,
    offset=(-0.01639907939773004, -0.03708607601303393), seed=2102145000,
)
ONLY_UPSCALE = SceneSpec(
    payload="HC1:HARD-38-ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", size=(640, 480),
    module_px=1.9235360006869788, tilt_deg=-29.082378853935644,
    rotate_deg=-1.7063224687594456, offset=(-0.033021302459505145, -0.03392559087538208),
    seed=53454791,
)


class Recording:
    """A real decoder that also records the shape of each frame it was given."""

    def __init__(self) -> None:
        self.inner = load_decoder("zxing")
        self.name = "recording"
        self.shapes: list[tuple[int, ...]] = []

    def decode(self, frame: Frame) -> list[bytes]:
        self.shapes.append(frame.shape[:2])
        return self.inner.decode(frame)


def test_default_rotation() -> None:
    assert DEFAULT_STEPS == ("plain", "sharpen", "upscale")


@pytest.mark.parametrize(("spec", "step"), [(ONLY_SHARPEN, "sharpen"), (ONLY_UPSCALE, "upscale")])
def test_rotation_reads_what_plain_misses_within_three_frames(spec: SceneSpec, step: str) -> None:
    frame = render_scene(spec)
    assert isinstance(spec.payload, str)
    want = [spec.payload.encode()]
    plain = load_decoder("zxing")
    assert [plain.decode(frame) for _ in range(3)] == [[], [], []]
    rot = rotating_decoder("zxing")
    results = [rot.decode(frame) for _ in range(3)]
    assert results[DEFAULT_STEPS.index(step)] == want
    assert decode_thorough(plain, frame, enhanced=rot.enhanced) == want


def test_720p_frames_are_never_downscaled() -> None:
    rec = Recording()
    rot = RotatingDecoder(rec, enhanced=rec)
    frame = np.zeros((720, 1280, 3), np.uint8)
    for _ in range(6):
        rot.decode(frame)
    plain_and_sharpen = [rec.shapes[i] for i in (0, 1, 3, 4)]
    assert plain_and_sharpen == [(720, 1280)] * 4
    assert rec.shapes[2][0] > 720 and rec.shapes[5][1] > 1280  # upscaled, never smaller


def test_rotation_reads_light_on_dark() -> None:
    spec = SceneSpec(payload="HC1:DARK-MODE-PHONE", size=(1280, 720), module_px=4, dark_mode=True)
    rot = rotating_decoder("zxing")
    results = [rot.decode(render_scene(spec)) for _ in range(3)]
    assert results[0] == results[2] == [b"HC1:DARK-MODE-PHONE"]  # plain and upscaled frames


def test_plain_and_enhanced_decoders() -> None:
    rot = rotating_decoder("zxing")
    assert rot.name == "zxing+rotate"
    assert rot.inner is not rot.enhanced  # enhanced frames: zxing without its downscaled pass


def test_unknown_step_refused() -> None:
    with pytest.raises(ValueError, match="unknown preprocessing step"):
        RotatingDecoder(load_decoder("zxing"), steps=("plain", "denoise"))
