"""The designs scangate is compared with, on the same arrivals and the same kind of centre.

``naive_online``: the gate asks the centre about every scan and waits for the answer
(up to ``online_timeout_s``; a person whose scan got no answer scans again after
``rescan_s``, up to ``online_attempts`` times, then is turned away as "centre
unavailable"). The centre verifies with the real ``Verifier`` and ``SiteDecider``.
One person at a time per gate: while a gate waits, the queue behind it waits too.
The gate latency reported is the virtual wait (the centre's queue and timeouts).

``naive_retry``: decides locally with the real ``Verifier`` and ``SiteDecider`` (its
gate latency is measured, as for scangate), keeps the records in memory and forwards
them: every ``retry_interval_s`` exactly (no jitter, no backoff) it sends everything
pending, one request per record (``batch_size`` 1), ``max_in_flight`` requests at a
time (an HTTP client's connection pool); what failed waits for the next tick. It
ignores ``Retry-After`` and has no idempotency key and no record ids the centre could
de-duplicate on: a request whose answer was lost is stored again (``duplicates``).
Heartbeat and trust-list polls run on fixed intervals from boot, without jitter.

Both are models of other designs, not scangate code; they share the centre model,
the arrivals, the codes and the site policy with the scangate fleet.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

from device.decide import SiteDecider
from device.verify.verifier import Verifier
from sim.fleet.centre import Answer, CentreFailure, CentreModel, Request
from sim.fleet.context import ShardContext
from sim.fleet.load import Arrival
from sim.fleet.terminals import play_day

UNAVAILABLE = "centre_unavailable"


class _Periodic:
    """Heartbeats (and trust-list polls) at fixed intervals from boot, answers ignored."""

    def __init__(self, ctx: ShardContext, centre: CentreModel) -> None:
        self.ctx = ctx
        self.centre = centre
        self.naive = ctx.scenario.naive

    async def heartbeats(self, boot: float) -> None:
        loop = self.ctx.loop
        n = self.naive
        t = boot
        while True:
            t += n.heartbeat_interval_s
            await asyncio.sleep(max(0.0, t - loop.time()))
            with contextlib.suppress(CentreFailure):
                await self.centre.exchange(Request("heartbeat", _ok), connect_timeout=n.timeout_s,
                                           read_timeout=n.timeout_s)


def _ok(now: float) -> Answer:
    return Answer(200)


@dataclass
class _RetryTerminal:
    index: int
    verifier: Verifier
    decider: SiteDecider
    queue: dict[int, float] = field(default_factory=dict)  # record no. -> t decided
    trust_version: int = 1
    wake: asyncio.Event = field(default_factory=asyncio.Event)  # a record was queued


class NaiveRetryFleet:
    name = "naive_retry"

    def __init__(self, ctx: ShardContext) -> None:
        self.ctx = ctx
        self.centre = CentreModel(ctx.loop, spec=ctx.scenario.centre, day=ctx.scenario.day,
                                  capacity_rps=ctx.capacity, recorder=ctx.recorder)
        self.periodic = _Periodic(ctx, self.centre)
        self.terminals: dict[int, _RetryTerminal] = {}
        self.stored: set[int] = set()
        self.batches_seen: set[tuple[int, int]] = set()
        self.next_record = 0
        self.lists = {1: ctx.codes.parsed(1)}
        self.build_mb_per_terminal: float | None = None

    def build(self) -> None:
        for i in self.ctx.indices:
            self.terminals[i] = _RetryTerminal(i, Verifier(self.lists[1]),
                                               SiteDecider(self.ctx.scenario.policy))

    def scan(self, term: _RetryTerminal, arrival: Arrival) -> None:
        ctx = self.ctx
        now = ctx.loop.time()
        payload = ctx.codes.payload(arrival.shown_kind, arrival.shown_t, arrival.code,
                                    term.index)
        t0 = time.perf_counter()
        verdict = term.verifier.verify(payload, at=ctx.epoch + now)
        final = term.decider.decide(verdict, t_mono=now)
        term.queue[self.next_record] = now
        ms = (time.perf_counter() - t0) * 1000.0
        term.wake.set()
        self.next_record += 1
        reason = final.reason.value
        ctx.recorder.decision(now, ms, reason, record=True)
        if reason != ctx.expected[arrival.kind]:
            ctx.recorder.count("mismatches")

    async def run(self) -> None:
        ctx = self.ctx
        loop = ctx.loop
        tasks = []
        for i, term in self.terminals.items():
            boot = ctx.boot_time(i)
            tasks.append(loop.create_task(self._forward(term, boot)))
            tasks.append(loop.create_task(self.periodic.heartbeats(boot)))
            tasks.append(loop.create_task(self._trust(term, boot)))
        await play_day(ctx, self.terminals, self.scan)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        ctx.recorder.count("pending_at_end", sum(len(t.queue) for t in self.terminals.values()))

    def _upload(self, batch: list[tuple[int, float]], key: tuple[int, int]) -> Request:
        rec = self.ctx.recorder

        def process(now: float) -> Answer:
            if key not in self.batches_seen:
                self.batches_seen.add(key)
                rec.count("unique_batches")
            again = 0
            for rid, t_decided in batch:
                if rid in self.stored:
                    again += 1  # no record id to de-duplicate on: stored a second time
                    continue
                self.stored.add(rid)
                rec.stored_record(now, t_decided)
            if again:
                rec.count("duplicates", again)
                rec.count("duplicates_stored", again)
            return Answer(200)

        return Request("upload", process,
                       cost=1.0 + self.ctx.scenario.centre.record_cost * len(batch))

    async def _forward(self, term: _RetryTerminal, boot: float) -> None:
        """Every ``retry_interval_s`` from boot, send everything pending, one request per
        ``batch_size`` records, ``max_in_flight`` at a time; what failed waits for the
        next tick. (Ticks that find nothing pending do nothing, so the loop sleeps
        through them until a record is queued.)"""
        loop = self.ctx.loop
        n = self.ctx.scenario.naive
        tick = boot
        await asyncio.sleep(max(0.0, boot - loop.time()))
        while True:
            if term.queue:
                items = list(term.queue.items())
                chunks = iter([items[k:k + n.batch_size]
                               for k in range(0, len(items), n.batch_size)])
                senders = min(n.max_in_flight, math.ceil(len(items) / n.batch_size))
                await asyncio.gather(*(self._sender(term, chunks) for _ in range(senders)))
            now = loop.time()
            tick += n.retry_interval_s
            if tick < now:  # the tick's work overran: the next tick on the grid
                tick += math.ceil((now - tick) / n.retry_interval_s) * n.retry_interval_s
            if not term.queue:
                term.wake.clear()
                await term.wake.wait()
                if loop.time() > tick:
                    tick += math.ceil((loop.time() - tick) / n.retry_interval_s
                                      - 1e-9) * n.retry_interval_s
            await asyncio.sleep(max(0.0, tick - loop.time()))

    async def _sender(self, term: _RetryTerminal,
                      chunks: Iterator[list[tuple[int, float]]]) -> None:
        n = self.ctx.scenario.naive
        for batch in chunks:
            try:
                answer = await self.centre.exchange(
                    self._upload(batch, (batch[0][0], len(batch))),
                    connect_timeout=n.timeout_s, read_timeout=n.timeout_s)
            except CentreFailure:
                continue
            if answer.status == 200:
                for rid, _t in batch:
                    term.queue.pop(rid, None)

    async def _trust(self, term: _RetryTerminal, boot: float) -> None:
        loop = self.ctx.loop
        n = self.ctx.scenario.naive
        t = boot
        while True:
            t += n.trust_poll_interval_s
            await asyncio.sleep(max(0.0, t - loop.time()))

            def process(now: float) -> Answer:
                return Answer(200, value=self.ctx.trust_version(now))

            try:
                answer = await self.centre.exchange(Request("trust-list", process),
                                                    connect_timeout=n.timeout_s,
                                                    read_timeout=n.timeout_s)
            except CentreFailure:
                continue
            version = int(answer.value)
            if answer.status == 200 and version > term.trust_version:
                if version not in self.lists:
                    self.lists[version] = self.ctx.codes.parsed(version)
                term.verifier.replace_trust(self.lists[version])
                term.trust_version = version

    def close(self) -> None:
        pass


@dataclass
class _OnlineTerminal:
    index: int
    decider: SiteDecider  # the centre's anti-passback memory for this gate


class NaiveOnlineFleet:
    name = "naive_online"

    def __init__(self, ctx: ShardContext) -> None:
        self.ctx = ctx
        self.centre = CentreModel(ctx.loop, spec=ctx.scenario.centre, day=ctx.scenario.day,
                                  capacity_rps=ctx.capacity, recorder=ctx.recorder)
        self.periodic = _Periodic(ctx, self.centre)
        self.verifier = Verifier(ctx.codes.parsed(1))  # the centre's
        self.verifier_version = 1
        self.terminals: dict[int, _OnlineTerminal] = {}
        self.answered: set[tuple[int, int]] = set()
        self.queue_waits: list[float] = []
        self.build_mb_per_terminal: float | None = None

    def build(self) -> None:
        for i in self.ctx.indices:
            self.terminals[i] = _OnlineTerminal(i, SiteDecider(self.ctx.scenario.policy))

    def _verify(self, term: _OnlineTerminal, arrival: Arrival, scan_no: int) -> Request:
        ctx = self.ctx

        def process(now: float) -> Answer:
            version = ctx.trust_version(now)
            if version != self.verifier_version:
                self.verifier.replace_trust(ctx.codes.parsed(version))
                self.verifier_version = version
            key = (term.index, scan_no)
            if key in self.answered:
                ctx.recorder.count("duplicates")  # the same scan verified again
            self.answered.add(key)
            payload = ctx.codes.payload(arrival.shown_kind, arrival.shown_t, arrival.code,
                                        term.index)
            verdict = self.verifier.verify(payload, at=ctx.epoch + now)
            return Answer(200, value=term.decider.decide(verdict, t_mono=now))

        return Request("verify", process)

    async def _gate(self, term: _OnlineTerminal) -> None:
        ctx = self.ctx
        loop = ctx.loop
        n = ctx.scenario.naive
        for scan_no, arrival in enumerate(ctx.arrivals[term.index]):
            if arrival.t > loop.time():
                await asyncio.sleep(arrival.t - loop.time())
            start = loop.time()
            self.queue_waits.append(start - arrival.t)
            reason = UNAVAILABLE
            for attempt in range(n.online_attempts):
                if attempt:
                    await asyncio.sleep(n.rescan_s)
                try:
                    answer = await self.centre.exchange(
                        self._verify(term, arrival, scan_no),
                        connect_timeout=n.online_timeout_s, read_timeout=n.online_timeout_s)
                except CentreFailure:
                    continue
                if answer.status == 200:
                    reason = answer.value.reason.value
                    break
            waited_ms = (loop.time() - start) * 1000.0
            ctx.recorder.decision(start, waited_ms, reason, record=False)
            if reason == UNAVAILABLE:
                ctx.recorder.count("failed")
            elif reason != ctx.expected[arrival.kind]:
                ctx.recorder.count("mismatches")

    async def run(self) -> None:
        ctx = self.ctx
        loop = ctx.loop
        gates = [loop.create_task(self._gate(t)) for t in self.terminals.values()]
        beats = [loop.create_task(self.periodic.heartbeats(ctx.boot_time(i)))
                 for i in self.terminals]
        await asyncio.gather(*gates)
        end = ctx.scenario.day.total_s
        if end > loop.time():
            await asyncio.sleep(end - loop.time())
        for task in beats:
            task.cancel()
        await asyncio.gather(*beats, return_exceptions=True)

    def close(self) -> None:
        pass
