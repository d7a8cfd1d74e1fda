"""Trust-list updates: periodic, jittered, conditional (ETag / If-None-Match).

A failed check is retried at the usual jittered interval while the installed list is
valid; only a terminal without a valid list retries sooner (full-jitter backoff).

A fetched list is installed through ``TrustStore.install`` (verified against the pinned
root key, refused unless newer than the installed one, written atomically); only then
is ``on_trust_list(new)`` called so the verifier swaps its reference without a restart
and without pausing decisions. A refused list leaves the installed one in force and is
reported in ``status()["trust_error"]``. The list's signed ``issued_at`` raises the time
floor ("trust-list").
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from device.errors import TrustListError, UplinkError
from device.uplink.backoff import Backoff
from device.uplink.client import CentralClient
from device.uplink.config import UplinkConfig
from device.uplink.state import UplinkState

if TYPE_CHECKING:
    from device.clock import Clock
    from device.clock.floor import TimeFloor
    from device.verify.trustlist import TrustList, TrustStore

log = logging.getLogger(__name__)

Sleep = Callable[[float], Awaitable[None]]


class TrustUpdater:
    def __init__(
        self,
        config: UplinkConfig,
        *,
        client: CentralClient,
        trust_store: TrustStore,
        state: UplinkState,
        backoff: Backoff,
        clock: Clock,
        on_trust_list: Callable[[TrustList], None] | None = None,
        timefloor: TimeFloor | None = None,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.config = config
        self.client = client
        self.trust_store = trust_store
        self.state = state
        self.backoff = backoff
        self.clock = clock
        self.on_trust_list = on_trust_list
        self.timefloor = timefloor
        self.sleep = sleep
        self.etag: str | None = None
        self.failures = 0
        current = self._installed()
        self.state.trust_list_version = current.version if current is not None else None

    def _installed(self) -> TrustList | None:
        try:
            return self.trust_store.current or self.trust_store.load()
        except TrustListError as exc:
            log.error("uplink: the installed trust list does not verify: %s", exc)
            return None

    async def run(self) -> None:
        delay = self.backoff.first_delay(min(self.config.trust_poll_interval_s,
                                             self.config.batch_interval_s * 2))
        while True:
            await self.sleep(delay)
            try:
                await self.check_once()
                self.failures = 0
                delay = self.backoff.jittered_interval(self.config.trust_poll_interval_s, 0.2)
            except Exception as exc:
                if not isinstance(exc, UplinkError):  # a bug, e.g. in on_trust_list: report
                    log.exception("uplink: unexpected error in the trust-list update")
                    self.state.trust_error = f"{type(exc).__name__}: {exc}"
                self.failures += 1
                delay = self._after_failure()

    def _after_failure(self) -> float:
        """The wait after a failed check. While the installed list is valid: the usual
        jittered interval. Retrying sooner helps nobody then, and during a long outage
        it put every terminal into quick retries from its first failed poll on, so that
        a crowd of them hit the centre in the seconds after it came back (docs/fleet.md,
        "uplink fixes"). A terminal whose list is missing or past its expiry does need a
        new one soon: it retries with full-jitter backoff, never later than the interval.
        """
        interval = self.backoff.jittered_interval(self.config.trust_poll_interval_s, 0.2)
        current = self._installed()
        if current is not None and not current.is_stale(self.clock.now()):
            return interval
        return min(interval, self.backoff.delay(min(self.failures - 1, 62)))

    async def check_once(self) -> TrustList | None:
        """One conditional fetch. Returns the newly installed list, or None.

        Raises UplinkError when the centre cannot be reached (the caller backs off).
        """
        try:
            fetch = await self.client.fetch_trust_list(self.etag)
        except UplinkError as exc:
            self.state.trust_error = str(exc)
            log.warning("uplink: trust-list check failed: %s", exc)
            raise
        self.state.trust_last_check_t = self.clock.now()
        if fetch.data is None:  # 304: ours is current
            return None
        current = self._installed()
        if current is not None and fetch.data == current.raw:
            self.etag = fetch.etag
            self.state.trust_error = None
            return None
        try:
            new = await asyncio.to_thread(self.trust_store.install, fetch.data)
        except TrustListError as exc:
            # Remember the ETag: the same bytes would be refused again. Keep the old list.
            self.etag = fetch.etag
            self.state.trust_error = f"trust list from the centre refused: {exc}"
            log.error("uplink: %s; keeping version %s", self.state.trust_error,
                      current.version if current else None)
            return None
        self.etag = fetch.etag
        self.state.trust_error = None
        self.state.trust_list_version = new.version
        log.info("uplink: trust list version %s installed", new.version)
        if self.timefloor is not None:
            await asyncio.to_thread(self.timefloor.raise_to, new.issued_at, "trust-list")
        if self.on_trust_list is not None:
            self.on_trust_list(new)
        return new
