"""A simulated camera: frames from image files, a video file or generated scenes.

It is a camera backend like ``device.sources.camera_opencv.OpenCVCamera`` (entry point
``scangate.cameras: sim``), so its frames go through the same ``CameraSource`` capture
thread, decoder and preprocessing rotation as a real camera's, at the given frame rate.

``device`` spec:
  ``scenes`` or ``scenes:seed=3,hold=20,gap=10``  generated scenes (``sim.scenes``) of
      phones showing placeholder texts (decided ``unknown_format``);
  ``scenes:keys=DIR`` (with any of the above)     the phones show simulated people's
      codes minted with the demo keys in DIR (``scangate sim keys DIR``; a relative DIR
      is taken from the current directory): mostly green, some yellow, red, expired,
      forged or not a health code (``sim.people.Crowd``)
  a directory or a glob of images (``/tmp/frames/*.png``), played in name order, looped
  a video file (``clip.avi``), looped
Faults are driven through a ``SimCameraControl`` (``stall()``, ``unplug()``, ``replug()``).
Every frame handed out is logged (``frame_log``: monotonic time, label) so latency from
frame to payload can be measured.
"""

from __future__ import annotations

import collections
import glob
import os
import threading
import time
from collections.abc import Callable, Iterator, Sequence

import cv2
import numpy as np

from device.decode.base import Frame
from device.errors import SourceError
from sim.errors import ScenarioError
from sim.scenes import scene_stream

FrameItem = tuple[Frame, "str | None"]


class SimCameraControl:
    """Drives faults of every ``SimCamera`` built with it (they survive reopening)."""

    def __init__(self) -> None:
        self.unplugged = False
        self._running = threading.Event()
        self._running.set()
        self.opens = 0
        self.shown: tuple[Frame, str] | None = None  # something held up to the lens

    def hold_up(self, frame: Frame, label: str = "held") -> None:
        """Someone holds ``frame`` (a phone showing a code) in front of the camera: every
        frame read shows it until ``take_away()`` (sim/phone.py shows a voucher so)."""
        self.shown = (frame, label)

    def take_away(self) -> None:
        self.shown = None

    def stall(self) -> None:
        """Reads block (the driver hangs) until ``resume()``."""
        self._running.clear()

    def resume(self) -> None:
        self._running.set()

    def unplug(self) -> None:
        """Reads fail and opening fails until ``replug()``."""
        self.unplugged = True

    def replug(self) -> None:
        self.unplugged = False

    def wait_running(self, timeout: float) -> bool:
        return self._running.wait(timeout)


def _image_files(spec: str) -> list[str]:
    if os.path.isdir(spec):
        names = sorted(os.listdir(spec))
        return [os.path.join(spec, n) for n in names
                if n.lower().endswith((".png", ".jpg", ".jpeg", ".bmp", ".pgm", ".ppm"))]
    return sorted(glob.glob(spec))


def _parse_scene_options(spec: str) -> dict[str, int | str]:
    opts: dict[str, int | str] = {}
    _, _, rest = spec.partition(":")
    for part in filter(None, rest.split(",")):
        key, _, value = part.partition("=")
        if key == "keys" and value:
            if not os.path.isfile(os.path.join(value, "issuer.key")):
                raise ScenarioError(f"scenes option keys={value}: no demo keys there; run "
                                    f"`scangate sim keys {value}` first")
            opts[key] = value
            continue
        if key not in ("seed", "hold", "gap") or not value.isdigit():
            raise ScenarioError(f"bad scenes option {part!r}; use seed=N,hold=N,gap=N,"
                                "keys=DIR")
        opts[key] = int(value)
    return opts


def _minted_codes(keys_dir: str, seed: int) -> Callable[[], str]:
    """Simulated people's codes, minted with the demo issuer key in ``keys_dir``."""
    from sim.keys import DemoKeys
    from sim.people import Crowd

    crowd = Crowd(DemoKeys.open(keys_dir).issuer(), seed=seed)
    return lambda: crowd.next().payload


