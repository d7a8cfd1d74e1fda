"""A terminal without a camera never loads OpenCV, numpy or the decoder (memory: each
costs 10-20 MB resident on a Pi; docs/daemon.md). Checked on a real `scangate run`
process through the shared objects it has mapped (an imported extension module maps
its ``.so``), after it decided a code from a real pty reader; and, so that the check can
be seen to fail, on the same daemon with a camera configured."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import cv2
import pytest

from sim.keys import DemoKeys
from sim.scenes import SceneSpec, render_scene
from sim.serial_pty import SimSerialReader
from tests.device.daemon_kit import make_site
from tests.device.daemon_proc import DaemonProcess, wait_connected

HEAVY = ("numpy", "cv2", "zxingcpp")


def mapped_packages(pid: int) -> set[str]:
    """Which of HEAVY have a file mapped into process ``pid``."""
    maps = Path(f"/proc/{pid}/maps").read_text()
    return {name for name in HEAVY for line in maps.splitlines()
            if f"/site-packages/{name}/" in line or f"/site-packages/{name}." in line}


def run_site(tmp: Path, sources: str) -> tuple[DaemonProcess, SimSerialReader, DemoKeys]:
    reader = SimSerialReader(link_path=tmp / "ttyACM-sim")
    sources = f'[[sources]]\ntype = "serial"\nport = "{reader.path}"\n{sources}'
    path, keys = make_site(tmp, sources=sources)
    return DaemonProcess(path), reader, keys


def test_serial_only_daemon_maps_no_opencv_numpy_or_decoder(tmp_path: Path) -> None:
    proc, reader, keys = run_site(tmp_path, "")
    try:
        ready = proc.next_event("ready", 30)
        wait_connected(ready["screen"])
        reader.send(keys.issuer().mint("green"))
        assert proc.next_event("decision")["decision"] == "accept"
        assert mapped_packages(proc.proc.pid) == set()
    finally:
        proc.kill()
        reader.close()


def test_with_a_camera_they_are_loaded(tmp_path: Path) -> None:
    image = tmp_path / "frames"
    image.mkdir()
    cv2.imwrite(str(image / "0.png"), render_scene(SceneSpec(payload=None, phone=False)))
    camera = f'[[sources]]\ntype = "camera"\nbackend = "sim"\ndevice = "{image}"\nfps = 5\n'
    proc, reader, _keys = run_site(tmp_path, camera)
    try:
        ready = proc.next_event("ready", 30)
        wait_connected(ready["screen"])
        assert mapped_packages(proc.proc.pid) == set(HEAVY)
    finally:
        proc.kill()
        reader.close()


@pytest.mark.parametrize("module", ["device.cli.main", "device.daemon.app", "device.journal"])
def test_the_cli_and_daemon_modules_import_none_of_them(module: str) -> None:
    """In a fresh interpreter: the modules a camera-less `scangate run` imports."""
    code = (f"import sys, {module}\n"
            "from device.cli.main import build_parser\n"
            "build_parser()\n"
            f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=60)
    assert out.stdout.strip() == "[]"
