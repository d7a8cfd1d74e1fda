"""A real `scangate run` subprocess: a real pty reader, sd_notify on a real unix socket,
/healthz over HTTP, SIGTERM exit within 2 s with the outputs left safe."""

from __future__ import annotations

import contextlib
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from sim.serial_pty import SimSerialReader
from tests.device.daemon_kit import make_site
from tests.device.daemon_proc import DaemonProcess, wait_connected


class Notifications:
    def __init__(self, path: Path) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        self.sock.settimeout(0.1)
        self.messages: list[str] = []

    def collect(self, until: str, timeout: float = 10.0) -> list[str]:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            with contextlib.suppress(TimeoutError):
                self.messages.append(self.sock.recv(4096).decode())
            if any(until in m for m in self.messages):
                return self.messages
        raise AssertionError(f"{until!r} not received; got {self.messages}")

    def close(self) -> None:
        self.sock.close()


@dataclass
class Term:
    proc: DaemonProcess
    reader: SimSerialReader
    keys: Any
    notes: Notifications
    ready: dict[str, Any]


@pytest.fixture(scope="module")
def terminal(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Term]:
    tmp = tmp_path_factory.mktemp("proc")
    reader = SimSerialReader(link_path=tmp / "ttyACM-sim")
    sources = f'[[sources]]\ntype = "serial"\nport = "{reader.path}"\n'
    path, keys = make_site(tmp, sources=sources, extra="[dedupe]\nwindow_s = 0.5\n")
    notes = Notifications(tmp / "notify.sock")
    proc = DaemonProcess(path, env={"NOTIFY_SOCKET": str(tmp / "notify.sock"),
                                    "WATCHDOG_USEC": "400000"})
    try:
        ready = proc.next_event("ready", 30)
        wait_connected(ready["screen"])
        yield Term(proc, reader, keys, notes, ready)
    finally:
        proc.kill()
        reader.close()
        notes.close()


def test_ready_and_watchdog_pings_on_a_real_socket(terminal: Term) -> None:
    t = terminal
    t.notes.collect("READY=1")
    first = next(i for i, m in enumerate(t.notes.messages) if "READY=1" in m)
    t0 = time.monotonic()
    while sum("WATCHDOG=1" in m for m in t.notes.messages[first:]) < 3:
        t.notes.collect("WATCHDOG=1", 5)
        t.notes.messages.append("")  # force collect() to read again
        assert time.monotonic() - t0 < 5
    ready_msg = t.notes.messages[first]
    assert "STATUS=" in ready_msg


def test_codes_over_a_real_pty_are_decided(terminal: Term) -> None:
    t = terminal
    issuer = t.keys.issuer()
    t.reader.send(issuer.mint("green"))
    d1 = t.proc.next_event("decision")
    t.reader.send_split(issuer.mint("red"), parts=4)
    d2 = t.proc.next_event("decision")
    t.reader.send(b"garbage-code-xyz")
    d3 = t.proc.next_event("decision")
    assert (d1["decision"], d1["reason"]) == ("accept", "ok")
    assert (d2["decision"], d2["reason"]) == ("deny", "status_red")
    assert d3["reason"] == "unknown_format"
    assert all(d["source"] == f"serial:{t.reader.path}" for d in (d1, d2, d3))
    assert all(d["record_id"] and d["seq"] for d in (d1, d2, d3))


def test_healthz_of_the_process(terminal: Term) -> None:
    t = terminal
    r = httpx.get(t.ready["screen"] + "healthz", timeout=5)
    assert r.status_code == 200, r.text
    assert r.json()["checks"]["sources"] is True
    m = httpx.get(t.ready["screen"] + "metrics", timeout=5).text
    assert "scangate_watchdog_pings_total" in m


def test_sigterm_exits_within_2s_outputs_safe(terminal: Term) -> None:
    t = terminal
    issuer = t.keys.issuer()
    t.reader.send(issuer.mint("green"))  # a scan in hand as the signal comes
    elapsed = t.proc.terminate()
    assert t.proc.proc.returncode == 0, t.proc.stderr[-10:]
    assert elapsed < 2.0
    stopped = [d for d in t.proc.all if d.get("event") == "stopped"]
    assert stopped and stopped[-1]["outputs_safe"] is True
    gate = stopped[-1]["gate"]
    assert gate["relay_open"] is False and gate["green"] is False and gate["red"] is False
    t.notes.collect("STOPPING=1", 2)
