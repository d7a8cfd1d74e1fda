"""A camera as a scan source: capture and decoding on a thread, off the event loop.

The capture thread reads a frame, decodes it (zxing-cpp by default, with fallbacks for
hard frames gated by hints and a per-frame budget: ``device.decode.fallback``) and hands
each payload to the event loop. A camera that gives
no frame for ``stall_timeout_s`` (stalled, unplugged) is reported and reopened with
exponential backoff; a read that hangs inside the driver is abandoned by a watchdog and
a fresh capture thread takes over. Nothing of this stops other sources.
"""

from __future__ import annotations

import collections
import logging
import threading
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

from device.decode import Decoder, live_decoder, load_decoder
from device.sources.base import Scan
from device.sources.camera_registry import Camera, load_camera_class
from device.sources.config import CameraSourceConfig
from device.sources.handoff import ScanHandoff
from device.sources.reconnect import ReaderHealth, Reconnector

log = logging.getLogger(__name__)


def camera_decoder(cfg: CameraSourceConfig) -> Decoder:
    """The decoder a camera of this configuration uses (the self-test uses it too)."""
    return live_decoder(cfg.decoder) if cfg.fallbacks else load_decoder(cfg.decoder)


class CameraSource:
    """Scans from one camera. Build with ``from_config`` or directly for tests/sims."""

    kind = "camera"

    def __init__(
        self,
        camera_factory: Callable[[], Camera],
        decoder: Decoder,
        *,
        name: str = "camera",
        stall_timeout_s: float = 3.0,
        reopen_backoff_s: float = 0.5,
        reopen_backoff_cap_s: float = 10.0,
        queue_size: int = 256,
        monotonic: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.name = name
        self._factory = camera_factory
        self._decoder = decoder
        self._stall_timeout_s = stall_timeout_s
        self._backoff_s = reopen_backoff_s
        self._backoff_cap_s = reopen_backoff_cap_s
        self._max_hung_threads = 2
        self._mono = monotonic
        self._wall = wall
        self._handoff = ScanHandoff(queue_size=queue_size)
        self._stop = self._handoff.stop
        self._lock = threading.Lock()
        self._gen = 0
        # status, written by the capture thread
        self.health = ReaderHealth()
        self.stalled = False
        self.stalls = 0
        self.frames = 0
        self.drops = self._handoff.drops  # queue_full (the hand-off), decode_error (here)
        self._last_frame_t: float | None = None
        self._read_started_t: float | None = None
        self._frame_times: collections.deque[float] = collections.deque(maxlen=120)
        self._decode_ms: collections.deque[float] = collections.deque(maxlen=120)

    @classmethod
    def from_config(cls, cfg: CameraSourceConfig) -> CameraSource:
        camera_cls = load_camera_class(cfg.backend)

        def factory() -> Camera:
            cam: Camera = camera_cls(
                device=cfg.device, width=cfg.width, height=cfg.height, fps=cfg.fps
            )
            return cam

        factory()  # construct once now: a missing library raises BackendError here
        return cls(
            factory,
            camera_decoder(cfg),
            name=cfg.source_name,
            stall_timeout_s=cfg.stall_timeout_s,
            reopen_backoff_s=cfg.reopen_backoff_s,
            reopen_backoff_cap_s=cfg.reopen_backoff_cap_s,
        )

    # -- the capture thread -------------------------------------------------------------

    @property
    def scans_out(self) -> int:
        return self._handoff.delivered

    def _start_worker(self) -> None:
        with self._lock:
            self._gen += 1
            gen = self._gen
        self._handoff.start_thread(self._worker, f"capture-{self.name}-{gen}", gen)

    def _current(self, gen: int) -> bool:
        return gen == self._gen and not self._stop.is_set()

    def _worker(self, gen: int) -> None:
        loop: Reconnector[Camera] = Reconnector(
            self.name, what="camera", stop=self._stop, health=self.health,
            backoff_s=self._backoff_s, backoff_cap_s=self._backoff_cap_s, logger=log,
            connected_on_open=False)  # connected = delivering frames

        def open_camera() -> Camera:
            cam = self._factory()
            cam.open()
            return cam

        loop.run(open_camera, lambda cam: self._capture(gen, cam, loop), lambda cam: cam.close(),
                 running=lambda: self._current(gen))

    def _capture(self, gen: int, cam: Camera, loop: Reconnector[Camera]) -> None:
        """Read and decode until stop, a stall (returns) or a failure (raises)."""
        opened_t = self._mono()
        got_frame = False
        while self._current(gen):
            self._read_started_t = self._mono()
            frame = cam.read()
            now = self._mono()
            if not self._current(gen):  # abandoned while hung: leave the new capture be
                return
            self._read_started_t = None
            if frame is None:
                since = now - (self._last_frame_t if got_frame and self._last_frame_t else opened_t)
                if since > self._stall_timeout_s:
                    self._report_stall(since)
                    return
                continue
            if not got_frame:
                got_frame = True
                loop.mark_connected()  # connected = delivering frames; backoff afresh
            self.stalled = False
            self.frames += 1
            self._last_frame_t = now
            self._frame_times.append(now)
            t0 = time.perf_counter()
            try:
                payloads = self._decoder.decode(frame)
            except Exception as exc:  # a decoder bug must not stop the camera
                self.drops["decode_error"] += 1
                log.warning("camera %s: decoder failed on a frame: %s", self.name, exc)
                continue
            self._decode_ms.append((time.perf_counter() - t0) * 1000)
            if payloads:
                t_mono, t_wall = self._mono(), self._wall()
                for p in payloads:
                    scan = Scan(payload=p, source=self.name, t_mono=t_mono, t_wall=t_wall)
                    self._handoff.emit(scan)

    def _report_stall(self, since: float) -> None:
        self.stalls += 1
        self.stalled = True
        self.health.last_error = f"no frame for {since:.1f} s"
        log.warning("camera %s stalled: no frame for %.1f s; reopening", self.name, since)

    # -- the watchdog (event loop side) ---------------------------------------------------

    def _check_hung_read(self) -> None:
        started = self._read_started_t
        if started is None or self._stop.is_set():
            return
        hung = self._mono() - started
        if hung <= self._stall_timeout_s:
            return
        self._read_started_t = None  # one report per hung read
        self.health.connected = False
        alive = sum(1 for t in self._handoff.threads if t.is_alive())
        if alive > self._max_hung_threads:
            # earlier captures are still stuck in the driver: do not pile up threads
            self.stalled = True
            return
        self._report_stall(hung)
        self.health.reopens += 1
        log.warning("camera %s: read hung for %.1f s; starting a new capture", self.name, hung)
        self._start_worker()

    # -- the Source API --------------------------------------------------------------------

    def scans(self) -> AsyncIterator[Scan]:
        tick = max(0.05, min(1.0, self._stall_timeout_s / 4))
        return self._handoff.stream(self._start_worker, tick_s=tick, on_idle=self._check_hung_read)

    def status(self) -> dict[str, Any]:
        now = self._mono()
        times = [t for t in self._frame_times if now - t <= 2.0]
        span = times[-1] - times[0] if len(times) > 1 else 0.0
        fps = (len(times) - 1) / span if span > 0 else 0.0
        last = self._last_frame_t
        decode = sorted(self._decode_ms)
        return {
            "name": self.name,
            "kind": self.kind,
            "decoder": getattr(self._decoder, "name", "?"),
            "connected": self.health.connected,
            "stalled": self.stalled,
            "fps": round(fps, 1),
            "frames": self.frames,
            "scans": self.scans_out,
            "reopens": self.health.reopens,
            "open_failures": self.health.open_failures,
            "disconnects": self.health.disconnects,
            "stalls": self.stalls,
            "drops": dict(self.drops),
            "last_frame_age_s": None if last is None else round(now - last, 3),
            "decode_ms_median": round(decode[len(decode) // 2], 2) if decode else None,
            "last_error": self.health.last_error,
        }

    async def close(self) -> None:
        await self._handoff.close()
        self.health.connected = False
