"""The fallback decoder: hard frames still read, empty frames cost only the fast pass."""

from __future__ import annotations

import random
from dataclasses import replace

import numpy as np
import pytest

from device.decode import FallbackDecoder, live_decoder, load_decoder, still_decoder
from device.decode.enhance import STEP_NAMES, STEPS, Step
from device.decode.fallback import STRONG_BUDGET, WEAK_BUDGET
from sim.scenes import CLASSES, SceneSpec, random_spec, render_scene


def untimed() -> FallbackDecoder:
    """Without the time budget (it depends on the machine and its load): only the work
    budget, so the attempts on a frame are the same on every run."""
    return FallbackDecoder(time_factor=None)


# Hard 720p frames found with sim.scenes: plain zxing-cpp misses each, the fallback reads
# it, through the hint and step named. (If sim.scenes' rendering changes, find new ones
# the same way: plain misses, untimed().read(frame) has that hint and step.)
AZ = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
HARD = {
    # blurred, small modules: zxing located it, a sharpened crop reads it
    ("strong", "sharpen"): SceneSpec(
        payload=f"HC1:HARD-099-{AZ * 3}", size=(1280, 720), module_px=2.4431089901956486,
        rotate_deg=0.8181093995606137, blur_px=1.0579713828862236,
        offset=(0.09302615598892847, -0.06556693282694895), seed=1699037067),
    # steep tilt, 2 px modules: a sharpened, upscaled crop
    ("strong", "sharpen_upscale"): SceneSpec(
        payload=f"HC1:HARD-004-{AZ * 3}", size=(1280, 720), module_px=2.0112718417634468,
        tilt_deg=-37.0304596559216, rotate_deg=-3.4715674248007407,
        offset=(-0.04654457781181601, 0.039283961528231354), seed=793595014),
    # two-way tilt, under 2 px modules: a 1.5x crop
    ("strong", "upscale_1_5"): SceneSpec(
        payload=f"HC1:HARD-239-{AZ}", size=(1280, 720), module_px=1.9115681788968275,
        tilt_deg=30.502919171404887, tilt_y_deg=-37.02558739144516,
        rotate_deg=-10.82233879416414, offset=(-0.09886946730848242, 0.016218762872130907),
        seed=1319048863),
    # everything at once (two-way tilt, blur, glare, noise, JPEG q31): zxing locates
    # nothing, the texture map finds it
    ("weak", "sharpen_upscale"): SceneSpec(
        payload=f"HC1:HARD-058-{AZ}", size=(1280, 720), module_px=3.824983964277191,
        tilt_deg=44.792034509653504, tilt_y_deg=29.376282976847794,
        rotate_deg=12.167358699093203, blur_px=0.964877367546088, glare=0.34260264823401654,
        noise=9.641240671750504, jpeg_quality=31,
        offset=(-0.06608430387519668, -0.08746223811817096), seed=1748135961),
}


def payload_of(spec: SceneSpec) -> bytes:
    assert isinstance(spec.payload, str)
    return spec.payload.encode()


@pytest.mark.parametrize(("hint", "step"), list(HARD))
def test_fallback_reads_hard_frames_plain_zxing_misses(hint: str, step: str) -> None:
    spec = HARD[(hint, step)]
    frame = render_scene(spec)
    assert load_decoder("zxing").decode(frame) == []
    out = untimed().read(frame)
    assert out.payloads == [payload_of(spec)]
    assert (out.stage, out.hint, out.step) == ("fallback", hint, step)
    assert 0 < out.work <= (STRONG_BUDGET if hint == "strong" else WEAK_BUDGET)


def test_the_same_frame_gets_the_same_attempts() -> None:
    """The budget is counted in pixels, not wall time: no dependence on machine load."""
    frame = render_scene(HARD[("strong", "sharpen_upscale")])
    a, b = untimed().read(frame), untimed().read(frame)
    assert (a.attempts, a.work, a.step, a.regions) == (b.attempts, b.work, b.step, b.regions)


def test_with_the_time_budget_the_first_cheap_step_still_runs() -> None:
    """The production decoder (time budget on): a blurred code the first step reads."""
    spec = HARD[("strong", "sharpen")]
    out = FallbackDecoder().read(render_scene(spec))
    assert (out.payloads, out.step) == ([payload_of(spec)], "sharpen")
    assert out.fallback_ms > 0 and out.fast_ms > 0


