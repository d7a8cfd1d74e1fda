"""A decision never waits on the network: central reachable vs blackholed, compared."""

from __future__ import annotations

import asyncio
import socket
import time
from pathlib import Path
from typing import Any

from gpiozero.pins.mock import MockFactory

from device.daemon.app import Daemon
from device.daemon.pipeline import Outcome
from sim.central import CentralServer
from tests.device.daemon_kit import FedSource, asynctest, load, make_site

N = 12


async def decide_all(tmp_path: Path, base_url: str) -> tuple[Daemon, list[Outcome], float]:
    uplink = (f'[uplink]\nbase_url = "{base_url}"\ntoken = "t0k3n"\n'
              'allow_insecure_http = true\nbatch_interval_s = 0.1\n'
              'backoff_base_s = 0.1\nbackoff_cap_s = 0.5\nheartbeat_interval_s = 0.2\n'
              'trust_poll_interval_s = 0.2\ntimeout_s = 30\n')
    path, keys = make_site(tmp_path, uplink=uplink, extra="[dedupe]\nwindow_s = 0.0\n")
    src = FedSource()
    outs: list[Outcome] = []
    d = Daemon(load(path), pin_factory=MockFactory(), sources=[src], write_log=lambda _: None,
               on_outcome=outs.append)
    await d.start()
    issuer = keys.issuer()
    await asyncio.sleep(0.5)  # let the uplink start its first calls
    t0 = time.monotonic()
    for i in range(N):
        src.feed(issuer.mint("green" if i % 3 else "red"))
        await asyncio.sleep(0.02)
    while len(outs) < N and time.monotonic() - t0 < 5:
        await asyncio.sleep(0.01)
    return d, outs, time.monotonic() - t0


@asynctest
async def test_decisions_do_not_wait_for_a_blackholed_centre(tmp_path: Path) -> None:
    # Reachable: the stand-in central engine over a real socket.
    central = CentralServer(tmp_path / "central.db")
    central.start()
    try:
        d1, outs1, _ = await decide_all(tmp_path / "up", central.url)
        try:
            end = time.monotonic() + 10
            while time.monotonic() < end:
                await d1.board.refresh_stats(force=True)
                if d1.board.stats.pending == 0:
                    break
                await asyncio.sleep(0.1)
            assert d1.board.stats.pending == 0  # the uplink works inside the daemon...
            assert d1.board.status()["uplink"]["online"] is True
        finally:
            await d1.stop()
    finally:
        central.stop()

    # Blackholed: the centre accepts TCP connections and never answers (timeout 30 s).
    hole = socket.socket()
    hole.bind(("127.0.0.1", 0))
    hole.listen(64)
    accepted: list[socket.socket] = []

    async def swallow() -> None:
        loop = asyncio.get_running_loop()
        hole.setblocking(False)
        while True:
            conn, _ = await loop.sock_accept(hole)
            accepted.append(conn)  # read nothing, answer nothing

    sink = asyncio.create_task(swallow())
    try:
        d2, outs2, _ = await decide_all(tmp_path / "down", f"http://127.0.0.1:"
                                        f"{hole.getsockname()[1]}")
        try:
            assert accepted, "the uplink should be stuck in a request to the blackhole"
            st: dict[str, Any] = d2.board.status()["uplink"]
            assert st["online"] is False and st["records_acked"] == 0
            await d2.board.refresh_stats(force=True)
            assert d2.board.stats.pending == N  # recorded locally, waiting
        finally:
            t_stop = time.monotonic()
            await d2.stop()
            assert time.monotonic() - t_stop < 2.0  # a hung request does not hold the stop
    finally:
        sink.cancel()
        for c in accepted:
            c.close()
        hole.close()

    # ...and in both cases every scan was decided, with the same verdicts.
    assert len(outs1) == len(outs2) == N
    assert [o.verdict.reason for o in outs1] == [o.verdict.reason for o in outs2]
    assert all(o.record_id for o in outs2)
    # Compare: the slowest decision with the centre blackholed is far below the uplink's
    # 30 s timeout: nothing on the path waited for the network.
    worst_down = max(o.decision_ms for o in outs2)
    worst_up = max(o.decision_ms for o in outs1)
    print(f"worst decision: reachable {worst_up:.2f} ms, blackholed {worst_down:.2f} ms")
    assert worst_down < 1000


@asynctest
async def test_trust_list_update_from_the_centre_reaches_the_verifier(tmp_path: Path) -> None:
    """A newer list published by the centre is fetched, installed and used without a restart."""
    site = tmp_path / "site"
    site.mkdir()
    published = tmp_path / "published.cose"
    central = CentralServer(tmp_path / "central.db", trust_list_path=published)
    central.start()
    try:
        uplink = (f'[uplink]\nbase_url = "{central.url}"\ntoken = "t0k3n"\n'
                  'allow_insecure_http = true\n'
                  'trust_poll_interval_s = 0.2\nbackoff_base_s = 0.1\nbackoff_cap_s = 0.5\n')
        path, keys = make_site(site, uplink=uplink, extra="[dedupe]\nwindow_s = 0.0\n")
        published.write_bytes(keys.trust_list.read_bytes())  # v1, as installed
        src = FedSource()
        outs: list[Outcome] = []
        d = Daemon(load(path), pin_factory=MockFactory(), sources=[src],
                   write_log=lambda _: None, on_outcome=outs.append)
        await d.start()
        try:
            issuer = keys.issuer()
            code = issuer.mint("green", code_id=b"\x07" * 16)
            src.feed(code)
            while not outs:
                await asyncio.sleep(0.01)
            assert outs[0].verdict.accepted
            revoked_id = outs[0].verdict.code_id
            keys.write_trust_list(2, revoked=[revoked_id], path=published)
            end = time.monotonic() + 10
            while d.verifier.trust_list.version != 2:
                assert time.monotonic() < end, d.board.status()["uplink"]
                await asyncio.sleep(0.05)
            src.feed(issuer.mint("green", code_id=b"\x07" * 16))
            while len(outs) < 2:
                await asyncio.sleep(0.01)
            assert outs[1].verdict.reason.value == "revoked"
            assert d.trust_store.load().version == 2  # installed on disk, survives a restart
        finally:
            await d.stop()
    finally:
        central.stop()
