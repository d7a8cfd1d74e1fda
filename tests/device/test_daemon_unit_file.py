"""The systemd unit in the repo: Type=notify, watchdog, restart, dedicated user, hardening."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

UNIT = Path(__file__).resolve().parents[2] / "systemd" / "scangate.service"


def directives() -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    section = ""
    for raw in UNIT.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("["):
            section = line.strip("[]")
            continue
        key, _, value = line.partition("=")
        out.setdefault(f"{section}.{key}", []).append(value)
    return out


def test_unit_declares_what_the_daemon_does() -> None:
    d = directives()
    assert d["Service.Type"] == ["notify"]
    assert d["Service.WatchdogSec"] and d["Service.Restart"] == ["on-failure"]
    assert "scangate run --config" in d["Service.ExecStart"][0]
    assert d["Service.User"] == ["scangate"]
    assert d["Service.StateDirectory"] == ["scangate"]
    assert d["Service.UMask"] == ["0077"]
    assert set(d["Service.SupplementaryGroups"][0].split()) == {"gpio", "dialout", "video"}
    for key, value in {"NoNewPrivileges": "yes", "ProtectSystem": "strict",
                       "ProtectHome": "yes", "PrivateTmp": "yes"}.items():
        assert d[f"Service.{key}"] == [value], key
    assert d["Service.ReadWritePaths"] == ["/var/lib/scangate"]
    # Stop budget above the daemon's own 2 s.
    assert d["Service.TimeoutStopSec"][0].rstrip("s").isdigit()
    assert int(d["Service.TimeoutStopSec"][0].rstrip("s")) >= 2


def test_unit_parses_with_systemd_analyze_when_available() -> None:
    tool = shutil.which("systemd-analyze")
    if tool is None:
        return  # checked where systemd is installed
    out = subprocess.run([tool, "verify", str(UNIT)], capture_output=True, text=True,
                         timeout=30)
    problems = [line for line in (out.stdout + out.stderr).splitlines()
                if "Unknown" in line or "Invalid" in line or "Failed to parse" in line]
    assert not problems, problems
