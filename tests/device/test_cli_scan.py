"""``scangate scan``: live codes from a real pty reader and the simulated camera."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from sim.serial_pty import SimSerialReader

SCANGATE = [sys.executable, "-m", "device.cli.main"]


def start(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [*SCANGATE, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


def wait_stderr(proc: subprocess.Popen[str], text: str, timeout: float = 20.0) -> str:
    assert proc.stderr is not None
    seen = ""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        seen += line
        if text in line:
            return seen
        if not line and proc.poll() is not None:
            break
    raise AssertionError(f"{text!r} not seen on stderr: {seen!r}")


def test_serial_json_after_dedupe() -> None:
    with SimSerialReader() as reader:
        proc = start("scan", "--serial", reader.path, "--json", "--count", "2")
        try:
            wait_stderr(proc, "reading")
            reader.send(b"HC1:SCAN-ONE")
            reader.send(b"HC1:SCAN-ONE")  # the same code again at once: suppressed
            reader.send(b"HC1:SCAN-TWO", suffix="crlf")
            out, err = proc.communicate(timeout=20)
        finally:
            proc.kill() if proc.poll() is None else None
        assert proc.returncode == 0, err
    objs = [json.loads(x) for x in out.splitlines()]
    assert [o["payload"] for o in objs] == ["HC1:SCAN-ONE", "HC1:SCAN-TWO"]
    assert all(o["source"] == f"serial:{reader.path}" and o["t"] > 1e9 for o in objs)


def test_ctrl_c_stops_cleanly(tmp_path: Path) -> None:
    with SimSerialReader() as reader:
        proc = start("scan", "--serial", reader.path, "--suffix", "lf")
        try:
            wait_stderr(proc, "reading")
            reader.send(b"HC1:BEFORE-CTRL-C", suffix="lf")
            assert proc.stdout is not None
            line = proc.stdout.readline()
            assert line.rstrip().endswith(f"serial:{reader.path} HC1:BEFORE-CTRL-C")
            proc.send_signal(signal.SIGINT)
            _, err = proc.communicate(timeout=10)
        finally:
            proc.kill() if proc.poll() is None else None
    assert proc.returncode == 0
    assert "Traceback" not in err


def test_sim_camera_scan() -> None:
    proc = start("scan", "--camera", "sim:scenes:seed=9,hold=8,gap=2", "--width", "640",
                 "--height", "480", "--fps", "60", "--json", "--count", "2")
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    payloads = [json.loads(x)["payload"] for x in out.splitlines()]
    assert payloads[0].startswith("SIM-CODE-9-") and len(set(payloads)) == 2
    assert all(json.loads(x)["source"] == "camera:scenes:seed=9,hold=8,gap=2"
               for x in out.splitlines())


def test_waiting_for_a_missing_reader_is_reported(tmp_path: Path) -> None:
    proc = start("scan", "--serial", str(tmp_path / "ttyACM9"))
    try:
        wait_stderr(proc, "waiting for serial:")
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=10)
    finally:
        proc.kill() if proc.poll() is None else None
    assert proc.returncode == 0


def test_keyboard_wedge_scan() -> None:
    from sim.keyboard_wedge import SimKeyboardWedge

    with SimKeyboardWedge() as kbd:
        proc = start("scan", "--keyboard", kbd.path, "--json", "--count", "1")
        try:
            wait_stderr(proc, "reading")
            kbd.type("HC1:TYPED-BY-A-WEDGE")
            out, err = proc.communicate(timeout=20)
        finally:
            proc.kill() if proc.poll() is None else None
    assert proc.returncode == 0, err
    assert json.loads(out)["payload"] == "HC1:TYPED-BY-A-WEDGE"


def test_bad_camera_backend_exits_2() -> None:
    proc = start("scan", "--camera", "0", "--camera-backend", "gopro")
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 2 and "unknown camera backend 'gopro'" in err
