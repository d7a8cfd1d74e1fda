"""Shared pieces of the provisioning tests: a real CA made at test time, the stand-in
centre over real TLS on 127.0.0.1, terminal configurations, the CLI in-process, and a
snapshot of a terminal's files (to show a refusal changed nothing)."""

from __future__ import annotations

import asyncio
import hashlib
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from device.cli.main import main
from device.config import DaemonConfig, load_config
from device.journal import Journal
from sim.central import CentralCA, CentralServer
from sim.keys import DemoKeys, make_demo_keys
from tests.device.uplink_support import fill


@dataclass
class Pki:
    ca: CentralCA
    other: CentralCA  # another operator's CA (or an attacker's)
    keys: DemoKeys


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    base = tmp_path_factory.mktemp("pki")
    return Pki(CentralCA.open_or_create(base / "ca"),
               CentralCA.open_or_create(base / "other-ca"),
               make_demo_keys(base / "keys"))


def start_centre(tmp: Path, pki: Pki, **kw: Any) -> CentralServer:
    kw.setdefault("ca", pki.ca)
    server = CentralServer(tmp / "central.db", trust_list_path=pki.keys.trust_list,
                           trust_root_path=pki.keys.root_public, **kw)
    return server.start()


@pytest.fixture
def centre(tmp_path: Path, pki: Pki) -> Iterator[CentralServer]:
    server = start_centre(tmp_path, pki, record_wire=True)
    try:
        yield server
    finally:
        server.stop()


UPLINK_TUNING = """
[uplink]
batch_size = 100
batch_interval_s = 0.05
backoff_base_s = 0.05
backoff_cap_s = 0.3
heartbeat_interval_s = 0.3
trust_poll_interval_s = 0.3
timeout_s = 5.0
"""


def terminal_config(tmp: Path, terminal_id: str = "t-1", *, extra: str = "",
                    uplink: str = UPLINK_TUNING, sources: str | None = None) -> Path:
    """A terminal that is not enrolled yet: no centre URL, no CA, no trust root."""
    d = tmp / terminal_id
    d.mkdir(parents=True, exist_ok=True)
    if sources is None:
        sources = '[[sources]]\ntype = "serial"\nport = "/dev/null-test"\n'
    path = d / "terminal.toml"
    path.write_text(f"""terminal_id = "{terminal_id}"
state_dir = "state"
{extra}
{sources}
[gate]
pin_factory = "mock"
pulse_ms = 300
led_ms = 300
beep_ms = 20
beep_gap_ms = 20
[dedupe]
window_s = 0.0
[screen]
port = 0
verdict_display_s = 2
{uplink}
""")
    return path


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """Run ``scangate ARGV`` in-process; (exit status, stdout, stderr)."""
    capsys.readouterr()
    rc = main(list(argv))
    out, err = capsys.readouterr()
    return rc, out, err


def enrol_args(config: Path, centre: CentralServer, token: str, gate: str,
               fingerprint: str) -> list[str]:
    return ["provision", "enroll", "--config", str(config), "--central", centre.url,
            "--token", token, "--gate", gate, "--ca-fingerprint", fingerprint]


def snapshot(directory: Path) -> dict[str, tuple[int, str]]:
    """Every file under ``directory``: (mode, sha256 or link target)."""
    out: dict[str, tuple[int, str]] = {}
    if not directory.exists():
        return out
    for root, dirs, files in os.walk(directory):
        for name in dirs + files:
            p = Path(root) / name
            st = p.lstat()
            if stat.S_ISLNK(st.st_mode):
                out[str(p.relative_to(directory))] = (st.st_mode, os.readlink(p))
            elif stat.S_ISREG(st.st_mode):
                out[str(p.relative_to(directory))] = (
                    st.st_mode, hashlib.sha256(p.read_bytes()).hexdigest())
            else:
                out[str(p.relative_to(directory))] = (st.st_mode, "dir")
    return out


def make_journal(cfg: DaemonConfig, n: int) -> list[str]:
    j = Journal(cfg.journal.path, terminal_id=cfg.terminal_id, min_free_bytes=0)
    try:
        return fill(j, n)
    finally:
        j.close()


async def upload_all(cfg: DaemonConfig) -> dict[str, Any]:
    """Drain the journal through the real Uplink (mutual TLS from cfg.uplink)."""
    from device.uplink import Uplink
    from tests.device.uplink_support import RecordingSleep, drain

    j = Journal(cfg.journal.path, terminal_id=cfg.terminal_id, min_free_bytes=0)
    up = Uplink(cfg.uplink, journal=j, sleep=RecordingSleep(0.05))
    try:
        await drain(up, j)
        return up.status()
    finally:
        await up.aclose()
        j.close()


def reload(config: Path) -> DaemonConfig:
    return load_config(config)


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def enrol_now(config: Path, centre: CentralServer, pki: Pki, gate: str,
              intent: str = "enrol") -> Any:
    """Enrol the terminal of ``config`` through the real exchange (no CLI)."""
    from device.enrol import EnrolRequest, TrustTarget, enrol
    from device.identity import IdentityStore

    cfg = load_config(config)
    minted = centre.provisioning.mint_token(gate)
    req = EnrolRequest(central_url=centre.url, token=minted.token, gate_id=gate,
                       terminal_id=cfg.terminal_id, ca_fingerprint=pki.ca.fingerprint,
                       intent=intent)
    return asyncio.run(enrol(req, IdentityStore(cfg.identity.dir),
                             TrustTarget(None, cfg.trust.trust_list)))
