"""Shared pieces for the daemon tests: demo keys, a config file, a source tests feed."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from device.config import DaemonConfig, load_config
from device.sources.base import Scan
from device.verify.trustlist import TrustStore, load_root_key
from sim.keys import DemoKeys, make_demo_keys


class FedSource:
    """A Source whose scans the test pushes (``feed``); the daemon reads it like any other."""

    def __init__(self, name: str = "test:feed") -> None:
        self.name = name
        self._q: asyncio.Queue[Scan | None] = asyncio.Queue()
        self.closed = False

    def feed(self, payload: str | bytes) -> Scan:
        data = payload.encode() if isinstance(payload, str) else payload
        scan = Scan(payload=data, source=self.name, t_mono=time.monotonic(), t_wall=time.time())
        self._q.put_nowait(scan)
        return scan

    async def scans(self) -> AsyncIterator[Scan]:
        while True:
            scan = await self._q.get()
            if scan is None:
                return
            yield scan

    def status(self) -> dict[str, Any]:
        return {"name": self.name, "kind": "serial", "connected": not self.closed,
                "scans": 0, "reopens": 0, "drops": {}}

    async def close(self) -> None:
        self.closed = True
        self._q.put_nowait(None)


def make_site(tmp: Path, *, extra: str = "", policy: str = "", gate: str = "",
              uplink: str = "", sources: str | None = None,
              stale: bool = False) -> tuple[Path, DemoKeys]:
    """Demo keys, an installed trust list and a config file under ``tmp``."""
    now = time.time()
    keys = make_demo_keys(tmp / "keys", now=now - (40 * 86400 if stale else 0))
    state = tmp / "state"
    state.mkdir(mode=0o700, parents=True, exist_ok=True)
    TrustStore(state / "trust-list.cose", load_root_key(keys.root_public)).install(
        keys.trust_list.read_bytes())
    if sources is None:
        sources = '[[sources]]\ntype = "serial"\nport = "/dev/null-test"\n'
    overridden = {line.split("=")[0].strip() for line in gate.splitlines() if "=" in line}
    gate_defaults = "\n".join(
        f"{k} = {v}" for k, v in
        {"pulse_ms": 300, "led_ms": 300, "beep_ms": 20, "beep_gap_ms": 20}.items()
        if k not in overridden)
    text = f"""
terminal_id = "test-gate"
state_dir = "state"
{extra}
{sources}
[gate]
pin_factory = "mock"
{gate_defaults}
{gate}
[policy]
anti_passback_min = 5
{policy}
[trust]
root_key = "keys/root.pub.pem"
trust_list = "state/trust-list.cose"
[screen]
port = 0
verdict_display_s = 2
{uplink}
"""
    path = tmp / "terminal.toml"
    path.write_text(text)
    return path, keys


def load(path: Path) -> DaemonConfig:
    return load_config(path)


def asynctest(func: Any) -> Any:
    """Run an ``async def`` test in a fresh event loop (no pytest-asyncio here)."""
    import functools

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        return asyncio.run(func(*args, **kwargs))

    return wrapper
