"""Generated scenes: what they draw is what a decoder reads (or nothing, when empty)."""

from __future__ import annotations

import itertools
import math
import random

import numpy as np
import pytest
import zxingcpp

from device.decode import load_decoder
from sim.errors import ScenarioError
from sim.scenes import CLASSES, SceneSpec, qr_modules, random_spec, render_scene, scene_stream


@pytest.mark.parametrize("size", [(640, 480), (1280, 720)])
@pytest.mark.parametrize("module_px", [2.0, 4.0, 8.0])
def test_a_phone_with_a_code_is_read(size: tuple[int, int], module_px: float) -> None:
    frame = render_scene(SceneSpec(payload="HC1:SCENE-TEST", size=size, module_px=module_px))
    assert frame.shape == (size[1], size[0], 3) and frame.dtype == np.uint8
    assert load_decoder("zxing").decode(frame) == [b"HC1:SCENE-TEST"]


def quiet_zone_grey(frame: np.ndarray, module_px: float) -> float:
    """Mean grey level 2 modules outside the code's top-left corner (its quiet zone)."""
    (code,) = zxingcpp.read_barcodes(frame)
    x, y = code.position.top_left.x, code.position.top_left.y
    d = int(2 * module_px)
    return float(frame[y - d - 1 : y - d + 2, x - d - 1 : x - d + 2].mean())


def test_dark_mode_is_light_on_dark() -> None:
    light = render_scene(SceneSpec(payload="HC1:DARK", module_px=5, noise=0))
    dark = render_scene(SceneSpec(payload="HC1:DARK", module_px=5, noise=0, dark_mode=True))
    assert quiet_zone_grey(light, 5) > 180  # dark modules on a light screen
    assert quiet_zone_grey(dark, 5) < 60  # light modules on a dark screen
    assert load_decoder("zxing").decode(dark) == [b"HC1:DARK"]
    zx = load_decoder("zxing", try_invert=False)
    assert zx.decode(dark) == []  # really inverted: a decoder that does not invert misses it


@pytest.mark.parametrize("px", [2.0, 3.5, 8.0])
def test_module_size_in_the_frame(px: float) -> None:
    """The module pitch in the frame is module_px (no tilt, no rotation)."""
    modules = qr_modules("HC1:PITCH", border=0).shape[0]
    frame = render_scene(SceneSpec(payload="HC1:PITCH", module_px=px, noise=0))
    (code,) = zxingcpp.read_barcodes(frame)
    p = code.position
    width = math.dist((p.top_left.x, p.top_left.y), (p.top_right.x, p.top_right.y))
    assert width / modules == pytest.approx(px, rel=0.1)


def test_empty_scenes_hold_no_code() -> None:
    dec = load_decoder("zxing")
    for seed, phone in itertools.product(range(3), (True, False)):
        frame = render_scene(SceneSpec(payload=None, phone=phone, seed=seed, size=(1280, 720)))
        assert dec.decode(frame) == []


def test_distortion_classes_change_the_frame() -> None:
    base = render_scene(random_spec(random.Random(1), klass="clean", payload="HC1:X"))
    for klass in CLASSES:
        spec = random_spec(random.Random(1), klass=klass, payload="HC1:X")
        assert 2.0 <= spec.module_px <= 8.0
        frame = render_scene(spec)
        if klass != "clean":
            assert not np.array_equal(frame, base), klass
    assert random_spec(random.Random(1), klass="glare", payload="x").glare > 0
    assert random_spec(random.Random(1), klass="blur", payload="x").blur_px > 0
    assert abs(random_spec(random.Random(1), klass="tilt", payload="x").tilt_deg) >= 25
    assert random_spec(random.Random(1), klass="dark", payload="x").dark_mode


def test_rendering_is_deterministic() -> None:
    spec = random_spec(random.Random(7), klass="combo", payload="HC1:SAME", size=(1280, 720))
    assert np.array_equal(render_scene(spec), render_scene(spec))


def test_scene_stream_alternates_people_and_empty_frames() -> None:
    labels = [label for _, label in itertools.islice(scene_stream(seed=2, hold_frames=4,
                                                                  gap_frames=3), 14)]
    assert labels[:4] == ["SIM-CODE-2-000000"] * 4
    assert labels[4:7] == [None] * 3
    assert labels[7:11] == ["SIM-CODE-2-000001"] * 4


def test_bad_specs_are_refused() -> None:
    with pytest.raises(ScenarioError):
        render_scene(SceneSpec(payload="x", size=(10, 10)))
    with pytest.raises(ScenarioError):
        render_scene(SceneSpec(payload="x", module_px=40))
    with pytest.raises(ScenarioError):
        random_spec(random.Random(0), klass="fog", payload="x")
    with pytest.raises(ScenarioError):
        qr_modules("x" * 10_000)
