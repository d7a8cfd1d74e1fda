"""systemd's sd_notify protocol by hand: one unix datagram per message, no dependency.

``$NOTIFY_SOCKET`` is a filesystem path or, when it starts with ``@``, an abstract
socket. Without it (not run by systemd) every call is a no-op. The watchdog interval
comes from ``$WATCHDOG_USEC`` (set by ``WatchdogSec=``), checked against
``$WATCHDOG_PID`` when present; the daemon pings at half of it from its main loop, so
a hung loop stops the pings and systemd restarts the service.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Mapping

log = logging.getLogger(__name__)


class Notifier:
    def __init__(self, env: Mapping[str, str] | None = None) -> None:
        env = os.environ if env is None else env
        addr = env.get("NOTIFY_SOCKET", "")
        self._address: str | bytes | None = None
        if addr:
            self._address = "\0" + addr[1:] if addr.startswith("@") else addr
        self._sock: socket.socket | None = None
        self._failures = 0
        self.watchdog_usec = 0
        wd = env.get("WATCHDOG_USEC", "")
        wd_pid = env.get("WATCHDOG_PID", "")
        if wd.isdigit() and (not wd_pid or wd_pid == str(os.getpid())):
            self.watchdog_usec = int(wd)

    @property
    def enabled(self) -> bool:
        return self._address is not None

    @property
    def watchdog_interval_s(self) -> float | None:
        """Seconds between WATCHDOG=1 pings (half of WatchdogSec), or None."""
        return self.watchdog_usec / 2e6 if self.watchdog_usec > 0 else None

    def notify(self, message: str) -> bool:
        """Send one message (e.g. ``"READY=1"``); False if not under systemd or on error."""
        if self._address is None:
            return False
        try:
            if self._sock is None:
                # Non-blocking: a receiver that stopped reading must never stall the loop.
                self._sock = socket.socket(
                    socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC | socket.SOCK_NONBLOCK)
            self._sock.sendto(message.encode("utf-8"), self._address)
            self._failures = 0
            return True
        except OSError as exc:
            self._failures += 1
            if self._failures == 1 or self._failures % 100 == 0:
                log.warning("sd_notify failed (%s, %d in a row): %s",
                            message.split("=", 1)[0], self._failures, exc)
            return False

    def ready(self, status: str = "") -> bool:
        return self.notify("READY=1" + (f"\nSTATUS={status}" if status else ""))

    def watchdog(self) -> bool:
        return self.notify("WATCHDOG=1")

    def stopping(self) -> bool:
        return self.notify("STOPPING=1")

    def status(self, text: str) -> bool:
        return self.notify(f"STATUS={text}")

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None
