"""``scangate sim serial``: a pty reader a terminal can open, sending demo codes."""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import termios
import tty


def test_prints_a_path_and_sends_codes_until_ctrl_c() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "device.cli.main", "sim", "serial", "--interval", "0.05",
         "--payload", "HC1:SIM-SERIAL-CLI"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        assert proc.stdout is not None
        path = proc.stdout.readline().strip()
        fd = os.open(path, os.O_RDWR | os.O_NOCTTY)
        try:
            tty.setraw(fd, termios.TCSANOW)
            got = b""
            while got.count(b"\r\n") < 2:
                r, _, _ = select.select([fd], [], [], 10)
                assert r, f"nothing read from {path}; have {got!r}"
                got += os.read(fd, 1024)
        finally:
            os.close(fd)
        assert got.startswith(b"HC1:SIM-SERIAL-CLI\r\nHC1:SIM-SERIAL-CLI\r\n")
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    assert not os.path.exists(path)  # the device link is gone when the reader is closed
