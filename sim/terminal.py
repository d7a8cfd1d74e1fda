"""A whole simulated terminal site: demo keys, the stand-in centre, a pty reader, a config.

``SimSite(run_dir)`` prepares everything ``scangate run`` needs on simulated hardware
and writes ``run_dir/terminal.toml``; ``start_daemon()`` starts the real daemon as a
subprocess on it, exactly as systemd would (minus systemd).
"""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx

from device.verify.trustlist import TrustStore
from sim.errors import SimError
from sim.keys import DemoKeys, make_demo_keys

CONFIG_TEMPLATE = """\
# Written by `scangate sim run` (simulated hardware). Reference: docs/operations.md
terminal_id = "sim-gate-0001"
state_dir = "state"
{sources}
[dedupe]
window_s = 3.0

[gate]
pin_factory = "mock"
relay_pin = 17
green_led_pin = 27
red_led_pin = 22
buzzer_pin = 23
relay_mode = "pulse"
pulse_ms = 1200

[policy]
accept_yellow = false
accepted_profiles = ["scangate", "eu-dcc"]
anti_passback_min = 5
stale_trust_list = "accept"

[trust]
root_key = "keys/root.pub.pem"
trust_list = "state/trust-list.cose"

[journal]
path = "state/journal.db"
quota_mb = 64
min_free_mb = 16
{uplink}
[screen]
host = "127.0.0.1"
port = {port}
verdict_display_s = 3.0
"""


