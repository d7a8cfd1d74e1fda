"""A simulated USB keyboard-wedge QR reader: ``struct input_event`` records on a FIFO.

An evdev node cannot be created without privileges (uinput), so the simulator writes the
same byte stream an event node gives (press/release records, Shift for capitals, Enter
at the end) into a named pipe at ``path``. The terminal's reader opens and reads it as
it reads ``/dev/input/...``; only the exclusive grab (an ioctl) is not available on a
pipe. ``unplug()`` removes the node, ``replug()`` brings it back.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path

from device.sources.keyboard_wedge import (
    CHAR_KEYS,
    EV_KEY,
    EVENT,
    KEY_ENTER,
    KEY_LEFTSHIFT,
)
from sim.errors import ScenarioError, SimError

EV_SYN = 0


class SimKeyboardWedge:
    def __init__(self, *, path: Path | str | None = None) -> None:
        self._tmpdir: str | None = None
        if path is None:
            self._tmpdir = tempfile.mkdtemp(prefix="scangate-sim-kbd-")
            path = Path(self._tmpdir) / "usb-SIM_QR_Reader-event-kbd"
        self.path = str(path)
        self._fd: int | None = None
        self.replug()

    def replug(self) -> None:
        if self._fd is not None:
            return
        os.mkfifo(self.path, 0o600)
        # opened read-write: the pipe always has a writer, so a reader never sees EOF
        self._fd = os.open(self.path, os.O_RDWR)

    def unplug(self) -> None:
        if self._fd is None:
            return
        os.unlink(self.path)
        os.close(self._fd)
        self._fd = None

    def _records(self, code: int, value: int) -> bytes:
        t = time.time()
        sec, usec = int(t), int((t % 1) * 1e6)
        return EVENT.pack(sec, usec, EV_KEY, code, value) + EVENT.pack(sec, usec, EV_SYN, 0, 0)

    def keys(self, text: str, *, enter: bool = True) -> bytes:
        """The event records a reader sends when it types ``text`` (then Enter)."""
        out = bytearray()
        for ch in text:
            try:
                code, shift = CHAR_KEYS[ch]
            except KeyError:
                raise ScenarioError(f"a keyboard reader cannot type {ch!r}") from None
            if shift:
                out += self._records(KEY_LEFTSHIFT, 1)
            out += self._records(code, 1) + self._records(code, 0)
            if shift:
                out += self._records(KEY_LEFTSHIFT, 0)
        if enter:
            out += self._records(KEY_ENTER, 1) + self._records(KEY_ENTER, 0)
        return bytes(out)

    def write(self, data: bytes) -> None:
        if self._fd is None:
            raise SimError("the simulated keyboard reader is unplugged")
        view = memoryview(data)
        while view:
            view = view[os.write(self._fd, view) :]

    def type(self, text: str, *, enter: bool = True, split: int = 1, delay_s: float = 0.0) -> None:
        """Type ``text`` (and Enter), in ``split`` writes ``delay_s`` apart."""
        data = self.keys(text, enter=enter)
        step = max(1, -(-len(data) // max(1, split)))
        for i in range(0, len(data), step):
            if i and delay_s:
                time.sleep(delay_s)
            self.write(data[i : i + step])

    def close(self) -> None:
        self.unplug()
        if self._tmpdir is not None:
            shutil.rmtree(self._tmpdir, ignore_errors=True)
            self._tmpdir = None

    def __enter__(self) -> SimKeyboardWedge:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

