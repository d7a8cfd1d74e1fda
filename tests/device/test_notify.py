"""sd_notify by hand: real unix datagram sockets, path and abstract, never blocking."""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path

from device.daemon.notify import Notifier


def test_no_socket_is_a_no_op() -> None:
    n = Notifier({})
    assert not n.enabled and n.watchdog_interval_s is None
    assert n.ready() is False and n.watchdog() is False


def test_messages_arrive_on_a_path_socket(tmp_path: Path) -> None:
    path = tmp_path / "notify"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as rx:
        rx.bind(str(path))
        rx.settimeout(2)
        n = Notifier({"NOTIFY_SOCKET": str(path), "WATCHDOG_USEC": "3000000"})
        assert n.watchdog_interval_s == 1.5
        assert n.ready("3 decisions")
        assert n.watchdog() and n.stopping() and n.status("draining")
        got = [rx.recv(1024).decode() for _ in range(4)]
        n.close()
    assert got == ["READY=1\nSTATUS=3 decisions", "WATCHDOG=1", "STOPPING=1", "STATUS=draining"]


def test_abstract_socket() -> None:
    name = f"scangate-test-{os.getpid()}-{time.monotonic_ns()}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as rx:
        rx.bind("\0" + name)
        rx.settimeout(2)
        n = Notifier({"NOTIFY_SOCKET": "@" + name})
        assert n.ready()
        assert rx.recv(1024) == b"READY=1"
        n.close()


def test_watchdog_pid_of_another_process_is_ignored() -> None:
    n = Notifier({"NOTIFY_SOCKET": "/nonexistent", "WATCHDOG_USEC": "1000000",
                  "WATCHDOG_PID": str(os.getpid() + 1)})
    assert n.watchdog_interval_s is None
    mine = Notifier({"WATCHDOG_USEC": "1000000", "WATCHDOG_PID": str(os.getpid())})
    assert mine.watchdog_interval_s == 0.5


def test_a_receiver_that_stopped_reading_never_blocks(tmp_path: Path) -> None:
    path = tmp_path / "notify"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as rx:
        rx.bind(str(path))
        n = Notifier({"NOTIFY_SOCKET": str(path)})
        t0 = time.monotonic()
        results = [n.watchdog() for _ in range(5000)]
        assert time.monotonic() - t0 < 5
        assert results[0] is True and results[-1] is False  # the queue filled: dropped
        n.close()


def test_missing_socket_fails_quietly(tmp_path: Path) -> None:
    n = Notifier({"NOTIFY_SOCKET": str(tmp_path / "gone")})
    assert n.enabled and n.ready() is False
    n.close()


def test_watchdog_pings_come_from_the_event_loop(tmp_path: Path) -> None:
    """A hung loop stops the pings (so systemd's WatchdogSec restarts the service)."""
    import asyncio
    import threading

    from gpiozero.pins.mock import MockFactory

    from device.daemon.app import Daemon
    from tests.device.daemon_kit import FedSource, load, make_site

    path, _ = make_site(tmp_path)
    sock_path = tmp_path / "notify"
    rx = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    rx.bind(str(sock_path))
    rx.settimeout(0.05)
    pings: list[float] = []
    done = threading.Event()

    def listen() -> None:
        while not done.is_set():
            try:
                if rx.recv(1024) == b"WATCHDOG=1":
                    pings.append(time.monotonic())
            except TimeoutError:
                pass

    listener = threading.Thread(target=listen)
    listener.start()

    async def body() -> tuple[float, float]:
        n = Notifier({"NOTIFY_SOCKET": str(sock_path), "WATCHDOG_USEC": "100000"})
        d = Daemon(load(path), pin_factory=MockFactory(), sources=[FedSource()],
                   notifier=n, write_log=lambda _: None)
        await d.start()
        try:
            await asyncio.sleep(0.5)
            t0 = time.monotonic()
            time.sleep(0.6)  # the loop hangs
            t1 = time.monotonic()
            await asyncio.sleep(0.3)
            return t0, t1
        finally:
            await d.stop()

    try:
        t0, t1 = asyncio.run(body())
    finally:
        done.set()
        listener.join()
        rx.close()
    before = [p for p in pings if p < t0]
    during = [p for p in pings if t0 + 0.02 < p < t1]
    after = [p for p in pings if p > t1 + 0.02]
    assert len(before) >= 3  # every 50 ms while the loop runs
    assert during == []
    assert after  # and again once it runs
