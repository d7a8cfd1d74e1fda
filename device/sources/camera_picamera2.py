"""The Raspberry Pi camera (libcamera) through picamera2, imported lazily.

OpenCV cannot open libcamera cameras; this backend can. picamera2 ships with Raspberry
Pi OS (``sudo apt install python3-picamera2``); elsewhere the backend says it is missing.
"""

from __future__ import annotations

import logging
from typing import Any

from device.decode.base import Frame
from device.errors import BackendError, SourceError

log = logging.getLogger(__name__)

_MISSING = (
    "the picamera2 camera backend needs the picamera2 package, which is not installed here; "
    "on Raspberry Pi OS run `sudo apt install python3-picamera2` (and create the venv with "
    "--system-site-packages), or choose the opencv backend for a USB camera"
)


def _import_picamera2() -> Any:
    try:
        from picamera2 import Picamera2  # type: ignore[import-not-found,unused-ignore]
    except ImportError as exc:
        raise BackendError(_MISSING) from exc
    return Picamera2


class Picamera2Camera:
    """``device``: the camera number ("0"). Frames are BGR (picamera2's "RGB888")."""

    def __init__(
        self, *, device: str = "0", width: int = 1280, height: int = 720, fps: float = 30.0
    ) -> None:
        self._picamera2 = _import_picamera2()
        self.device = device
        self.width = width
        self.height = height
        self.fps = fps
        self._cam: Any = None

    def open(self) -> None:
        self.close()
        try:
            num = int(self.device or "0")
        except ValueError as exc:
            raise SourceError(
                f"picamera2 device must be a camera number, got {self.device!r}"
            ) from exc
        try:
            cam = self._picamera2(camera_num=num)
            config = cam.create_video_configuration(
                main={"size": (self.width, self.height), "format": "RGB888"},
                controls={"FrameRate": float(self.fps)},
                buffer_count=2,
            )
            cam.configure(config)
            cam.start()
        except Exception as exc:  # libcamera raises RuntimeError/IndexError/...
            raise SourceError(f"Pi camera {num} could not be opened: {exc}") from exc
        self._cam = cam
        log.info("Pi camera %s opened", num)

    def read(self) -> Frame | None:
        if self._cam is None:
            raise SourceError("Pi camera is not open")
        try:
            frame: Frame = self._cam.capture_array("main")
        except Exception as exc:
            raise SourceError(f"Pi camera read failed: {exc}") from exc
        return frame

    def close(self) -> None:
        cam, self._cam = self._cam, None
        if cam is not None:
            try:
                cam.stop()
                cam.close()
            except Exception as exc:  # closing a camera that went away
                log.debug("Pi camera close: %s", exc)
