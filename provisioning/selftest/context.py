"""What every check reads: the configuration, the options, and facts found once
(is the daemon running, known-good time; ``found`` holds the rest, e.g. the centre
probe that the clock and centre lines share)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from device.clock import Clock, SystemClock, TimeFloor
from device.config import DaemonConfig
from provisioning.selftest.daemon import RunningDaemon, find_daemon
from provisioning.selftest.options import Options


def _stderr_prompt(message: str) -> None:
    import sys

    print(f">>> {message}", file=sys.stderr, flush=True)


class Context:
    def __init__(self, config: DaemonConfig, options: Options | None = None, *,
                 clock: Clock | None = None, pin_factory: Any = None,
                 prompt: Callable[[str], None] = _stderr_prompt,
                 daemon_probe: Callable[[DaemonConfig], RunningDaemon | None] = find_daemon,
                 ) -> None:
        self.config = config
        self.options = options or Options()
        self.clock: Clock = clock or SystemClock()
        self.pin_factory = pin_factory  # a gpiozero factory to use instead of the named one
        self.prompt = prompt
        self._daemon_probe = daemon_probe
        self._daemon: RunningDaemon | None = None
        self._daemon_known = False
        self._timefloor: TimeFloor | None = None
        #: facts found once and shared between checks (e.g. the centre probe)
        self.found: dict[str, Any] = {}

    @property
    def daemon(self) -> RunningDaemon | None:
        """The running daemon of this configuration, found once."""
        if not self._daemon_known:
            self._daemon = self._daemon_probe(self.config)
            self._daemon_known = True
        return self._daemon

    @property
    def timefloor(self) -> TimeFloor:
        """The daemon's time floor, read from its file (never written by the self-test)."""
        if self._timefloor is None:
            self._timefloor = TimeFloor(self.config.timefloor_path, clock=self.clock)
        return self._timefloor

    def now(self) -> float:
        """Known-good time (Unix seconds): the wall clock, or the floor when it is behind."""
        return float(self.timefloor.now().t)
