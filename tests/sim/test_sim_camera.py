"""The simulated camera: images, a video file and generated scenes at a frame rate."""

from __future__ import annotations

import time
from pathlib import Path

import cv2
import pytest

from device.decode import load_decoder
from device.errors import SourceError
from device.sources.camera_registry import load_camera_class
from sim.camera import SimCamera, SimCameraControl
from sim.errors import ScenarioError
from sim.scenes import SceneSpec, render_scene


def test_registered_as_the_sim_camera_backend() -> None:
    assert load_camera_class("sim") is SimCamera


def test_plays_image_files_in_order(tmp_path: Path) -> None:
    for i, p in enumerate(["HC1:IMG-A", "HC1:IMG-B"]):
        cv2.imwrite(str(tmp_path / f"{i}.png"), render_scene(SceneSpec(payload=p, module_px=4)))
    cam = SimCamera(device=str(tmp_path), fps=200)
    cam.open()
    dec = load_decoder("zxing")
    frames = [cam.read() for _ in range(4)]
    cam.close()
    got = [dec.decode(f) for f in frames if f is not None]
    assert got == [[b"HC1:IMG-A"], [b"HC1:IMG-B"], [b"HC1:IMG-A"], [b"HC1:IMG-B"]]
    assert [label for _, label in cam.frame_log] == ["0.png", "1.png"] * 2


def test_plays_a_video_file(tmp_path: Path) -> None:
    path = tmp_path / "clip.avi"
    frame = render_scene(SceneSpec(payload="HC1:VIDEO", module_px=4))
    w = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), 30, (640, 480))
    if not w.isOpened():
        pytest.skip("no MJPG writer in this OpenCV")
    for _ in range(3):
        w.write(frame)
    w.release()
    cam = SimCamera(device=str(path), fps=200)
    cam.open()
    frames = [cam.read() for _ in range(5)]  # loops past the end of the clip
    cam.close()
    assert all(f is not None for f in frames)
    assert load_decoder("zxing").decode(frames[4]) == [b"HC1:VIDEO"]  # type: ignore[arg-type]


def test_paces_frames_at_the_given_rate() -> None:
    cam = SimCamera(device="scenes:seed=1,hold=2,gap=1", width=640, height=480, fps=40)
    cam.open()
    t0 = time.monotonic()
    for _ in range(9):
        assert cam.read() is not None
    elapsed = time.monotonic() - t0
    cam.close()
    assert elapsed >= 8 / 40 * 0.9  # 9 frames at 40 fps span at least 8 frame periods


def test_unplug_makes_read_and_open_fail() -> None:
    control = SimCameraControl()
    cam = SimCamera(device="scenes", fps=100, control=control)
    cam.open()
    control.unplug()
    with pytest.raises(SourceError, match="unplugged"):
        cam.read()
    cam.close()
    with pytest.raises(SourceError):
        cam.open()
    control.replug()
    cam.open()
    assert cam.read() is not None


def test_bad_device_spec() -> None:
    with pytest.raises(ScenarioError):
        SimCamera(device="/no/such/dir/*.png")
    with pytest.raises(ScenarioError):
        SimCamera(device="scenes:fog=3")


def test_scenes_with_demo_keys_show_verifiable_codes(tmp_path: Path) -> None:
    """``scenes:keys=DIR``: the phones show codes minted with the demo issuer key, which
    the verifier accepts against the demo trust list (configs/sim.toml relies on it)."""
    from device.verify import TrustStore, Verifier, load_root_key
    from sim.keys import make_demo_keys

    keys = make_demo_keys(tmp_path / "keys")
    store = TrustStore(tmp_path / "tl.cose", load_root_key(keys.root_public))
    verifier = Verifier(store.install(keys.trust_list.read_bytes()))
    cam = SimCamera(device=f"scenes:keys={keys.dir},seed=3,hold=1,gap=1", fps=1000)
    cam.open()
    labels = [label for _ in range(60) if cam.read() is not None
              for _, label in [cam.frame_log[-1]] if label is not None]
    cam.close()
    reasons = {verifier.verify(label).reason.value for label in labels}
    assert len(labels) >= 20 and "ok" in reasons
    assert not any(label.startswith("SIM-CODE-") for label in labels)
    with pytest.raises(ScenarioError, match="run `scangate sim keys /nope` first"):
        SimCamera(device="scenes:keys=/nope")
