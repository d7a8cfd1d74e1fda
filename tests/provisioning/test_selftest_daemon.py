"""``scangate selftest`` next to a running daemon (a real ``scangate run`` process on
simulated hardware): it finds the daemon through its staff screen, reports the camera and
the reader as the daemon sees them, does not pulse the gate, checks the journal with the
light quick_check, and leaves the daemon running with its inputs connected."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from provisioning.selftest.testcard import write_test_card
from sim.serial_pty import SimSerialReader
from tests.device.daemon_proc import DaemonProcess, wait_connected
from tests.provisioning.selftest_support import (
    free_port,
    stream_cli,
    write_config,
    write_trust,
)


@pytest.mark.slow
def test_selftest_beside_a_running_daemon(tmp_path: Path) -> None:
    card = tmp_path / "card"
    card.mkdir()
    write_test_card(card / "card.png")
    port = free_port()
    with SimSerialReader(link_path=tmp_path / "ttyACM-sim") as reader:
        config = write_config(
            tmp_path, trust=write_trust(tmp_path / "trust"),
            screen={"host": "127.0.0.1", "port": port},
            sources=[{"type": "camera", "backend": "sim", "device": str(card), "width": 640,
                      "height": 480, "fps": 15},
                     {"type": "serial", "port": reader.path}])
        daemon = DaemonProcess(config)
        try:
            ready = daemon.next_event("ready", 30)
            wait_connected(ready["screen"])
            code, out, err = stream_cli(["selftest", "--config", str(config), "--json",
                                         "--scan-serial"])
            assert daemon.proc.poll() is None, "the self-test must not stop the daemon"
            status = httpx.get(ready["screen"] + "api/status", timeout=5).json()
        finally:
            daemon.terminate()
            daemon.kill()
    checks = {c["name"]: c for c in json.loads("\n".join(out))["checks"]}
    assert code == 0, checks
    assert checks["daemon"]["status"] == "PASS"
    assert checks["daemon"]["detail"].startswith(f"running (staff screen {ready['screen']}")
    assert checks["camera frames"]["status"] == "PASS"
    assert "measured by the running daemon" in checks["camera frames"]["detail"]
    assert checks["camera test card"]["status"] == "SKIP"
    assert checks["serial reader"]["status"] == "PASS"
    assert "in use by the running daemon" in checks["serial reader"]["detail"]
    assert not any("Scan the test card" in line for line in err)  # --scan-serial not asked
    assert checks["gate outputs"]["status"] == "SKIP"
    assert "--force" in checks["gate outputs"]["remedy"]
    assert checks["journal"]["status"] == "PASS"
    assert checks["journal"]["detail"].startswith("quick_check ok")
    # the daemon kept its inputs: the self-test opened neither the camera nor the port
    assert all(s["connected"] for s in status["sources"])
    assert all(s["reopens"] == 0 for s in status["sources"]), status["sources"]
