"""The one reconnect loop every reader shares: catch-all, backoff, log throttling."""

from __future__ import annotations

import asyncio
import logging
import threading

import pytest

from device.sources.config import KeyboardSourceConfig
from device.sources.factory import build_source
from device.sources.keyboard_wedge import KeyboardWedgeSource, KeyTranslator
from device.sources.reconnect import LOG_EVERY, ReaderHealth, Reconnector
from sim.keyboard_wedge import SimKeyboardWedge
from tests.device.sources_util import Collector, listening, wait_for


class RecordingStop(threading.Event):
    """A stop event whose waits are recorded and return at once; set after ``limit`` waits."""

    def __init__(self, limit: int = 10_000) -> None:
        super().__init__()
        self.waits: list[float] = []
        self.limit = limit

    def wait(self, timeout: float | None = None) -> bool:
        self.waits.append(float(timeout or 0))
        if len(self.waits) >= self.limit:
            self.set()
        return self.is_set()


def loop(stop: threading.Event, **kw: object) -> Reconnector[str]:
    return Reconnector("r1", what="reader", stop=stop, backoff_s=0.1, backoff_cap_s=0.8,
                       logger=logging.getLogger("test.reconnect"), **kw)  # type: ignore[arg-type]


def test_open_failures_back_off_and_are_logged_throttled(caplog: pytest.LogCaptureFixture
                                                         ) -> None:
    stop = RecordingStop()
    attempts = 0
    sessions = 0

    def open_() -> str:
        nonlocal attempts
        attempts += 1
        if attempts <= 45:
            raise FileNotFoundError(2, "No such file or directory", "/dev/ttyACM0")
        return "port"

    def session(handle: str) -> None:
        nonlocal sessions
        sessions += 1
        stop.set()

    r = loop(stop)
    with caplog.at_level(logging.DEBUG, logger="test.reconnect"):
        r.run(open_, session, lambda h: None)
    assert (attempts, sessions) == (46, 1)
    assert r.health.open_failures == 45 and r.health.reopens == 45
    assert r.health.connected is False and r.health.last_error is None
    # doubling from 0.1 s, capped at 0.8 s
    assert stop.waits[:5] == [0.1, 0.2, 0.4, 0.8, 0.8]
    warnings = [m for m in caplog.records if m.levelno == logging.WARNING]
    assert len(warnings) == len(range(1, 46, LOG_EVERY)) == 3
    assert "/dev/ttyACM0: No such file or directory" in warnings[0].getMessage()
    assert any("opened after 45 failed attempt(s)" in m.getMessage() for m in caplog.records)


def test_unexpected_errors_never_end_the_loop(caplog: pytest.LogCaptureFixture) -> None:
    stop = RecordingStop(limit=4)
    opened = closed = 0

    def open_() -> str:
        nonlocal opened
        opened += 1
        if opened == 2:
            raise TypeError("driver bug while opening")
        return f"h{opened}"

    def session(handle: str) -> None:
        raise ZeroDivisionError("driver bug while reading")

    def close(handle: str) -> None:
        nonlocal closed
        closed += 1
        raise RuntimeError("close fails too")  # guarded

    r = loop(stop)
    with caplog.at_level(logging.DEBUG, logger="test.reconnect"):
        r.run(open_, session, close)
    assert opened == 4 and closed == 3
    assert r.health.open_failures == 1 and r.health.disconnects == 3
    assert r.health.last_error == "ZeroDivisionError: driver bug while reading"
    tracebacks = [m for m in caplog.records if m.exc_info]
    assert tracebacks and isinstance(tracebacks[0].exc_info[1], ZeroDivisionError)  # type: ignore[index]


def test_backoff_starts_afresh_once_the_device_works() -> None:
    stop = RecordingStop(limit=6)
    n = 0

    def session(handle: str) -> None:
        nonlocal n
        n += 1
        if n == 3:
            r.mark_connected()  # e.g. a camera's first frame
        raise OSError(5, "Input/output error")

    r = loop(stop, connected_on_open=False)
    r.run(lambda: "cam", session, lambda h: None)
    # fails, fails, works then fails (afresh), fails, fails, fails
    assert stop.waits == [0.1, 0.2, 0.1, 0.2, 0.4, 0.8]


def test_a_superseded_loop_leaves_the_state_to_its_successor() -> None:
    health = ReaderHealth(connected=True)
    current = [True]

    def session(handle: str) -> None:
        current[0] = False  # the watchdog started a new capture meanwhile

    r = Reconnector("cam", what="camera", stop=threading.Event(), backoff_s=0.1,
                    backoff_cap_s=1, health=health, connected_on_open=False)
    r.run(lambda: "cam", session, lambda h: None, running=lambda: current[0])
    assert health.connected is True


class FlakyTranslator(KeyTranslator):
    """Raises an unexpected error (not an OSError) on the first key press."""

    def __init__(self) -> None:
        super().__init__()
        self.failed = False

    def event(self, etype: int, code: int, value: int) -> bytes:
        if not self.failed and value == 1:
            self.failed = True
            raise ValueError("unexpected bug in key translation")
        return super().event(etype, code, value)


def test_keyboard_reader_survives_an_unexpected_error() -> None:
    """The keyboard loop once lacked the catch-all: its thread died silently."""
    sim = SimKeyboardWedge()

    async def main() -> dict[str, object]:
        source = build_source(KeyboardSourceConfig(device=sim.path, idle_timeout_s=0.1,
                                                   reopen_backoff_s=0.05))
        assert isinstance(source, KeyboardWedgeSource)
        source._keys = FlakyTranslator()
        col = Collector(source)
        col.start()
        try:
            await wait_for(lambda: listening(source), 5, "reader open")
            sim.type("HC1:LOST")
            await wait_for(lambda: source.status()["disconnects"] == 1, 5, "the error seen")
            await wait_for(lambda: source.status()["reopens"] == 1 and listening(source), 5,
                           "reopened")
            sim.type("HC1:AFTER")
            assert await col.wait_count(1) == [b"HC1:AFTER"]
            return source.status()
        finally:
            await col.stop()

    try:
        st = asyncio.run(main())
    finally:
        sim.close()
    assert st["reopens"] == 1 and "ValueError" in str(st["last_error"] or "ValueError")