def test_no_time_no_fallback() -> None:
    out = FallbackDecoder(time_factor=0.0).read(render_scene(HARD[("strong", "sharpen")]))
    assert (out.payloads, out.hint, out.attempts) == ([], "strong", 0)


def test_an_easy_frame_ends_in_the_fast_pass() -> None:
    spec = SceneSpec(payload="HC1:EASY", size=(1280, 720), module_px=4)
    out = FallbackDecoder().read(render_scene(spec))
    assert (out.payloads, out.stage, out.attempts, out.work) == ([b"HC1:EASY"], "fast", 0, 0.0)


def test_light_on_dark_in_the_fast_pass() -> None:
    spec = SceneSpec(payload="HC1:DARK-MODE-PHONE", size=(1280, 720), module_px=4,
                     dark_mode=True)
    out = FallbackDecoder().read(render_scene(spec))
    assert (out.payloads, out.stage) == ([b"HC1:DARK-MODE-PHONE"], "fast")


@pytest.mark.parametrize("phone", [False, True])
def test_a_plain_empty_frame_runs_no_fallback(phone: bool) -> None:
    """Nobody, or a phone without a code, in a plain hall: no hint, so no extra work."""
    for seed in range(3):
        frame = render_scene(SceneSpec(payload=None, size=(1280, 720), phone=phone, seed=seed))
        out = FallbackDecoder().read(frame)
        assert (out.payloads, out.hint, out.attempts, out.work) == ([], None, 0, 0.0)


def hard_empty_frames(n: int, seed: int) -> list[np.ndarray]:
    """Empty 720p frames with every distortion class and sharp clutter (text, stripes,
    grids, nested squares like finder patterns), half with a phone showing no code."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        spec = random_spec(rng, klass=CLASSES[i % len(CLASSES)], payload=None,
                           size=(1280, 720), module_px=4)
        out.append(render_scene(replace(spec, phone=i % 2 == 0, busy=True)))
    return out


def test_no_false_positive_and_bounded_work_on_hard_empty_frames() -> None:
    live, still = live_decoder("zxing"), still_decoder("zxing")
    assert isinstance(live, FallbackDecoder) and isinstance(still, FallbackDecoder)
    fired = 0
    for frame in hard_empty_frames(2 * len(CLASSES), seed=3):
        out = live.read(frame)
        assert out.payloads == []
        assert out.work <= (STRONG_BUDGET if out.hint == "strong" else WEAK_BUDGET)
        fired += out.attempts > 0
        assert still.decode(frame) == []
    assert fired > 0  # the clutter does fire the texture hint: the gate was exercised


def test_weak_every_makes_the_texture_map_on_every_nth_frame() -> None:
    spec = HARD[("weak", "sharpen_upscale")]
    frame = render_scene(spec)
    dec = FallbackDecoder(time_factor=None, weak_every=2)
    hints = [dec.read(frame).hint for _ in range(4)]
    assert hints == ["weak", None, "weak", None]
    assert live_decoder("zxing").weak_every == 2  # type: ignore[attr-defined]
    with pytest.raises(ValueError, match="weak_every"):
        FallbackDecoder(weak_every=0)


def test_zero_budgets_mean_the_fast_pass_only() -> None:
    spec = HARD[("strong", "sharpen")]
    out = FallbackDecoder(strong_budget=0, weak_budget=0).read(render_scene(spec))
    assert (out.payloads, out.attempts) == ([], 0)
    with pytest.raises(ValueError, match="budgets"):
        FallbackDecoder(weak_budget=-1)


def test_upscaling_is_capped_for_big_crops() -> None:
    up = Step("up", scale=2.0)
    assert up.factor((100, 100)) == 2.0
    assert up.factor((480, 400)) == pytest.approx(1.5)
    assert up.factor((700, 700)) is None and up.cost((700, 700)) is None
    assert Step("s", before=True).cost((100, 100)) == pytest.approx(100 * 100 * 1.3)
    assert STEP_NAMES[0] == "sharpen" and len(STEPS) == len(set(STEP_NAMES))


def test_other_backends_are_used_as_they_are() -> None:
    assert live_decoder("opencv").name == "opencv"
    assert still_decoder("opencv").name == "opencv"
