"""The upload loop: journal -> centre, oldest first, acknowledged before marked.

    batch = journal.next_batch(size)       # the oldest open batch again, or a new one;
                                           # its idempotency key is persisted already
    answer = POST /v1/records (gzip, Idempotency-Key)
    2xx   -> journal.ack_batch             # only now are the records "uploaded"
    429/503/409 -> wait Retry-After (+jitter), same batch, same key
    5xx / network / timeout / truncated -> full-jitter backoff, same batch, same key
    401/403 -> backoff, report (the terminal's identity is the problem, not the records)
    413 -> the batch is too large: release it (journal.ack_batch(id, []) returns its records
           to the pending pool; the unprocessed key is dropped) and halve the batch size
    other 4xx -> journal.set_aside_batch + report; carry on with the next batch

Pacing: every upload answer may carry ``max_batch`` (the centre's cap on records per
batch) and ``min_interval_s`` (minimum seconds between the starts of two uploads). The
terminal obeys the latest answer; absent fields lift the limit. With no limit, a
backlog is sent back-to-back while the centre keeps accepting.

Journal calls and body encoding run in a worker thread so the event loop (and any
decision running on it) never waits on them.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from device.errors import JournalError, UplinkError
from device.uplink.backoff import Backoff
from device.uplink.client import CentralClient, Outcome, Pacing, encode_batch, error_kind
from device.uplink.config import UplinkConfig
from device.uplink.state import UplinkState

if TYPE_CHECKING:
    from device.clock import Clock
    from device.journal import Batch, Journal

log = logging.getLogger(__name__)

Sleep = Callable[[float], Awaitable[None]]


class Uploader:
    def __init__(
        self,
        config: UplinkConfig,
        *,
        journal: Journal,
        client: CentralClient,
        backoff: Backoff,
        state: UplinkState,
        clock: Clock,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.config = config
        self.journal = journal
        self.client = client
        self.backoff = backoff
        self.state = state
        self.clock = clock
        self.sleep = sleep
        self.pacing = Pacing()
        self.local_max: int | None = None  # lowered after a 413, for this process's life
        self.state.batch_size = config.batch_size

    @property
    def batch_size(self) -> int:
        size = self.config.batch_size
        if self.pacing.max_batch is not None:
            size = min(size, self.pacing.max_batch)
        if self.local_max is not None:
            size = min(size, self.local_max)
        return max(1, size)

    @property
    def min_interval_s(self) -> float:
        return self.pacing.min_interval_s or 0.0

    async def run(self) -> None:
        """Upload until cancelled. The first attempt is jittered over batch_interval_s."""
        first = self.backoff.first_delay(self.config.batch_interval_s)
        self.state.backoff_s = first
        await self.sleep(first)
        while True:
            try:
                delay = await self.step()
            except Exception as exc:  # never let a bug stop uploads for good: report, back off
                log.exception("uplink: unexpected error in the upload loop")
                self.state.failed(self.clock.now(), "internal", f"{type(exc).__name__}: {exc}")
                delay = self.backoff.delay(min(self.state.consecutive_failures - 1, 62))
            self.state.backoff_s = delay
            if delay > 0:
                await self.sleep(delay)
            else:
                await asyncio.sleep(0)  # let the loop breathe between back-to-back batches

    def _idle_delay(self) -> float:
        interval = self.backoff.jittered_interval(self.config.batch_interval_s)
        return max(self.min_interval_s, interval)

    async def step(self) -> float:
        """One attempt. Returns the seconds to wait before the next one."""
        size = self.batch_size
        try:
            batch = await asyncio.to_thread(self.journal.next_batch, size)
        except JournalError as exc:
            log.error("uplink: cannot read the journal: %s", exc)
            self.state.failed(self.clock.now(), "journal", str(exc))
            return self.backoff.delay(min(self.state.consecutive_failures - 1, 30))
        if batch is None:
            return self._idle_delay()
        started = self.clock.monotonic()
        delay = await self._send(batch)
        if delay is not None:
            return delay
        elapsed = self.clock.monotonic() - started
        if len(batch.records) >= size or batch.attempts > 1:  # probably more behind it: go on
            return max(0.0, self.min_interval_s - elapsed)
        return self._idle_delay()

    def _retry_delay(self, retry_after_s: float | None) -> float:
        if retry_after_s is not None:
            delay = self.backoff.after_retry_after(retry_after_s)
        else:
            delay = self.backoff.delay(min(self.state.consecutive_failures - 1, 62))
        return max(delay, self.min_interval_s)

    async def _send(self, batch: Batch) -> float | None:
        """Send one batch. None: acknowledged or set aside (go on); else the wait."""
        body = await asyncio.to_thread(
            encode_batch, self.config.terminal_id, batch.batch_id, batch.records
        )
        try:
            result = await self.client.upload(batch, body)
        except UplinkError as exc:
            kind = error_kind(exc)
            self.state.failed(self.clock.now(), kind, str(exc))
            log.warning("uplink: batch %s (attempt %s) not sent: %s",
                        batch.batch_id, batch.attempts, exc)
            return self._retry_delay(None)
        self.pacing = result.pacing
        self.state.batch_size = self.batch_size
        self.state.min_interval_s = self.min_interval_s
        now = self.clock.now()
        if result.outcome is Outcome.ACKED:
            # 2xx means every record of the batch is stored at the centre (API contract).
            await asyncio.to_thread(self.journal.ack_batch, batch.batch_id, None)
            self.state.ok(now)
            self.state.batches_acked += 1
            self.state.records_acked += len(batch.records)
            self.state.duplicates_reported += result.duplicates
            return None
        if result.outcome is Outcome.TOO_LARGE:
            self.local_max = max(1, len(batch.records) // 2)
            self.state.batch_size = self.batch_size
            # Nothing was processed under this key: give the records back to the pool so
            # they go out again in smaller batches under new keys (the centre de-duplicates
            # by record id in any case).
            await asyncio.to_thread(self.journal.ack_batch, batch.batch_id, [])
            log.warning("uplink: the centre found batch %s (%s records) too large; sending "
                        "at most %s per batch", batch.batch_id, len(batch.records),
                        self.local_max)
            return None
        if result.outcome is Outcome.REJECTED:
            reason = f"HTTP {result.status}: {result.detail or 'refused by the centre'}"
            await asyncio.to_thread(self.journal.set_aside_batch, batch.batch_id, reason)
            self.state.online = True
            self.state.batches_set_aside += 1
            self.state.set_aside.append({
                "t": now, "batch_id": batch.batch_id, "records": len(batch.records),
                "status": result.status, "reason": reason,
            })
            log.error("uplink: the centre refused batch %s (%s records): %s; set aside for "
                      "the technician, not retried", batch.batch_id, len(batch.records), reason)
            return None
        kind = {
            Outcome.RETRY_AFTER: "busy",
            Outcome.IN_FLIGHT: "in_flight",
            Outcome.AUTH: "auth",
        }.get(result.outcome, "server")
        message = f"HTTP {result.status}" + (f": {result.detail}" if result.detail else "")
        if result.outcome is Outcome.AUTH:
            message += "; check uplink.token (or the terminal certificate)"
        self.state.failed(now, kind, message)
        log.warning("uplink: batch %s not accepted (%s); will retry with the same key",
                    batch.batch_id, message)
        return self._retry_delay(result.retry_after_s)
