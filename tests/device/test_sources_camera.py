"""The camera source: the real OpenCV + zxing-cpp path, fed by the simulated camera
and by cv2.VideoCapture on a real video file; stalls, unplugging and reopening."""

from __future__ import annotations

import asyncio
import importlib.util
import os
from pathlib import Path

import cv2
import pytest

from device.decode import live_decoder, load_decoder
from device.decode.base import Frame
from device.errors import BackendError, ConfigError
from device.sources.camera import CameraSource
from device.sources.config import CameraSourceConfig, SerialSourceConfig
from device.sources.factory import Multiplexer, build_source
from sim.camera import SimCamera, SimCameraControl
from sim.scenes import SceneSpec, render_scene
from sim.serial_pty import SimSerialReader
from tests.device.sources_util import Collector, listening, wait_for

STALL = 0.4


def code_frame(payload: str, *, dark: bool = False, size: tuple[int, int] = (640, 480)) -> Frame:
    return render_scene(SceneSpec(payload=payload, size=size, module_px=4, dark_mode=dark))


EMPTY = render_scene(SceneSpec(payload=None, size=(640, 480), phone=False))


def sim_source(
    frames: list[tuple[Frame, str | None]], control: SimCameraControl, *, loop: bool = True,
    fps: float = 50.0,
) -> CameraSource:
    return CameraSource(
        lambda: SimCamera(device="frames", fps=fps, frames=frames, control=control, loop=loop),
        live_decoder("zxing"),
        name="sim-camera",
        stall_timeout_s=STALL,
        reopen_backoff_s=0.05,
        reopen_backoff_cap_s=0.2,
    )


def test_generated_scenes_through_the_factory() -> None:
    cfg = CameraSourceConfig(backend="sim", device="scenes:seed=4,hold=6,gap=2", width=640,
                             height=480, fps=60, name="gate-cam")
    src = build_source(cfg)

    async def main() -> list[bytes]:
        col = Collector(src)
        col.start()
        try:
            got = await col.wait_count(1, timeout=20)
            await wait_for(lambda: len(set(col.payloads)) >= 2, 20, "two people's codes")
            st = src.status()
            assert st["connected"] and st["fps"] > 0 and st["frames"] > 0
            assert st["decoder"] == "zxing+fallback"
            assert {s.source for s in col.got} == {"gate-cam"}
            return got
        finally:
            await col.stop()

    got = asyncio.run(main())
    assert got[0].startswith(b"SIM-CODE-4-")
    assert src.name == "gate-cam"


def test_sim_frames_light_on_dark_and_source_name() -> None:
    control = SimCameraControl()
    frames = [(code_frame("HC1:DARK-MODE", dark=True), "HC1:DARK-MODE"), (EMPTY, None)]
    src = sim_source(frames, control)

    async def main() -> list[bytes]:
        col = Collector(src)
        col.start()
        try:
            await col.wait_count(2)
            assert {s.source for s in col.got} == {"sim-camera"}
            assert all(s.t_mono > 0 and s.t_wall > 1e9 for s in col.got)
            return col.payloads
        finally:
            await col.stop()

    assert set(asyncio.run(main())) == {b"HC1:DARK-MODE"}


def test_hung_camera_is_reported_and_reopened() -> None:
    control = SimCameraControl()
    src = sim_source([(code_frame("HC1:HUNG"), "HC1:HUNG")], control)

    async def main() -> None:
        col = Collector(src)
        col.start()
        try:
            await col.wait_count(1)
            control.stall()  # the driver stops returning: read() blocks
            await wait_for(lambda: src.status()["stalled"], 5, "stall reported")
            st = src.status()
            assert st["stalls"] >= 1 and st["reopens"] >= 1 and not st["connected"]
            await asyncio.sleep(STALL * 4)
            assert len([t for t in src._handoff.threads if t.is_alive()]) <= 3  # no pile-up
            assert "no frame" in st["last_error"]
            n = len(col.got)
            control.resume()
            await wait_for(lambda: len(col.got) > n + 3, 5, "frames again after the stall")
            assert src.status()["connected"] and not src.status()["stalled"]
        finally:
            control.resume()
            await col.stop()

    asyncio.run(main())


def test_camera_without_frames_is_reopened() -> None:
    """read() returns no frame (a dead stream) for longer than the stall timeout."""
    control = SimCameraControl()
    src = sim_source([(code_frame("HC1:ONCE"), "HC1:ONCE")], control, loop=False)

    async def main() -> None:
        col = Collector(src)
        col.start()
        try:
            await col.wait_count(2, timeout=10)  # read, stall, reopen, read again
        finally:
            await col.stop()

    asyncio.run(main())
    st = src.status()
    assert control.opens >= 2 and st["stalls"] >= 1 and st["reopens"] >= 1


def test_unplugged_camera_is_reopened_with_backoff() -> None:
    control = SimCameraControl()
    src = sim_source([(code_frame("HC1:PLUG"), "HC1:PLUG")], control)

    async def main() -> None:
        col = Collector(src)
        col.start()
        try:
            await col.wait_count(1)
            control.unplug()
            await wait_for(lambda: src.status()["open_failures"] >= 2, 5, "failed reopens")
            st = src.status()
            assert not st["connected"] and "unplugged" in st["last_error"]
            n = len(col.got)
            control.replug()
            await wait_for(lambda: len(col.got) > n, 5, "scans after replug")
            assert src.status()["connected"]
        finally:
            await col.stop()

    asyncio.run(main())
    assert src.status()["reopens"] >= 2


