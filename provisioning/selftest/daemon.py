"""Is the terminal daemon running? Asked without disturbing it.

1. Its staff screen (``[screen] host:port``) answers ``GET /api/status`` with this
   configuration's ``terminal_id``: running, and its status (camera frame rate, reader
   connected, clock quality) is read from there.
2. Otherwise systemd says ``scangate.service`` is active: running, status unknown.
3. Otherwise: not running (exclusive resources then tell: a serial port the daemon holds
   cannot be locked a second time).

What the self-test does while the daemon runs (docs/selftest.md): it does not open the
camera or the readers (it reports what the daemon measures), does not pulse the gate
unless ``--force``, and checks the journal with the light ``quick_check`` on a read-only
connection.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass, field
from typing import Any

import httpx

from device.config import DaemonConfig

SYSTEMD_UNIT = "scangate.service"
PROBE_TIMEOUT_S = 1.5


@dataclass(frozen=True)
class RunningDaemon:
    via: str  # "staff screen http://..." or "systemd scangate.service"
    status: dict[str, Any] | None = field(default=None, repr=False)  # its /api/status

    def source(self, name: str) -> dict[str, Any] | None:
        """The daemon's status of the scan source called ``name`` (e.g. ``serial:/dev/x``)."""
        if self.status is None:
            return None
        for st in self.status.get("sources") or []:
            if isinstance(st, dict) and st.get("name") == name:
                return st
        return None


def screen_url(cfg: DaemonConfig) -> str | None:
    if not cfg.screen.enabled or cfg.screen.port == 0:
        return None
    host = cfg.screen.host
    if host in ("", "0.0.0.0"):
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{cfg.screen.port}/"


def _systemd_active(unit: str) -> bool:
    exe = shutil.which("systemctl")
    if exe is None:
        return False
    try:
        done = subprocess.run([exe, "is-active", "--quiet", unit], timeout=3,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    except (OSError, subprocess.SubprocessError):
        return False
    return done.returncode == 0


def find_daemon(cfg: DaemonConfig, *, systemd_unit: str | None = SYSTEMD_UNIT) -> (
        RunningDaemon | None):
    url = screen_url(cfg)
    if url is not None:
        try:
            with httpx.Client(timeout=PROBE_TIMEOUT_S, trust_env=False) as client:
                r = client.get(url + "api/status")  # trust_env off: no proxy for loopback
                doc = r.json() if r.status_code == 200 else None
        except (httpx.HTTPError, ValueError):
            doc = None
        if isinstance(doc, dict) and doc.get("terminal_id") == cfg.terminal_id:
            return RunningDaemon(via=f"staff screen {url}", status=doc)
    if systemd_unit and _systemd_active(systemd_unit):
        return RunningDaemon(via=f"systemd {systemd_unit}")
    return None
