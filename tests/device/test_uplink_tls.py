"""TLS with a pinned CA over a real socket: the pinned CA works, any other fails with
UplinkError; the Date of a verified exchange raises the time floor."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from device.clock import ManualClock
from device.clock.floor import ClockQuality, TimeFloor
from device.errors import ConfigError, KeyLoadError, UplinkError
from device.uplink.client import CentralClient, error_kind
from device.uplink.tls import TerminalIdentity, build_ssl_context
from sim.central import CentralServer
from sim.tlscerts import ThrowawayPki, make_test_pki
from tests.device.uplink_support import (
    assert_exactly_once,
    config,
    drain,
    fill,
    make_journal,
    wait_for,
)


@pytest.fixture(scope="module")
def pkis(tmp_path_factory: pytest.TempPathFactory) -> tuple[ThrowawayPki, ThrowawayPki]:
    base = tmp_path_factory.mktemp("pki")
    return make_test_pki(base / "good"), make_test_pki(base / "other", name="impostor")


def test_pinned_ca_works_and_date_raises_the_floor(
        tmp_path: Path, pkis: tuple[ThrowawayPki, ThrowawayPki]) -> None:
    good, _ = pkis
    clock = ManualClock(now=0.0)  # a fresh Pi: its clock says 1970
    floor = TimeFloor(tmp_path / "floor.json", clock=clock)
    journal = make_journal(tmp_path)
    ids = fill(journal, 120)
    with CentralServer(tmp_path / "c.db", tls_cert=good.server_cert,
                       tls_key=good.server_key) as server:
        assert server.url.startswith("https://")
        from device.uplink import Uplink

        up = Uplink(config(server.url, ca_file=good.ca_cert, token="tok"), journal=journal,
                    timefloor=floor, clock=clock)

        async def scenario() -> None:
            await drain(up, journal)
            await up.aclose()

        asyncio.run(scenario())
        assert_exactly_once(server, ids)
    journal.close()
    trusted = floor.now()
    assert abs(trusted.t - time.time()) < 120  # the centre's Date, not 1970
    assert floor.status()["sync_source"] == "central-date"
    assert trusted.quality in (ClockQuality.FLOOR, ClockQuality.UNSURE)  # the wall is wrong
    assert up.status()["server_date_t"] is not None


def test_other_ca_fails_with_uplink_error(tmp_path: Path,
                                          pkis: tuple[ThrowawayPki, ThrowawayPki]) -> None:
    good, impostor = pkis
    journal = make_journal(tmp_path)
    fill(journal, 10)
    with CentralServer(tmp_path / "c.db", tls_cert=impostor.server_cert,
                       tls_key=impostor.server_key) as server:
        from device.uplink import Uplink

        up = Uplink(config(server.url, ca_file=good.ca_cert), journal=journal)

        async def scenario() -> None:
            await up.uploader.step()
            client = CentralClient(config(server.url, ca_file=good.ca_cert), clock=ManualClock())
            with pytest.raises(UplinkError, match="pinned CA") as info:
                await client.heartbeat({"x": 1})
            assert error_kind(info.value) == "tls"
            await client.aclose()
            await up.aclose()

        asyncio.run(scenario())
        assert server.store.record_count() == 0
        # The server counts a failed handshake on its own thread, after the client gave up.
        wait_for(lambda: server.metrics.snapshot()["counters"].get(
            "tls_handshake_failed", 0) >= 2)
    assert journal.stats().pending == 10
    assert up.status()["last_error_kind"] == "tls"
    journal.close()


def test_https_without_pinned_ca_is_refused() -> None:
    # Refused by the configuration itself (so `config check` and `run` both refuse it).
    with pytest.raises(ConfigError, match="ca_file"):
        config("https://127.0.0.1:9")


def test_plain_http_server_date_does_not_raise_the_floor(tmp_path: Path) -> None:
    clock = ManualClock(now=0.0)
    floor = TimeFloor(tmp_path / "floor.json", clock=clock)
    before = floor.status()["floor_t"]
    journal = make_journal(tmp_path)
    fill(journal, 5)
    with CentralServer(tmp_path / "c.db") as server:
        from device.uplink import Uplink

        up = Uplink(config(server.url), journal=journal, timefloor=floor, clock=clock)

        async def scenario() -> None:
            await drain(up, journal)
            await up.aclose()

        asyncio.run(scenario())
    journal.close()
    assert floor.status()["floor_t"] == before
    assert floor.status()["sync_source"] is None


def test_ssl_context_pins_only_the_given_ca(pkis: tuple[ThrowawayPki, ThrowawayPki],
                                            tmp_path: Path) -> None:
    good, _ = pkis
    ctx = build_ssl_context(good.ca_cert)
    assert len(ctx.get_ca_certs()) == 1  # not the system store
    assert ctx.check_hostname
    with pytest.raises(KeyLoadError, match="pinned central CA"):
        build_ssl_context(tmp_path / "missing.pem")
    # The mutual-TLS seam: a client certificate loads into the same context.
    ident = TerminalIdentity(token="t", client_cert=good.server_cert, client_key=good.server_key)
    build_ssl_context(good.ca_cert, ident)
    # With a client certificate the bearer token (migration only) is not sent.
    assert ident.headers() == {}
    assert TerminalIdentity(token="t").headers() == {"Authorization": "Bearer t"}
    with pytest.raises(KeyLoadError, match="client certificate"):
        build_ssl_context(good.ca_cert, TerminalIdentity(client_cert=tmp_path / "no.pem",
                                                         client_key=tmp_path / "no.key"))
