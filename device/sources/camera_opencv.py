"""USB / V4L2 cameras (and video files) through OpenCV's ``VideoCapture``."""

from __future__ import annotations

import logging
import time
from typing import cast

import cv2

from device.decode.base import Frame
from device.errors import SourceError

log = logging.getLogger(__name__)


class OpenCVCamera:
    """``device``: an index ("0") or a path ("/dev/video2", or a video file for tests).

    Resolution and frame rate are requested from the driver (it may pick the nearest it
    has). The driver's buffer is kept to one frame so decoded frames are fresh.
    """

    def __init__(
        self, *, device: str = "0", width: int = 1280, height: int = 720, fps: float = 30.0
    ) -> None:
        self.device = device
        self.width = width
        self.height = height
        self.fps = fps
        self._cap: cv2.VideoCapture | None = None

    def open(self) -> None:
        self.close()
        target: int | str = int(self.device) if self.device.isdigit() else self.device
        cap = cv2.VideoCapture(target)
        if not cap.isOpened():
            cap.release()
            raise SourceError(
                f"camera {self.device!r} could not be opened: is it plugged in, is the path "
                "right, and may this user read it (group 'video')?"
            )
        cap.set(cv2.CAP_PROP_FRAME_WIDTH, self.width)
        cap.set(cv2.CAP_PROP_FRAME_HEIGHT, self.height)
        cap.set(cv2.CAP_PROP_FPS, self.fps)
        cap.set(cv2.CAP_PROP_BUFFERSIZE, 1)
        self._cap = cap
        log.info("camera %s opened", self.device)

    def read(self) -> Frame | None:
        if self._cap is None:
            raise SourceError(f"camera {self.device!r} is not open")
        ok, frame = self._cap.read()
        if not ok or frame is None:
            # No frame (end of a file, a device that went away): do not spin.
            time.sleep(1.0 / self.fps)
            return None
        return cast(Frame, frame)

    def close(self) -> None:
        if self._cap is not None:
            self._cap.release()
            self._cap = None
