"""Processes a test starts, and is sure to end: ``Spawned`` kills what is left at the end.

Each process gets its own session (process group), so what it starts in turn (``sim run``
starts the daemon) goes with it, even when the test failed before it could stop it.
``ignore_sigint=True`` starts it as a non-interactive shell's ``cmd &`` would: with
SIGINT ignored (a command must then still stop on the SIGINT it is sent).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from collections.abc import Iterator, Sequence
from typing import Any


def _ignore_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)


class Spawned:
    def __init__(self) -> None:
        self.procs: list[subprocess.Popen[str]] = []

    def start(self, args: Sequence[str], *, ignore_sigint: bool = False,
              **kw: Any) -> subprocess.Popen[str]:
        kw.setdefault("stdout", subprocess.PIPE)
        kw.setdefault("stderr", subprocess.PIPE)
        proc = subprocess.Popen(list(args), text=True, start_new_session=True,
                                preexec_fn=_ignore_sigint if ignore_sigint else None, **kw)
        self.procs.append(proc)
        return proc

    def end_all(self) -> None:
        for proc in self.procs:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)  # the group: its children too
            with contextlib.suppress(Exception):
                proc.communicate(timeout=10)


@contextlib.contextmanager
def spawned() -> Iterator[Spawned]:
    s = Spawned()
    try:
        yield s
    finally:
        s.end_all()
