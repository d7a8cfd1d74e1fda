"""``Uplink``: the upload loop, the heartbeat and trust-list polling as one asyncio service.

    uplink = Uplink(config, journal=journal, timefloor=floor, trust_store=store,
                    on_trust_list=verifier.replace_trust, health=daemon.health)
    task = asyncio.create_task(uplink.run())      # until cancelled
    uplink.status()                               # for the status panel / heartbeat

Nothing here is on the scan -> decision path: the daemon's decisions only meet the
uplink through the journal (its own locking) and ``on_trust_list`` (a reference swap).
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import httpx

from device.clock import Clock, SystemClock
from device.uplink.backoff import Backoff, parse_http_date
from device.uplink.client import CentralClient
from device.uplink.config import UplinkConfig
from device.uplink.heartbeat import Heartbeat
from device.uplink.state import UplinkState
from device.uplink.trust_updates import TrustUpdater
from device.uplink.uploader import Uploader

if TYPE_CHECKING:
    from device.clock.floor import TimeFloor
    from device.journal import Journal
    from device.verify.trustlist import TrustList, TrustStore

log = logging.getLogger(__name__)

#: Raise the time floor from the centre's Date at most this often (it is an fsync).
DATE_RAISE_EVERY_S = 60.0


class Uplink:
    def __init__(
        self,
        config: UplinkConfig,
        *,
        journal: Journal,
        timefloor: TimeFloor | None = None,
        trust_store: TrustStore | None = None,
        on_trust_list: Callable[[TrustList], None] | None = None,
        health: Callable[[], dict[str, Any]] | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        clock: Clock | None = None,
        rng: random.Random | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.config = config
        self.clock: Clock = clock if clock is not None else SystemClock()
        self.timefloor = timefloor
        self.state = UplinkState()
        self.backoff = Backoff(
            base_s=config.backoff_base_s, cap_s=config.backoff_cap_s,
            rng=rng if rng is not None else random.SystemRandom(),
        )
        self._last_date_raise_mono: float | None = None
        self._pending: set[asyncio.Future[None]] = set()
        self.client = CentralClient(
            config, clock=self.clock, transport=transport, on_server_date=self._server_date,
            on_identity=self._identity_answer,
        )
        self.uploader = Uploader(
            config, journal=journal, client=self.client, backoff=self.backoff,
            state=self.state, clock=self.clock, sleep=sleep,
        )
        self.heartbeat = Heartbeat(
            config, client=self.client, journal=journal, state=self.state,
            backoff=self.backoff, clock=self.clock, timefloor=timefloor,
            trust_store=trust_store, health=health, sleep=sleep,
        )
        self.trust: TrustUpdater | None = None
        if trust_store is not None:
            self.trust = TrustUpdater(
                config, client=self.client, trust_store=trust_store, state=self.state,
                backoff=self.backoff, clock=self.clock, on_trust_list=on_trust_list,
                timefloor=timefloor, sleep=sleep,
            )

    async def run(self) -> None:
        """Upload, heartbeat and poll the trust list until cancelled; closes the client."""
        try:
            async with asyncio.TaskGroup() as group:
                group.create_task(self.uploader.run(), name="uplink-upload")
                group.create_task(self.heartbeat.run(), name="uplink-heartbeat")
                if self.trust is not None:
                    group.create_task(self.trust.run(), name="uplink-trust")
        finally:
            await self.aclose()

    async def aclose(self) -> None:
        if self._pending:
            await asyncio.gather(*self._pending, return_exceptions=True)
        await self.client.aclose()

    def status(self) -> dict[str, Any]:
        """A snapshot for the status panel and the heartbeat (plain JSON types)."""
        snap = self.state.snapshot()
        snap["mutual_tls"] = self.config.has_client_cert
        return snap

    def _identity_answer(self, code: str | None) -> None:
        if code != self.state.identity_refused:
            if code == "revoked":
                log.error("uplink: the centre has REVOKED this terminal's certificate; "
                          "decisions go on offline and stay in the journal; re-enrol it")
            elif code is not None:
                log.warning("uplink: the centre refused this terminal's identity (%s)", code)
        self.state.identity_refused = code

    def reload_identity(self) -> None:
        """After a renewal: present the new client certificate from now on."""
        self.client.reload_identity()

    def _server_date(self, date: str) -> None:
        """The Date of a verified TLS answer: raise the time floor (rate-limited, off-loop)."""
        t = parse_http_date(date)
        if t is None:
            return
        self.state.server_date_t = t
        if self.timefloor is None:
            return
        mono = self.clock.monotonic()
        last = self._last_date_raise_mono
        if last is not None and mono - last < DATE_RAISE_EVERY_S:
            return
        self._last_date_raise_mono = mono
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(None, self._raise_floor, t)
        self._pending.add(future)
        future.add_done_callback(self._pending.discard)

    def _raise_floor(self, t: float) -> None:
        assert self.timefloor is not None
        try:
            self.timefloor.raise_to(t, "central-date")
        except Exception:  # the floor is best effort here; never take the uplink down
            log.exception("uplink: could not raise the time floor from the centre's Date")