class SimCamera:
    """A camera backend that plays frames at ``fps``."""

    def __init__(
        self,
        *,
        device: str = "scenes",
        width: int = 640,
        height: int = 480,
        fps: float = 30.0,
        frames: Sequence[FrameItem] | None = None,
        control: SimCameraControl | None = None,
        loop: bool = True,
        on_frame: Callable[[float, str | None], None] | None = None,
    ) -> None:
        self.device = device
        self.width = width
        self.height = height
        self.fps = fps
        self.control = control or SimCameraControl()
        self.loop = loop
        self.on_frame = on_frame
        self.frame_log: collections.deque[tuple[float, str | None]] = collections.deque(
            maxlen=10_000
        )
        self._frames = list(frames) if frames is not None else None
        self._iter: Iterator[FrameItem] | None = None
        self._next_t = 0.0
        self._open = False
        if self._frames is None:
            self._check_spec()

    def _check_spec(self) -> None:
        d = self.device
        if d == "scenes" or d.startswith("scenes:"):
            _parse_scene_options(d)
        elif not (os.path.isdir(d) or os.path.isfile(d) or _image_files(d)):
            raise ScenarioError(
                f"sim camera source {d!r} is not 'scenes[:opts]', a directory, a glob of "
                "images or a video file"
            )

    def _source(self) -> Iterator[FrameItem]:
        if self._frames is not None:
            frames = self._frames
            while True:
                yield from frames
                if not self.loop:
                    return
        d = self.device
        if d == "scenes" or d.startswith("scenes:"):
            o = _parse_scene_options(d)
            seed, keys = int(o.get("seed", 0)), o.get("keys")
            yield from scene_stream(
                seed=seed, size=(self.width, self.height),
                hold_frames=int(o.get("hold", 20)), gap_frames=int(o.get("gap", 10)),
                next_payload=_minted_codes(str(keys), seed) if keys is not None else None)
            return
        if os.path.isfile(d) and not d.lower().endswith((".png", ".jpg", ".jpeg", ".bmp")):
            yield from self._video(d)
            return
        files = _image_files(d)
        images: list[FrameItem] = []
        for f in files:
            img = cv2.imread(f, cv2.IMREAD_COLOR)
            if img is None:
                raise SourceError(f"sim camera: cannot read image {f}")
            images.append((np.asarray(img, dtype=np.uint8), os.path.basename(f)))
        if not images:
            raise SourceError(f"sim camera: no images in {d}")
        while True:
            yield from images
            if not self.loop:
                return

    def _video(self, path: str) -> Iterator[FrameItem]:
        while True:
            cap = cv2.VideoCapture(path)
            try:
                if not cap.isOpened():
                    raise SourceError(f"sim camera: cannot open video {path}")
                n = 0
                while True:
                    ok, frame = cap.read()
                    if not ok:
                        break
                    n += 1
                    yield np.asarray(frame, dtype=np.uint8), None
            finally:
                cap.release()
            if not self.loop or n == 0:
                return

    # -- the Camera API ------------------------------------------------------------------

    def open(self) -> None:
        if self.control.unplugged:
            raise SourceError(f"sim camera {self.device!r} is unplugged")
        self.control.opens += 1
        self._iter = self._source()
        self._next_t = time.monotonic()
        self._open = True

    def read(self) -> Frame | None:
        if not self._open or self._iter is None:
            raise SourceError("sim camera is not open")
        if self.control.unplugged:
            raise SourceError(f"sim camera {self.device!r} was unplugged")
        if not self.control.wait_running(timeout=3600.0):
            return None
        delay = self._next_t - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        self._next_t = max(self._next_t + 1.0 / self.fps, time.monotonic() - 1.0 / self.fps)
        held = self.control.shown
        label: str | None
        if held is not None:
            frame, label = held
        else:
            try:
                frame, label = next(self._iter)
            except StopIteration:
                time.sleep(1.0 / self.fps)
                return None
        t = time.monotonic()
        self.frame_log.append((t, label))
        if self.on_frame is not None:
            self.on_frame(t, label)
        return frame

    def close(self) -> None:
        self._open = False
        self._iter = None
