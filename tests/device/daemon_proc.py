"""A real daemon subprocess (`scangate run --config`) for tests and benches."""

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

SCANGATE = str(Path(sys.executable).with_name("scangate"))


def wait_connected(url: str, timeout: float = 10.0) -> None:
    """Until every source of the daemon at ``url`` (its screen URL) is connected and in
    sync; bytes a sim reader sends before are the pty's, not the terminal's (or are taken
    for the tail of a code cut by the open)."""
    end = time.monotonic() + timeout
    st: Any = None
    while time.monotonic() < end:
        st = httpx.get(url + "api/status", timeout=5).json()
        if st["sources"] and all(s["connected"] and s.get("in_sync", True)
                                 for s in st["sources"]):
            return
        time.sleep(0.05)
    raise AssertionError(f"the sources never connected: {st}")


class DaemonProcess:
    def __init__(self, config: Path, *, env: dict[str, str] | None = None,
                 cwd: Path | None = None) -> None:
        full_env = {**os.environ, **(env or {})}
        full_env.setdefault("SCANGATE_LOG_LEVEL", "WARNING")
        self.proc = subprocess.Popen(
            [SCANGATE, "run", "--config", str(config)], stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True, env=full_env, cwd=cwd)
        self.lines: queue.Queue[dict[str, Any]] = queue.Queue()
        self.all: list[dict[str, Any]] = []
        self.stderr: list[str] = []
        self._t1 = threading.Thread(target=self._read_out, daemon=True)
        self._t2 = threading.Thread(target=self._read_err, daemon=True)
        self._t1.start()
        self._t2.start()

    def _read_out(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            try:
                doc = json.loads(line)
            except ValueError:
                doc = {"event": "raw", "line": line.rstrip()}
            self.all.append(doc)
            self.lines.put(doc)

    def _read_err(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.stderr.append(line.rstrip())

    def next_event(self, event: str, timeout: float = 10.0) -> dict[str, Any]:
        end = time.monotonic() + timeout
        while True:
            left = end - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no {event!r} line from the daemon; stderr: "
                                     f"{self.stderr[-10:]}")
            try:
                doc = self.lines.get(timeout=left)
            except queue.Empty:
                continue
            if doc.get("event") == event:
                return doc

    def terminate(self, timeout: float = 10.0) -> float:
        """SIGTERM; seconds until the process exited."""
        t0 = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=timeout)
        elapsed = time.monotonic() - t0
        self._t1.join(2)
        self._t2.join(2)
        return elapsed

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream is not None:
                stream.close()
