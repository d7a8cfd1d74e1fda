"""`scangate sim central` runs the stand-in in the foreground, prints its URL, stops on Ctrl-C."""

from __future__ import annotations

import signal
import ssl
import subprocess
import sys
from pathlib import Path

import httpx


def _run(args: list[str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", "from device.cli.main import main; raise SystemExit(main())",
         "sim", "central", *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def _url(proc: subprocess.Popen[str]) -> str:
    assert proc.stdout is not None
    for _ in range(5):
        line = proc.stdout.readline()
        if line.startswith("central stand-in: "):
            return line.split()[2]
    raise AssertionError("no URL printed")


def test_sim_central_https_foreground(tmp_path: Path) -> None:
    tl = tmp_path / "tl.cose"
    tl.write_bytes(b"signed")
    proc = _run(["--db", str(tmp_path / "c.db"), "--port", "0", "--tls", str(tmp_path / "tls"),
                 "--trust-list", str(tl)])
    try:
        url = _url(proc)
        assert url.startswith("https://127.0.0.1:")
        ctx = ssl.create_default_context(cafile=str(tmp_path / "tls" / "ca.pem"))
        with httpx.Client(base_url=url, verify=ctx) as c:
            r = c.get("/v1/trust-list")
        assert r.status_code == 200 and r.content == b"signed"
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
    assert "stopped" in out
    assert (tmp_path / "c.db").exists()


def test_sim_central_bad_tls_dir_is_a_clear_error(tmp_path: Path) -> None:
    d = tmp_path / "tls"
    d.mkdir()
    (d / "server.pem").write_text("not a cert")
    (d / "server.key").write_text("not a key")
    proc = _run(["--db", str(tmp_path / "c.db"), "--port", "0", "--tls", str(d)])
    _out, err = proc.communicate(timeout=20)
    assert proc.returncode == 2
    assert "cannot load central TLS cert/key" in err
