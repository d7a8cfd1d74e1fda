"""A real daemon restarted (SIGTERM, start again) while a serial reader keeps sending codes.

The black-box run behind issue 12: at 40-80 scans/s, 1 to 10 of every 10 restarts turned
the code being sent at the moment of the open into ``deny / unknown_format`` (its tail).
Here every code is valid: not one may be denied, and the cut tails must be counted as
``partial_at_open`` drops (which also proves the run did cut codes).
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from sim.errors import SimError
from sim.serial_pty import SimSerialReader
from tests.device.daemon_kit import make_site
from tests.device.daemon_proc import DaemonProcess

ROUNDS = 4


def _send_codes(reader: SimSerialReader, codes: list[str], stop: threading.Event) -> None:
    """~50 codes/s, each in four writes a few ms apart (a reader's burst at its baud
    rate, as the pty sees it): a restart lands inside a code most of the time."""
    for code in codes:
        if stop.is_set():
            return
        try:
            reader.send_split(code, parts=4, delay_s=0.002)
        except (SimError, OSError):
            return
        time.sleep(0.01)


@pytest.mark.slow
def test_restarts_mid_stream_never_deny_a_valid_code(tmp_path: Path) -> None:
    reader = SimSerialReader(link_path=tmp_path / "ttyACM-sim", write_timeout_s=60)
    path, keys = make_site(tmp_path, sources=f'[[sources]]\ntype = "serial"\n'
                                            f'port = "{reader.path}"\n',
                           extra="[dedupe]\nwindow_s = 0.0\n")
    issuer = keys.issuer()
    codes = [issuer.mint("green") for _ in range(3000)]  # distinct: no anti-passback
    stop = threading.Event()
    sender = threading.Thread(target=_send_codes, args=(reader, codes, stop), daemon=True)
    decisions: list[dict[str, Any]] = []
    drops: list[dict[str, int]] = []
    try:
        for i in range(ROUNDS):
            proc = DaemonProcess(path)
            try:
                ready = proc.next_event("ready", 30)
                if i == 0:
                    sender.start()
                proc.next_event("decision", 15)  # this daemon decides the stream
                time.sleep(0.3)
                st = httpx.get(ready["screen"] + "api/status", timeout=5).json()
                drops.append(st["sources"][0]["drops"])
                proc.terminate()  # SIGTERM mid-stream, as `systemctl restart` does
            finally:
                proc.kill()
            decisions += [d for d in proc.all if d.get("event") == "decision"]
    finally:
        stop.set()
        sender.join(15)
        reader.close()

    assert len(decisions) > ROUNDS * 10, "the stream was not decided: the test proves nothing"
    denied = [(d["reason"]) for d in decisions if d["decision"] != "accept"]
    assert denied == []
    cut = sum(d.get("partial_at_open", 0) for d in drops)
    assert cut >= 1, f"no restart cut a code (drops: {drops}): the test proves nothing"
