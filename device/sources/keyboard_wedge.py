"""USB HID keyboard-wedge QR readers through the Linux evdev interface.

Many cheap readers present themselves as a keyboard and "type" each code followed by
Enter. This source reads the reader's event node (``/dev/input/by-id/...-event-kbd``)
directly: ``struct input_event`` records, no extra library. It grabs the device
(``EVIOCGRAB``) so the codes are not also typed into the console, translates key
presses with a US layout (Shift held for capitals), and frames on Enter with the same
``Framer`` as the serial reader (max length, half codes at an idle gap, noise), so
garbage is dropped with a counted reason. An unplugged reader (the node disappears) is
reopened with backoff once it is back.
"""

from __future__ import annotations

import collections
import errno
import fcntl
import logging
import os
import select
import struct
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

from device.sources.base import Scan
from device.sources.config import KeyboardSourceConfig
from device.sources.handoff import ScanHandoff
from device.sources.reconnect import ReaderHealth, Reconnector
from device.sources.serial_framing import Framer

log = logging.getLogger(__name__)

#: struct input_event: struct timeval (two C longs), __u16 type, __u16 code, __s32 value
EVENT = struct.Struct("llHHi")
EV_KEY = 1
EVIOCGRAB = 0x40044590  # _IOW('E', 0x90, int)
KEY_LEFTSHIFT, KEY_RIGHTSHIFT, KEY_ENTER, KEY_KPENTER = 42, 54, 28, 96

# US layout: keycode -> (plain, shifted)
_ROWS = {
    2: "1!", 3: "2@", 4: "3#", 5: "4$", 6: "5%", 7: "6^", 8: "7&", 9: "8*", 10: "9(", 11: "0)",
    12: "-_", 13: "=+", 15: "\t\t", 26: "[{", 27: "]}", 39: ";:", 40: "'\"", 41: "`~",
    43: "\\|", 51: ",<", 52: ".>", 53: "/?", 57: "  ",
    55: "**", 74: "--", 78: "++", 83: "..", 98: "//",
    71: "77", 72: "88", 73: "99", 75: "44", 76: "55", 77: "66", 79: "11", 80: "22", 81: "33",
    82: "00",
}
for _row, _letters in ((16, "qwertyuiop"), (30, "asdfghjkl"), (44, "zxcvbnm")):
    for _i, _c in enumerate(_letters):
        _ROWS[_row + _i] = _c + _c.upper()
KEYMAP: dict[int, tuple[str, str]] = {k: (v[0], v[1]) for k, v in _ROWS.items()}
#: keycodes of a character (for simulators): char -> (keycode, shift)
CHAR_KEYS: dict[str, tuple[int, bool]] = {}
for _code, (_plain, _shifted) in KEYMAP.items():
    CHAR_KEYS.setdefault(_plain, (_code, False))
    CHAR_KEYS.setdefault(_shifted, (_code, True))


class KeyTranslator:
    """Key events -> bytes. Enter -> ``b"\\n"``; keys with no character are counted."""

    def __init__(self) -> None:
        self.shift = False
        self.unmapped = 0

    def event(self, etype: int, code: int, value: int) -> bytes:
        if etype != EV_KEY:
            return b""
        if code in (KEY_LEFTSHIFT, KEY_RIGHTSHIFT):
            self.shift = value != 0
            return b""
        if value == 0:  # release
            return b""
        if code in (KEY_ENTER, KEY_KPENTER):
            return b"\n"
        chars = KEYMAP.get(code)
        if chars is None:
            self.unmapped += 1
            return b""
        return chars[1 if self.shift else 0].encode()


class KeyboardWedgeSource:
    kind = "keyboard"

    def __init__(
        self,
        cfg: KeyboardSourceConfig,
        *,
        queue_size: int = 256,
        monotonic: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.cfg = cfg
        self.name = cfg.source_name
        self.framer = Framer(terminator=b"\n", idle_timeout_s=cfg.idle_timeout_s,
                             max_length=cfg.max_length, min_length=cfg.min_length)
        self._mono = monotonic
        self._wall = wall
        self._handoff = ScanHandoff(queue_size=queue_size)
        self._stop = self._handoff.stop
        self.grabbed = False
        self.health = ReaderHealth()
        self._reconnect: Reconnector[int] = Reconnector(
            self.name, what="keyboard reader", stop=self._stop, health=self.health,
            backoff_s=cfg.reopen_backoff_s, backoff_cap_s=cfg.reopen_backoff_cap_s, logger=log)
        self.other_drops = self._handoff.drops  # drops outside the framer (queue_full)
        self._keys = KeyTranslator()

    @property
    def scans_out(self) -> int:
        return self._handoff.delivered

    def _open(self) -> int:
        fd = os.open(self.cfg.device, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        self.grabbed = False
        if self.cfg.grab:
            try:
                fcntl.ioctl(fd, EVIOCGRAB, 1)
                self.grabbed = True
            except OSError as exc:  # not an evdev node (or grabbed elsewhere): read anyway
                log.warning("keyboard reader %s could not be grabbed (%s); its keystrokes may "
                            "also reach the console", self.name, exc.strerror)
        # A code being typed when the node was opened arrives as its tail: dropped by the
        # framer up to the first boundary (``partial_at_open``), as for a serial reader.
        self.framer.opened(self._mono())
        return fd

    def _worker(self) -> None:
        self._reconnect.run(self._open, self._read_loop, self._close)

    def _close(self, fd: int) -> None:
        self.framer.reset("disconnected")
        self._keys.shift = False
        os.close(fd)

    def _read_loop(self, fd: int) -> None:
        pending = b""
        while not self._stop.is_set():
            ready, _, _ = select.select([fd], [], [], 0.05)
            now = self._mono()
            if not ready:
                self._deliver(self.framer.tick(now), now)
                continue
            try:
                data = os.read(fd, EVENT.size * 64)
            except BlockingIOError:
                continue
            if not data:
                raise OSError(errno.ENODEV, "end of events (device gone)")
            pending += data
            usable = len(pending) - len(pending) % EVENT.size
            out = bytearray()
            for _sec, _usec, etype, code, value in EVENT.iter_unpack(pending[:usable]):
                out += self._keys.event(etype, code, value)
            pending = pending[usable:]
            self._deliver(self.framer.feed(bytes(out), now) if out else [], now)

    def _deliver(self, frames: list[bytes], now: float) -> None:
        for frame in frames:
            self._handoff.emit(
                Scan(payload=frame, source=self.name, t_mono=now, t_wall=self._wall())
            )

    def scans(self) -> AsyncIterator[Scan]:
        return self._handoff.stream(self._start_reader)

    def _start_reader(self) -> None:
        self._handoff.start_thread(self._worker, f"kbd-{self.name}")

    def status(self) -> dict[str, Any]:
        drops = collections.Counter(self.framer.drops)
        drops.update(self.other_drops)
        if self._keys.unmapped:
            drops["unmapped_key"] = self._keys.unmapped
        return {
            "name": self.name,
            "kind": self.kind,
            "device": self.cfg.device,
            "connected": self.health.connected,
            "in_sync": self.framer.in_sync,
            "grabbed": self.grabbed,
            "reopens": self.health.reopens,
            "open_failures": self.health.open_failures,
            "disconnects": self.health.disconnects,
            "scans": self.scans_out,
            "drops": dict(drops),
            "last_error": self.health.last_error,
        }

    async def close(self) -> None:
        await self._handoff.close()
        self.health.connected = False
