"""A simulated serial QR reader on a real pseudo-terminal.

The terminal opens ``reader.path`` exactly as it would open ``/dev/ttyACM0``: the path
is a symlink to the pty's slave (``/dev/pts/N``), like udev's ``/dev/serial/by-id/...``
links. ``unplug()`` closes the pty and removes the link (the device node disappears and
a reader holding it open gets an I/O error); ``replug()`` makes a fresh pty and puts the
link back. The simulator sends codes with each suffix, split writes, noise and floods.
"""

from __future__ import annotations

import os
import random
import select
import shutil
import tempfile
import time
import tty
from pathlib import Path

from sim.errors import ScenarioError, SimError

SUFFIXES: dict[str, bytes] = {"crlf": b"\r\n", "cr": b"\r", "lf": b"\n", "none": b""}


class SimSerialReader:
    def __init__(self, *, link_path: Path | str | None = None, write_timeout_s: float = 10.0):
        self._tmpdir: str | None = None
        if link_path is None:
            self._tmpdir = tempfile.mkdtemp(prefix="scangate-sim-serial-")
            link_path = Path(self._tmpdir) / "ttyACM-sim"
        self.link = Path(link_path)
        self.write_timeout_s = write_timeout_s
        self._master: int | None = None
        self._slave: int | None = None
        self.slave_name = ""
        self.plugs = 0
        self.bytes_sent = 0
        self.replug()

    @property
    def path(self) -> str:
        """The path a terminal opens (stable across unplug/replug)."""
        return str(self.link)

    @property
    def plugged(self) -> bool:
        return self._master is not None

    def replug(self) -> None:
        """Plug in (again): a fresh pty, and the link pointing at it."""
        if self._master is not None:
            return
        master, slave = os.openpty()
        tty.setraw(slave)  # no echo, no CR/LF translation, every byte passes
        os.set_blocking(master, False)
        self._master, self._slave = master, slave
        self.slave_name = os.ttyname(slave)
        tmp = self.link.with_name(self.link.name + ".new")
        if tmp.is_symlink() or tmp.exists():
            tmp.unlink()
        os.symlink(self.slave_name, tmp)
        os.replace(tmp, self.link)
        self.plugs += 1

    def unplug(self) -> None:
        """Pull the cable: the pty closes and the device path disappears."""
        if self.link.is_symlink() or self.link.exists():
            self.link.unlink()
        for fd in (self._master, self._slave):
            if fd is not None:
                os.close(fd)
        self._master = self._slave = None

    # -- sending ---------------------------------------------------------------------------

    def write(self, data: bytes) -> None:
        """Raw bytes onto the line, all of them (waits while the terminal drains the pty)."""
        if self._master is None:
            raise SimError("the simulated serial reader is unplugged")
        view = memoryview(data)
        deadline = time.monotonic() + self.write_timeout_s
        while view:
            try:
                n = os.write(self._master, view)
            except BlockingIOError:
                n = 0
            if n:
                self.bytes_sent += n
                view = view[n:]
                continue
            left = deadline - time.monotonic()
            if left <= 0:
                raise SimError("the terminal did not read the simulated serial line in time")
            select.select([], [self._master], [], min(left, 0.1))

    def send(self, payload: bytes | str, *, suffix: str = "crlf") -> None:
        """One code as a reader sends it: payload then suffix, in one write."""
        self.write(_bytes(payload) + _suffix(suffix))

    def send_split(
        self,
        payload: bytes | str,
        *,
        suffix: str = "crlf",
        parts: int = 3,
        delay_s: float = 0.02,
    ) -> None:
        """One code in ``parts`` writes with ``delay_s`` between them (partial reads)."""
        data = _bytes(payload) + _suffix(suffix)
        if parts < 1:
            raise ScenarioError("parts must be >= 1")
        step = max(1, -(-len(data) // parts))
        for i in range(0, len(data), step):
            if i:
                time.sleep(delay_s)
            self.write(data[i : i + step])

    def send_noise(self, nbytes: int = 3, *, seed: int = 0) -> bytes:
        """Line noise: a few random bytes, no terminator. Returns what was sent."""
        rng = random.Random(seed)
        data = bytes(rng.randrange(256) for _ in range(nbytes))
        data = data.replace(b"\r", b"\x00").replace(b"\n", b"\x00")
        self.write(data)
        return data

    def flood(self, nbytes: int = 1 << 20, *, chunk: int = 4096, byte: bytes = b"A") -> None:
        """``nbytes`` without a terminator (a jammed reader, a stuck key)."""
        block = byte * chunk
        left = nbytes
        while left > 0:
            n = min(left, chunk)
            self.write(block[:n])
            left -= n

    def close(self) -> None:
        self.unplug()
        if self._tmpdir is not None:
            shutil.rmtree(self._tmpdir, ignore_errors=True)
            self._tmpdir = None

    def __enter__(self) -> SimSerialReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _bytes(payload: bytes | str) -> bytes:
    return payload.encode() if isinstance(payload, str) else payload


def _suffix(name: str) -> bytes:
    try:
        return SUFFIXES[name]
    except KeyError:
        raise ScenarioError(f"suffix {name!r} is not one of {', '.join(SUFFIXES)}") from None
