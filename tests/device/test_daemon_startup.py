"""Start-up: the scan path runs before the parts beside it (screen, uplink) are loaded, and
a serial terminal's start imports nothing heavy it does not use. bench/startup.py
measures the times; these tests pin the behaviour behind them."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading
from pathlib import Path

from gpiozero.pins.mock import MockFactory

from device.daemon.app import Daemon
from device.daemon.pipeline import Outcome
from device.journal import Journal
from tests.device.daemon_kit import FedSource, asynctest, load, make_site
from tests.device.daemon_proc import DaemonProcess


@asynctest
async def test_scans_are_decided_while_the_screen_is_still_loading(tmp_path: Path) -> None:
    path, keys = make_site(tmp_path)
    src = FedSource()
    outs: list[Outcome] = []
    d = Daemon(load(path), pin_factory=MockFactory(), sources=[src], write_log=lambda _: None,
               on_outcome=outs.append)
    release = threading.Event()
    loading: list[str] = []
    real_load = d._load

    async def slow_load(module: str) -> None:  # the parts' imports take their time
        loading.append(module)
        await asyncio.to_thread(release.wait, 10)
        await real_load(module)

    d._load = slow_load  # type: ignore[method-assign]
    starting = asyncio.create_task(d.start())
    try:
        src.feed(keys.issuer().mint("green"))
        src.feed("not a code")
        for _ in range(500):
            if len(outs) == 2:
                break
            await asyncio.sleep(0.01)
        assert [o.verdict.decision.value for o in outs] == ["accept", "deny"]
        assert len(loading) == 1  # the first part beside the path is still loading
        assert not d.ready and d.screen is None and not starting.done()
    finally:
        release.set()
        await starting
        await d.stop()
    assert d.ready


def test_a_serial_terminal_starts_without_numpy_opencv_or_sqlite_utils(tmp_path: Path) -> None:
    # Each costs 0.05-0.2 s of the blind window after a start (bench/startup.py), and
    # memory; a terminal with only a serial reader uses none of them. The real command
    # (`scangate run`: the CLI's parser included), on a restart (the journal exists: a
    # first start may import sqlite-utils for the migrations). What the process has
    # loaded is read from /proc/PID/maps: the extension modules' shared objects.
    path, _ = make_site(tmp_path)
    Journal(tmp_path / "state" / "journal.db", terminal_id="test-gate").close()
    proc = DaemonProcess(path)
    try:
        proc.next_event("ready", 30)
        maps = Path(f"/proc/{proc.proc.pid}/maps").read_text()
    finally:
        proc.terminate()
        proc.kill()
    loaded = {lib for lib in ("cv2", "numpy", "zxingcpp", "_sqlite3") if f"/{lib}" in maps}
    # _sqlite3 (the journal) shows that the probe sees extension modules; sqlite-utils is
    # pure Python, but importing it imports numpy, which would be seen
    assert loaded == {"_sqlite3"}, loaded


def test_reading_the_configuration_loads_neither_httpx_nor_aiohttp(tmp_path: Path) -> None:
    # Both are loaded beside the scan path once it runs (on a worker thread): importing
    # them while the configuration is read kept a restarted terminal blind 0.05-0.4 s
    # longer (device/uplink/__init__.py imports its service on first use).
    path, _ = make_site(tmp_path, uplink='[uplink]\nbase_url = "http://127.0.0.1:9"\n'
                                         'token = "t"\nallow_insecure_http = true\n')
    code = (f"import sys; from device.config import load_config; load_config({str(path)!r}); "
            "print(sorted(m for m in ('httpx', 'aiohttp', 'device.uplink.service') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "[]"
