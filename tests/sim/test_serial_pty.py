"""The simulated serial reader is a real pty behind a stable path."""

from __future__ import annotations

import contextlib
import os
import select
import stat

import pytest

from sim.errors import ScenarioError, SimError
from sim.serial_pty import SimSerialReader


def read_all(fd: int, n: int, timeout: float = 2.0) -> bytes:
    out = b""
    while len(out) < n:
        r, _, _ = select.select([fd], [], [], timeout)
        if not r:
            break
        out += os.read(fd, n - len(out))
    return out


def test_path_is_a_tty_and_bytes_pass_raw() -> None:
    with SimSerialReader() as sim:
        assert os.path.islink(sim.path)
        assert stat.S_ISCHR(os.stat(sim.path).st_mode)
        fd = os.open(sim.path, os.O_RDWR | os.O_NOCTTY)
        try:
            assert os.isatty(fd)
            data = bytes(range(256))
            sim.write(data)
            sim.send(b"CODE", suffix="crlf")
            sim.send(b"CODE", suffix="cr")
            sim.send(b"CODE", suffix="lf")
            sim.send(b"CODE", suffix="none")
            want = data + b"CODE\r\nCODE\rCODE\nCODE"
            assert read_all(fd, len(want)) == want
        finally:
            os.close(fd)


def test_unplug_removes_the_node_and_replug_brings_a_new_one() -> None:
    with SimSerialReader() as sim:
        first = sim.slave_name
        fd = os.open(sim.path, os.O_RDWR | os.O_NOCTTY)
        sim.unplug()
        assert not os.path.exists(sim.path)
        # the reader holding it open sees a hangup: end of file or an I/O error
        with contextlib.suppress(OSError):
            assert os.read(fd, 1) == b""
        os.close(fd)
        with pytest.raises(SimError):
            sim.send(b"X")
        sim.replug()
        assert os.path.exists(sim.path) and sim.plugs == 2
        assert os.path.realpath(sim.path) == sim.slave_name
        fd = os.open(sim.path, os.O_RDWR | os.O_NOCTTY)
        try:
            sim.send(b"AGAIN")
            assert read_all(fd, 7) == b"AGAIN\r\n"
        finally:
            os.close(fd)
        assert first  # the old pty name may be reused by the kernel; the path is what counts


def test_split_noise_and_flood() -> None:
    with SimSerialReader() as sim:
        fd = os.open(sim.path, os.O_RDWR | os.O_NOCTTY)
        try:
            sim.send_split(b"SPLIT-CODE", parts=3, delay_s=0.0)
            assert read_all(fd, 12) == b"SPLIT-CODE\r\n"
            noise = sim.send_noise(5, seed=3)
            assert len(noise) == 5 and b"\r" not in noise and b"\n" not in noise
            assert read_all(fd, 5) == noise
        finally:
            os.close(fd)


def test_write_times_out_when_nobody_reads() -> None:
    with SimSerialReader(write_timeout_s=0.3) as sim, pytest.raises(SimError, match="did not read"):
        sim.flood(1 << 20)


def test_unknown_suffix() -> None:
    with SimSerialReader() as sim, pytest.raises(ScenarioError):
        sim.send(b"X", suffix="tab")