def test_a_stalled_camera_does_not_stop_other_sources() -> None:
    control = SimCameraControl()
    cam = sim_source([(code_frame("HC1:CAM"), "HC1:CAM")], control)
    reader = SimSerialReader()
    serial_src = build_source(SerialSourceConfig(port=reader.path, idle_timeout_s=0.1))
    mux = Multiplexer([cam, serial_src])

    async def main() -> None:
        got: list[bytes] = []

        async def consume() -> None:
            agen = mux.scans()
            try:
                async for s in agen:
                    got.append(s.payload)
            finally:
                await agen.aclose()  # type: ignore[attr-defined]

        task = asyncio.create_task(consume())
        try:
            await wait_for(lambda: b"HC1:CAM" in got, 5, "camera scan")
            await wait_for(lambda: listening(serial_src), 5, "serial open")
            control.stall()
            await wait_for(lambda: cam.status()["stalled"], 5, "camera stalled")
            reader.send(b"HC1:SERIAL-WHILE-CAMERA-STALLED")
            await wait_for(lambda: b"HC1:SERIAL-WHILE-CAMERA-STALLED" in got, 5, "serial scan")
            st = mux.status()
            assert st["sim-camera"]["stalled"] and st[serial_src.name]["connected"]
        finally:
            control.resume()
            await mux.close()
            await asyncio.wait_for(task, 5)  # closing the sources ends the merged stream

    try:
        asyncio.run(main())
    finally:
        reader.close()


def test_decoder_failure_is_counted_not_fatal() -> None:
    class Flaky:
        name = "flaky"

        def __init__(self) -> None:
            self.inner = load_decoder("zxing")
            self.calls = 0

        def decode(self, frame: Frame) -> list[bytes]:
            self.calls += 1
            if self.calls % 2:
                raise RuntimeError("decoder bug")
            return self.inner.decode(frame)

    control = SimCameraControl()
    src = CameraSource(
        lambda: SimCamera(
            device="f", fps=100, frames=[(code_frame("HC1:F"), None)], control=control
        ),
        Flaky(),
        name="flaky-cam",
        stall_timeout_s=STALL,
    )

    async def main() -> None:
        col = Collector(src)
        col.start()
        try:
            await col.wait_count(2)
        finally:
            await col.stop()

    asyncio.run(main())
    assert src.status()["drops"]["decode_error"] >= 2


def write_video(path: Path, frames: list[Frame], fps: float = 30.0) -> bool:
    h, w = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), fps, (w, h))
    if not writer.isOpened():
        return False
    for f in frames:
        writer.write(f)
    writer.release()
    cap = cv2.VideoCapture(str(path))
    ok = cap.isOpened() and cap.read()[0]
    cap.release()
    return bool(ok)


def test_opencv_videocapture_on_a_video_file_and_replug(tmp_path: Path) -> None:
    video = tmp_path / "gate.avi"
    frames = [code_frame("HC1:FROM-VIDEO-FILE")] * 4 + [EMPTY] * 2
    if not write_video(video, frames):
        pytest.skip("OpenCV here has no MJPG writer/reader for a test video")
    away = tmp_path / "unplugged.avi"
    cfg = CameraSourceConfig(backend="opencv", device=str(video), width=640, height=480,
                             fps=30, stall_timeout_s=STALL, reopen_backoff_s=0.05,
                             reopen_backoff_cap_s=0.2)
    src = build_source(cfg)
    assert src.name == f"camera:{video}"

    async def main() -> None:
        col = Collector(src)
        col.start()
        try:
            assert (await col.wait_count(1))[0] == b"HC1:FROM-VIDEO-FILE"
            os.rename(video, away)  # the device node disappears
            await wait_for(lambda: src.status()["open_failures"] >= 1, 10, "failed reopen")
            n = len(col.got)
            os.rename(away, video)  # and comes back
            await wait_for(lambda: len(col.got) > n, 10, "scans after replug")
        finally:
            await col.stop()

    asyncio.run(main())
    st = src.status()
    assert st["stalls"] >= 1 and st["reopens"] >= 1


def test_unknown_camera_backend() -> None:
    with pytest.raises(BackendError, match=r"unknown camera backend 'usb3'.*opencv"):
        build_source(CameraSourceConfig(backend="usb3"))


@pytest.mark.skipif(importlib.util.find_spec("picamera2") is not None, reason="picamera2 present")
def test_picamera2_missing_says_what_to_install() -> None:
    with pytest.raises(BackendError, match=r"picamera2.*python3-picamera2"):
        build_source(CameraSourceConfig(backend="picamera2"))


def test_bad_camera_config() -> None:
    with pytest.raises(ConfigError):
        CameraSourceConfig(fps=0)
    with pytest.raises(ConfigError):
        CameraSourceConfig(width=-1)


def test_status_before_start() -> None:
    st = sim_source([(EMPTY, None)], SimCameraControl()).status()
    assert st["connected"] is False and st["fps"] == 0.0 and st["drops"] == {}
