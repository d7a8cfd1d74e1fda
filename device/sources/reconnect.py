"""One reconnect loop for every reader: open, read until it fails, close, back off, again.

The serial reader, the keyboard wedge and the camera all run their device on a thread
through ``Reconnector.run`` and so behave alike:

- **catch-all**: any exception from opening counts as an open failure, any exception
  from the session as a disconnect; the thread never dies of one (an unexpected error
  is logged with its traceback, an ``OSError``-like fault as one line);
- **backoff**: between attempts it waits ``backoff_s``, doubling up to
  ``backoff_cap_s``; once the device works again (``mark_connected``: a port opened, a
  camera's first frame) the backoff starts afresh;
- **log throttling**: the first failure in a row and every ``LOG_EVERY``-th after it
  are logged at WARNING, the others at DEBUG; the recovery is logged once.

The counters live in a ``ReaderHealth`` that the source's ``status()`` reads. A loop
that has been superseded (``running()`` turned false while the stop event is clear, as
when the camera's watchdog abandons a read hung in a driver) leaves them to its
successor.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

H = TypeVar("H")

LOG_EVERY = 20
#: Faults a device is expected to have (unplugged, I/O error): logged without a traceback.
EXPECTED_FAULTS: tuple[type[BaseException], ...] = (OSError,)


@dataclass
class ReaderHealth:
    """What a reader's status shows about its connection."""

    connected: bool = False
    reopens: int = 0
    open_failures: int = 0
    disconnects: int = 0
    last_error: str | None = None


def _describe(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror and exc.filename:
        return f"{exc.filename}: {exc.strerror}"
    text = str(exc)
    return text if text else type(exc).__name__


class Reconnector(Generic[H]):
    """Runs ``open → session → close`` again and again until stopped (see the module doc).

    ``open()`` returns a handle (a port, a file descriptor, a camera); ``session(handle)``
    reads until the device fails (it raises) or the loop stops (it returns);
    ``close(handle)`` must not raise (it is guarded anyway). ``connected_on_open``: a
    port that opens is connected; a camera is connected only once it delivers frames, so
    its session calls ``mark_connected()`` itself.
    """

    def __init__(self, name: str, *, what: str, stop: threading.Event, backoff_s: float,
                 backoff_cap_s: float, health: ReaderHealth | None = None,
                 logger: logging.Logger | None = None, connected_on_open: bool = True,
                 expected: tuple[type[BaseException], ...] = EXPECTED_FAULTS) -> None:
        self.name = name
        self.what = what
        self.stop = stop
        self.backoff_s = backoff_s
        self.backoff_cap_s = backoff_cap_s
        self.health = health if health is not None else ReaderHealth()
        self.log = logger or logging.getLogger(__name__)
        self.connected_on_open = connected_on_open
        self.expected = expected
        self.open_failures_in_row = 0
        self.session_failures_in_row = 0
        self._works = False

    def mark_connected(self) -> None:
        """The device works (called from the session's thread): connected, backoff afresh."""
        self._works = True
        self.session_failures_in_row = 0
        self.health.connected = True
        self.health.last_error = None

    def _throttled(self, n: int) -> int:
        return logging.WARNING if n % LOG_EVERY == 1 or LOG_EVERY == 1 else logging.DEBUG

    def run(self, open_: Callable[[], H], session: Callable[[H], None],
            close: Callable[[H], None], *, running: Callable[[], bool] | None = None) -> None:
        """The thread's body; returns when ``stop`` is set or ``running()`` turns false."""
        h = self.health

        def live() -> bool:
            return not self.stop.is_set() and (running is None or running())

        backoff = self.backoff_s
        first = True
        while live():
            if not first:
                if self.stop.wait(backoff) or not live():
                    break
                backoff = min(backoff * 2, self.backoff_cap_s)
                h.reopens += 1
            first = False
            try:
                handle = open_()
            except Exception as exc:
                h.open_failures += 1
                self.open_failures_in_row += 1
                h.last_error = _describe(exc)
                h.connected = False
                level = self._throttled(self.open_failures_in_row)
                if isinstance(exc, self.expected):
                    self.log.log(level, "%s %s cannot be opened: %s (attempt %d)", self.what,
                                 self.name, h.last_error, self.open_failures_in_row)
                else:
                    self.log.log(level, "%s %s cannot be opened: unexpected %s: %s",
                                 self.what, self.name, type(exc).__name__, exc,
                                 exc_info=level >= logging.WARNING)
                continue
            if self.open_failures_in_row:
                self.log.info("%s %s opened after %d failed attempt(s)", self.what, self.name,
                              self.open_failures_in_row)
            else:
                self.log.info("%s %s opened", self.what, self.name)
            self.open_failures_in_row = 0
            self._works = False
            if self.connected_on_open:
                self.mark_connected()
            try:
                session(handle)
            except Exception as exc:
                h.disconnects += 1
                self.session_failures_in_row += 1
                h.last_error = _describe(exc)
                level = self._throttled(self.session_failures_in_row)
                if isinstance(exc, self.expected):
                    self.log.log(level, "%s %s lost: %s; reopening", self.what, self.name,
                                 h.last_error)
                else:
                    h.last_error = f"{type(exc).__name__}: {exc}"
                    self.log.log(level, "%s %s: unexpected error; reopening", self.what,
                                 self.name, exc_info=True)
            finally:
                if self.stop.is_set() or running is None or running():
                    h.connected = False  # a superseded loop leaves the state to its successor
                with contextlib.suppress(Exception):
                    close(handle)
            if self._works:
                backoff = self.backoff_s
