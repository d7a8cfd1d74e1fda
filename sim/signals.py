"""Stopping the foreground sim commands on SIGINT (Ctrl-C) and SIGTERM alike.

Python turns SIGINT into KeyboardInterrupt only if SIGINT was not ignored when the
process started; a command started in the background by a non-interactive shell
(``scangate sim central &`` in a script) inherits SIGINT ignored, and then a SIGINT
did nothing. ``stop_on_signals`` installs a handler for both signals, whatever their
disposition was, and puts the previous handlers back on exit.
"""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Callable, Iterator
from types import FrameType
from typing import Any

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


@contextlib.contextmanager
def stop_on_signals(on_stop: Callable[[], Any]) -> Iterator[None]:
    """Call ``on_stop()`` on SIGINT or SIGTERM while the block runs (main thread only)."""

    def handler(signum: int, frame: FrameType | None) -> None:
        on_stop()

    previous = {sig: signal.signal(sig, handler) for sig in STOP_SIGNALS}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