class SimSite:
    def __init__(self, run_dir: Path, *, port: int = 8080, central: bool = True,
                 camera: bool = False, serial: bool = True) -> None:
        if not (camera or serial):
            raise SimError("a terminal needs a source: keep the serial reader or add --camera")
        self.dir = Path(run_dir).resolve()
        self.port = port
        self.want_central = central
        self.want_camera = camera
        self.want_serial = serial
        self.keys: DemoKeys | None = None
        self.central: Any = None
        self.reader: Any = None
        self.proc: subprocess.Popen[str] | None = None
        self.events: queue.Queue[dict[str, Any]] = queue.Queue()
        self.stderr: list[str] = []
        self._threads: list[threading.Thread] = []
        self.config_path = self.dir / "terminal.toml"

    # -- preparing -------------------------------------------------------------------------

    def prepare(self) -> Path:
        self.dir.mkdir(parents=True, exist_ok=True)
        state = self.dir / "state"
        state.mkdir(mode=0o700, exist_ok=True)
        os.chmod(state, 0o700)
        keydir = self.dir / "keys"
        if (keydir / "root.key").exists():
            self.keys = DemoKeys.open(keydir)
        else:
            self.keys = make_demo_keys(keydir)
        store = TrustStore(state / "trust-list.cose", self.keys.root_public_key())
        if store.load() is None:
            store.install(self.keys.trust_list.read_bytes())
        sources = ""
        if self.want_serial:
            from sim.serial_pty import SimSerialReader

            self.reader = SimSerialReader(link_path=self.dir / "ttyACM-sim")
            sources += f'\n[[sources]]\ntype = "serial"\nport = "{self.reader.path}"\n'
        if self.want_camera:
            # The people at the camera show codes minted with the demo keys (not texts).
            sources += ('\n[[sources]]\ntype = "camera"\nbackend = "sim"\n'
                        f'device = "scenes:keys={keydir}"\n'
                        "width = 640\nheight = 480\nfps = 10\n")
        uplink = ""
        if self.want_central:
            from sim.central import CentralServer
            from sim.central.ca import CentralCA

            # A real CA for the stand-in (kept in the run directory): the terminal enrols
            # itself on first start (enrol_if_needed) and then speaks mutual TLS.
            ca = CentralCA.open_or_create(self.dir / "central-ca")
            self.central = CentralServer(self.dir / "central.db", port=0, ca=ca,
                                         trust_list_path=self.keys.trust_list,
                                         trust_root_path=self.keys.root_public)
            self.central.start()
            # Not enrolled yet: no centre URL (the voucher brings it). Enrolled: this run's
            # URL (the stand-in listens on a new port each run), the rest from the identity.
            from device.identity import IdentityStore

            enrolled = IdentityStore(state / "identity").load() is not None
            url = f'base_url = "{self.central.url}"\n' if enrolled else ""
            uplink = (f"\n[uplink]\n{url}"
                      "batch_interval_s = 2.0\nheartbeat_interval_s = 10.0\n"
                      "trust_poll_interval_s = 30.0\ntimeout_s = 5.0\n")
        self.config_path.write_text(CONFIG_TEMPLATE.format(sources=sources, uplink=uplink,
                                                           port=self.port))
        self.config_path.chmod(0o600)
        return self.config_path

    def enrol_if_needed(self, screen_url: str, *, gate_id: str = "sim-gate-A",
                        timeout_s: float = 30.0) -> dict[str, Any] | None:
        """First start: the technician's phone reads the enrolment QR off the staff
        screen, the stand-in mints a voucher for this terminal and gate, the phone shows it
        to the simulated reader, and the daemon enrols itself over TLS. None if the
        terminal was enrolled already (or there is no centre)."""
        if self.central is None or self.reader is None:
            return None
        view = httpx.get(screen_url + "api/enrolment", timeout=5).json()
        if view.get("state") == "enrolled":
            return None
        from sim.phone import TechnicianPhone

        phone = TechnicianPhone(self.central.provisioning, self.central.url, gate_id=gate_id)
        phone.enrol(screen_url, reader=self.reader)
        end = time.monotonic() + timeout_s
        while time.monotonic() < end:
            view = httpx.get(screen_url + "api/enrolment", timeout=5).json()
            if view.get("state") == "enrolled":
                return dict(view)
            time.sleep(0.1)
        raise SimError(f"the terminal did not enrol within {timeout_s:.0f} s: "
                       f"{view.get('message')}")

    # -- the daemon ------------------------------------------------------------------------

    def start_daemon(self, *, timeout_s: float = 30.0) -> dict[str, Any]:
        exe = Path(sys.executable).with_name("scangate")
        cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "device.cli.main"]
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self.proc = subprocess.Popen(
            [*cmd, "run", "--config", str(self.config_path)], stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True, env=env)
        for target in (self._read_stdout, self._read_stderr):
            t = threading.Thread(target=target, daemon=True)
            t.start()
            self._threads.append(t)
        ready = self.next_event("ready", timeout_s)
        self._wait_sources(ready["screen"], timeout_s)
        return ready

    def _read_stdout(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        for line in self.proc.stdout:
            try:
                self.events.put(json.loads(line))
            except ValueError:
                self.events.put({"event": "raw", "line": line.rstrip()})
        self.events.put({"event": "exit"})

    def _read_stderr(self) -> None:
        assert self.proc is not None and self.proc.stderr is not None
        for line in self.proc.stderr:
            self.stderr.append(line.rstrip())

    def next_event(self, name: str, timeout_s: float) -> dict[str, Any]:
        end = time.monotonic() + timeout_s
        while True:
            try:
                ev = self.events.get(timeout=max(0.01, end - time.monotonic()))
            except queue.Empty:
                ev = None
            if ev is not None and ev.get("event") == name:
                return ev
            if ev is not None and ev.get("event") == "exit":
                tail = "\n  ".join(self.stderr[-8:])
                raise SimError(f"the daemon exited before {name!r}:\n  {tail}")
            if time.monotonic() >= end:
                raise SimError(f"no {name!r} from the daemon within {timeout_s:.0f} s")

    def _wait_sources(self, url: str, timeout_s: float) -> None:
        """Until every source is open and in sync (a code sent before is not the
        terminal's: the pty's, or taken for the tail of a code cut by the open)."""
        end = time.monotonic() + timeout_s
        while time.monotonic() < end:
            try:
                st = httpx.get(url + "api/status", timeout=2).json()
                if st["sources"] and all(s.get("connected") and s.get("in_sync", True)
                                         for s in st["sources"]):
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        raise SimError("the daemon's sources did not connect")

    def stop(self) -> int | None:
        """SIGTERM the daemon (if running), stop the centre, unplug the reader."""
        rc = None
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.send_signal(signal.SIGTERM)
            try:
                rc = self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                rc = self.proc.wait(timeout=5)
            for t in self._threads:
                t.join(2)
            for stream in (self.proc.stdout, self.proc.stderr):
                if stream is not None:
                    stream.close()
        if self.central is not None:
            self.central.stop()
            self.central = None
        if self.reader is not None:
            self.reader.close()
            self.reader = None
        return rc
