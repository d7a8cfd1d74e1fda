"""Build a running scan source from its configuration (what the daemon calls).

    from device.sources.factory import (
        CameraSourceConfig, SerialSourceConfig, Deduper, Multiplexer, build_source)

    cam = build_source(CameraSourceConfig(backend="opencv", device="0", width=1280,
                                          height=720, fps=30, decoder="zxing"))
    rdr = build_source(SerialSourceConfig(port="/dev/ttyACM0", baud=9600, suffix="crlf"))
    kbd = build_source(KeyboardSourceConfig(device="/dev/input/by-id/usb-...-event-kbd"))
    mux = Multiplexer([cam, rdr])      # several sources at once; a failing one is reported
    dedupe = Deduper(window_s=3.0)     # same code + same source within 3 s -> suppressed
    async for scan in mux.scans():     # Scan(payload: bytes, source, t_mono, t_wall)
        if dedupe.admit(scan):
            ...                        # verify, decide, journal, actuate
    await mux.close()

Every source has ``status() -> dict`` with at least ``name``, ``kind``, ``connected``,
``reopens``, ``scans`` and ``drops`` (counts by reason); cameras add ``fps``,
``decoder`` and ``last_frame_age_s``. Faults (unplugged, stalled) are reported in the
status and the log and the source reopens by itself; ``scans()`` does not raise for them.
Backends are found by name: cameras through the ``scangate.cameras`` entry points,
decoders through ``scangate.decoders``; an unknown or unloadable backend raises
``BackendError`` from ``build_source``.
"""

from __future__ import annotations

from device.sources.base import Source
from device.sources.config import (
    CameraSourceConfig,
    KeyboardSourceConfig,
    SerialSourceConfig,
    SourceConfig,
)
from device.sources.dedupe import Deduper
from device.sources.mux import Multiplexer

__all__ = [
    "CameraSourceConfig",
    "Deduper",
    "KeyboardSourceConfig",
    "Multiplexer",
    "SerialSourceConfig",
    "SourceConfig",
    "build_source",
]


def build_source(cfg: SourceConfig) -> Source:
    """A ``Source`` for ``cfg``. Raises BackendError / ConfigError when it cannot be built."""
    if isinstance(cfg, CameraSourceConfig):
        from device.sources.camera import CameraSource

        return CameraSource.from_config(cfg)
    if isinstance(cfg, SerialSourceConfig):
        from device.sources.serial_source import SerialSource

        return SerialSource(cfg)
    if isinstance(cfg, KeyboardSourceConfig):
        from device.sources.keyboard_wedge import KeyboardWedgeSource

        return KeyboardWedgeSource(cfg)
    raise TypeError(f"not a source configuration: {cfg!r}")
