"""`scangate sim central` runs the stand-in in the foreground, prints its URL, and stops on
Ctrl-C (SIGINT) or SIGTERM, also when started with SIGINT ignored (``cmd &`` in a script)."""

from __future__ import annotations

import signal
import ssl
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.procs import Spawned, spawned

CLI = [sys.executable, "-c", "from device.cli.main import main; raise SystemExit(main())"]


@pytest.fixture
def procs() -> Iterator[Spawned]:
    with spawned() as s:  # whatever the test started is killed, pass or fail
        yield s


def _url(proc: subprocess.Popen[str]) -> str:
    assert proc.stdout is not None
    for _ in range(5):
        line = proc.stdout.readline()
        if line.startswith("central stand-in: "):
            return line.split()[2]
    raise AssertionError("no URL printed")


def test_sim_central_https_foreground(tmp_path: Path, procs: Spawned) -> None:
    tl = tmp_path / "tl.cose"
    tl.write_bytes(b"signed")
    proc = procs.start([*CLI, "sim", "central", "--db", str(tmp_path / "c.db"), "--port", "0",
                        "--tls", str(tmp_path / "tls"), "--trust-list", str(tl)])
    url = _url(proc)
    assert url.startswith("https://127.0.0.1:")
    ctx = ssl.create_default_context(cafile=str(tmp_path / "tls" / "ca.pem"))
    with httpx.Client(base_url=url, verify=ctx) as c:
        r = c.get("/v1/trust-list")
    assert r.status_code == 200 and r.content == b"signed"
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
    assert "stopped" in out
    assert (tmp_path / "c.db").exists()


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
@pytest.mark.parametrize("ignored", [False, True], ids=["", "sigint-ignored"])
def test_sim_central_stops_on_both_signals(sig: signal.Signals, ignored: bool, tmp_path: Path,
                                           procs: Spawned) -> None:
    proc = procs.start([*CLI, "sim", "central", "--db", str(tmp_path / "c.db"), "--port", "0"],
                       ignore_sigint=ignored)
    url = _url(proc)
    assert httpx.get(url + "/v1/trust-list", timeout=5).status_code in (200, 404)
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
    assert "central stand-in stopped" in out


def test_sim_central_bad_tls_dir_is_a_clear_error(tmp_path: Path, procs: Spawned) -> None:
    d = tmp_path / "tls"
    d.mkdir()
    (d / "server.pem").write_text("not a cert")
    (d / "server.key").write_text("not a key")
    proc = procs.start([*CLI, "sim", "central", "--db", str(tmp_path / "c.db"), "--port", "0",
                        "--tls", str(d)])
    _out, err = proc.communicate(timeout=20)
    assert proc.returncode == 2
    assert "cannot load central TLS cert/key" in err
