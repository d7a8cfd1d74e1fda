"""`scangate sim run` (what `make run` starts): real daemon, real pty, stand-in centre."""

from __future__ import annotations

import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.procs import spawned

SCANGATE = str(Path(sys.executable).with_name("scangate"))


def test_sim_run_decides_simulated_people(tmp_path: Path) -> None:
    out = subprocess.run(
        [SCANGATE, "sim", "run", "--dir", str(tmp_path / "run"), "--port", "0",
         "--people", "10", "--interval", "0.1", "--seed", "7"],
        capture_output=True, text=True, timeout=90)
    assert out.returncode == 0, out.stdout + out.stderr
    text = out.stdout
    assert re.search(r"staff screen: http://127\.0\.0\.1:\d+/", text)
    assert "central stand-in: https://127.0.0.1:" in text
    # First start: the terminal enrolled itself (phone → screen QR → voucher → reader).
    assert "enrolled on first start" in text and "mutual TLS" in text
    lines = [x for x in text.splitlines() if re.search(r"  [✓✗] (accept|deny) ", x)]
    assert len(lines) == 10
    assert all("person #" in x for x in lines)
    assert "expected" not in text  # every verdict was the expected one
    assert "10 decisions" in text and "daemon exit 0" in text
    cfg = (tmp_path / "run" / "terminal.toml").read_text()
    assert 'pin_factory = "mock"' in cfg
    assert "token" not in cfg  # no shared secret: the terminal has its own certificate
    assert (tmp_path / "run" / "state" / "journal.db").exists()
    db = sqlite3.connect(tmp_path / "run" / "central.db")
    try:
        [(tid, status)] = db.execute("SELECT terminal_id, status FROM certificates").fetchall()
    finally:
        db.close()
    assert (tid, status) == ("sim-gate-0001", "active")
    # The second start finds the terminal enrolled: no new certificate.
    again = subprocess.run(
        [SCANGATE, "sim", "run", "--dir", str(tmp_path / "run"), "--port", "0",
         "--people", "2", "--interval", "0.1", "--seed", "8"],
        capture_output=True, text=True, timeout=90)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "enrolled on first start" not in again.stdout


@pytest.mark.parametrize("sig, ignored", [(signal.SIGINT, True), (signal.SIGTERM, False)],
                         ids=["SIGINT-with-SIGINT-ignored", "SIGTERM"])
def test_sim_run_stops_cleanly_on_ctrl_c(sig: signal.Signals, ignored: bool,
                                         tmp_path: Path) -> None:
    """Ctrl-C or SIGTERM stops the daemon and the rest; also when started as a script's
    ``cmd &`` (SIGINT ignored at start). Whatever happens, the test leaves no process."""
    with spawned() as procs:
        proc = procs.start([SCANGATE, "sim", "run", "--dir", str(tmp_path / "run"),
                            "--port", "0", "--interval", "0.1", "--no-central"],
                           ignore_sigint=ignored)
        assert proc.stdout is not None
        pid = None
        decisions = 0
        end = time.monotonic() + 60
        for line in proc.stdout:
            m = re.search(r"daemon pid (\d+)", line)
            if m:
                pid = int(m.group(1))
            if re.search(r"[✓✗] (accept|deny)", line):
                decisions += 1
                if decisions == 3:
                    break
            assert time.monotonic() < end
        proc.send_signal(sig)
        rest, err = proc.communicate(timeout=30)
        assert proc.returncode == 0, rest + err
        assert "daemon exit 0" in rest
        assert pid is not None
        # The daemon is gone (no orphan holding the reader or the port).
        time.sleep(0.1)
        try:
            os.kill(pid, 0)
            alive = True
        except ProcessLookupError:
            alive = False
        assert not alive
