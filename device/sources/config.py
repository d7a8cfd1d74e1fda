"""Configuration of the scan sources (frozen dataclasses, keyword-only, units in names).

See ``device.sources.factory`` for how a configuration becomes a running ``Source``.
"""

from __future__ import annotations

from dataclasses import dataclass

from device.errors import ConfigError

#: Suffixes a serial reader may end each code with.
SUFFIXES: dict[str, bytes] = {"crlf": b"\r\n", "cr": b"\r", "lf": b"\n", "none": b""}
PARITIES = ("N", "E", "O", "M", "S")
#: A QR code holds at most 4,296 alphanumeric characters (7,089 numeric, 2,953 bytes);
#: the default leaves room for a reader's prefix/AIM identifier.
DEFAULT_MAX_LENGTH = 8192


@dataclass(frozen=True, kw_only=True)
class CameraSourceConfig:
    """A camera read by a backend found by name (entry points ``scangate.cameras``).

    ``device``: an index ("0"), a device path ("/dev/video2") or, for the ``sim`` backend,
    a sim spec (see ``sim.camera``). ``decoder``: a ``scangate.decoders`` name.
    ``fallbacks``: zxing-cpp's hard-frame fallbacks (sharpened, upscaled crops where a
    code may be; see ``device.decode.fallback``); false: the plain backend only.
    ``stall_timeout_s``: no frame for this long = stalled; the camera is reopened with
    backoff from ``reopen_backoff_s`` doubling up to ``reopen_backoff_cap_s``.
    """

    backend: str = "opencv"
    device: str = "0"
    width: int = 1280
    height: int = 720
    fps: float = 30.0
    decoder: str = "zxing"
    fallbacks: bool = True
    stall_timeout_s: float = 3.0
    reopen_backoff_s: float = 0.5
    reopen_backoff_cap_s: float = 10.0
    name: str | None = None  # shown in Scan.source; default "camera:<device>"

    def __post_init__(self) -> None:
        if self.width <= 0 or self.height <= 0:
            raise ConfigError(f"camera width/height must be > 0, got {self.width}x{self.height}")
        if self.fps <= 0:
            raise ConfigError(f"camera fps must be > 0, got {self.fps}")
        if self.stall_timeout_s <= 0:
            raise ConfigError(f"camera stall_timeout_s must be > 0, got {self.stall_timeout_s}")
        if self.reopen_backoff_s <= 0 or self.reopen_backoff_cap_s < self.reopen_backoff_s:
            raise ConfigError("camera reopen_backoff_s must be > 0 and <= reopen_backoff_cap_s")

    @property
    def source_name(self) -> str:
        return self.name or f"camera:{self.device}"


@dataclass(frozen=True, kw_only=True)
class SerialSourceConfig:
    """A serial QR reader (USB CDC-ACM ``/dev/ttyACM*``, RS-232/TTL) through pyserial.

    Framing: a code ends at ``suffix`` ("crlf", "cr", "lf" or "none") or, with "none",
    when no byte arrives for ``idle_timeout_s``. With a suffix, bytes left unterminated
    for ``idle_timeout_s`` are a half code and are dropped. Frames longer than
    ``max_length`` bytes are dropped (and the rest of them up to the next terminator or
    idle gap); terminated frames shorter than ``min_length`` are noise.
    """

    port: str
    baud: int = 9600
    parity: str = "N"
    bytesize: int = 8
    stopbits: float = 1
    suffix: str = "crlf"
    idle_timeout_s: float = 0.15
    max_length: int = DEFAULT_MAX_LENGTH
    min_length: int = 4
    reopen_backoff_s: float = 0.2
    reopen_backoff_cap_s: float = 5.0
    name: str | None = None  # shown in Scan.source; default "serial:<port>"

    def __post_init__(self) -> None:
        if not self.port:
            raise ConfigError("serial port must be set (e.g. /dev/ttyACM0)")
        if self.suffix not in SUFFIXES:
            raise ConfigError(
                f"serial suffix {self.suffix!r} is not one of {', '.join(SUFFIXES)}"
            )
        if self.parity not in PARITIES:
            raise ConfigError(f"serial parity {self.parity!r} is not one of {', '.join(PARITIES)}")
        if self.baud <= 0:
            raise ConfigError(f"serial baud must be > 0, got {self.baud}")
        if self.bytesize not in (5, 6, 7, 8):
            raise ConfigError(f"serial bytesize must be 5..8, got {self.bytesize}")
        if self.stopbits not in (1, 1.5, 2):
            raise ConfigError(f"serial stopbits must be 1, 1.5 or 2, got {self.stopbits}")
        if self.idle_timeout_s <= 0:
            raise ConfigError(f"serial idle_timeout_s must be > 0, got {self.idle_timeout_s}")
        if self.max_length < 1 or self.min_length < 1 or self.min_length > self.max_length:
            raise ConfigError("serial needs 1 <= min_length <= max_length")
        if self.reopen_backoff_s <= 0 or self.reopen_backoff_cap_s < self.reopen_backoff_s:
            raise ConfigError("serial reopen_backoff_s must be > 0 and <= reopen_backoff_cap_s")

    @property
    def terminator(self) -> bytes:
        return SUFFIXES[self.suffix]

    @property
    def source_name(self) -> str:
        return self.name or f"serial:{self.port}"


@dataclass(frozen=True, kw_only=True)
class KeyboardSourceConfig:
    """A USB HID keyboard-wedge reader (types each code, then Enter), read through evdev.

    ``device``: its event node, best the stable ``/dev/input/by-id/...-event-kbd`` link.
    ``grab``: take the device exclusively so codes are not typed into the console.
    A code ends at Enter; keys left without Enter for ``idle_timeout_s`` are a half code.
    """

    device: str
    grab: bool = True
    idle_timeout_s: float = 0.3
    max_length: int = DEFAULT_MAX_LENGTH
    min_length: int = 4
    reopen_backoff_s: float = 0.2
    reopen_backoff_cap_s: float = 5.0
    name: str | None = None  # shown in Scan.source; default "keyboard:<device>"

    def __post_init__(self) -> None:
        if not self.device:
            raise ConfigError("keyboard device must be set (e.g. /dev/input/by-id/...-event-kbd)")
        if self.idle_timeout_s <= 0:
            raise ConfigError(f"keyboard idle_timeout_s must be > 0, got {self.idle_timeout_s}")
        if self.max_length < 1 or self.min_length < 1 or self.min_length > self.max_length:
            raise ConfigError("keyboard needs 1 <= min_length <= max_length")
        if self.reopen_backoff_s <= 0 or self.reopen_backoff_cap_s < self.reopen_backoff_s:
            raise ConfigError("keyboard reopen_backoff_s must be > 0 and <= reopen_backoff_cap_s")

    @property
    def source_name(self) -> str:
        return self.name or f"keyboard:{self.device}"


SourceConfig = CameraSourceConfig | SerialSourceConfig | KeyboardSourceConfig
