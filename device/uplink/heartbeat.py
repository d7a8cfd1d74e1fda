"""The heartbeat: the terminal's health, sent to the centre at a jittered interval.

The report (see docs/central-api.md, POST /v1/heartbeat) is built from what the uplink
knows (journal backlog and the age of its oldest record, trust-list version, clock
state, disk, recent errors, set-aside batches, journal events such as quota loss or a
corrupt journal moved aside) and then merged with the daemon's ``health()`` dict, whose
keys win. Journal events are marked reported only after the centre answered 2xx.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Awaitable, Callable
from importlib import metadata
from typing import TYPE_CHECKING, Any

from device.errors import JournalError, TrustListError, UplinkError
from device.uplink.backoff import Backoff
from device.uplink.client import CentralClient
from device.uplink.config import UplinkConfig
from device.uplink.state import UplinkState

if TYPE_CHECKING:
    from device.clock import Clock
    from device.clock.floor import TimeFloor
    from device.journal import Journal
    from device.verify.trustlist import TrustStore

log = logging.getLogger(__name__)

Sleep = Callable[[float], Awaitable[None]]


@functools.cache
def package_version() -> str:
    """The installed package's version, read once: ``importlib.metadata`` parses the
    distribution's METADATA file on every call (milliseconds on an SD card), and the
    version cannot change under a running process."""
    try:
        return metadata.version("scangate")
    except metadata.PackageNotFoundError:
        return "unknown"


class Heartbeat:
    def __init__(
        self,
        config: UplinkConfig,
        *,
        client: CentralClient,
        journal: Journal,
        state: UplinkState,
        backoff: Backoff,
        clock: Clock,
        timefloor: TimeFloor | None = None,
        trust_store: TrustStore | None = None,
        health: Callable[[], dict[str, Any]] | None = None,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.config = config
        self.client = client
        self.journal = journal
        self.state = state
        self.backoff = backoff
        self.clock = clock
        self.timefloor = timefloor
        self.trust_store = trust_store
        self.health = health
        self.sleep = sleep
        self.sent = 0
        self.delays: list[float] = []  # the waits chosen, newest last (bounded)

    async def run(self) -> None:
        delay = self.backoff.first_delay(self.config.heartbeat_interval_s)
        while True:
            self._note(delay)
            await self.sleep(delay)
            try:
                await self.send_once()
            except Exception as exc:  # a bug in a health() callable must not stop heartbeats
                log.exception("uplink: unexpected error building or sending the heartbeat")
                self.state.heartbeat_error = f"{type(exc).__name__}: {exc}"
            delay = self.backoff.jittered_interval(self.config.heartbeat_interval_s, 0.2)

    def _note(self, delay: float) -> None:
        self.delays.append(delay)
        del self.delays[:-100]

    def build(
        self, uplink: dict[str, Any] | None = None, extra: dict[str, Any] | None = None
    ) -> tuple[dict[str, Any], list[Any]]:
        """The health report and the ids of the journal events it carries. Runs in a worker
        thread (journal reads); ``uplink`` (the state snapshot) and ``extra`` (the daemon's
        ``health()``) are taken on the event loop beforehand."""
        now = self.clock.now()
        report: dict[str, Any] = {
            "terminal_id": self.config.terminal_id,
            "version": package_version(),
            "sent_at": now,
        }
        if self.timefloor is not None:
            trusted = self.timefloor.now()
            report["sent_at"] = trusted.t
            report["clock"] = self.timefloor.status()
        else:
            report["clock"] = {"quality": "unsure", "wall": now}
        event_ids: list[Any] = []
        try:
            stats = self.journal.stats()
            oldest = stats.oldest_pending_t
            report["backlog"] = {
                "pending": stats.pending,
                "oldest_pending_t": oldest,
                "oldest_pending_age_s": (max(0.0, report["sent_at"] - oldest)
                                         if oldest is not None else None),
                "lost": stats.lost,
                "set_aside": stats.set_aside,
            }
            report["disk"] = {
                "journal_bytes": stats.size_bytes,
                "quota_bytes": getattr(stats, "quota_bytes", None),
                "free_bytes": getattr(stats, "free_disk_bytes", None),
            }
            events = self.journal.events()
            report["events"] = events
            event_ids = [e.get("event_id") for e in events if isinstance(e, dict)]
        except JournalError as exc:
            report["backlog"] = {"error": str(exc)}
        if self.trust_store is not None:
            try:
                current = self.trust_store.current or self.trust_store.load()
            except TrustListError as exc:
                current = None
                report["trust_list_error"] = str(exc)
            report["trust_list"] = (
                {"version": current.version, "issued_at": current.issued_at,
                 "expires_at": current.expires_at, "stale": current.is_stale(report["sent_at"])}
                if current is not None else {"version": None}
            )
        report["uplink"] = uplink if uplink is not None else self.state.snapshot()
        report["errors"] = report["uplink"].pop("errors", [])
        if extra is not None:
            report.update(extra)
        return report, event_ids

    async def send_once(self) -> bool:
        extra = self.health() if self.health is not None else None
        report, event_ids = await asyncio.to_thread(self.build, self.state.snapshot(), extra)
        try:
            await self.client.heartbeat(report)
        except UplinkError as exc:
            self.state.heartbeat_error = str(exc)
            log.warning("uplink: heartbeat not delivered: %s", exc)
            return False
        now = self.clock.now()
        self.sent += 1
        self.state.last_heartbeat_t = now
        self.state.heartbeat_error = None
        self.state.online = True
        self.state.last_ok_t = now
        ids = [i for i in event_ids if i is not None]
        if ids:
            try:
                await asyncio.to_thread(self.journal.mark_events_reported, ids)
            except JournalError as exc:
                log.warning("uplink: could not mark journal events reported: %s", exc)
        return True
