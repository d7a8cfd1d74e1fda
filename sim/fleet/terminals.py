"""The scangate fleet: N terminals, each the project's own parts, on one virtual-time loop.

Per terminal: a ``device.journal.Journal`` (a real SQLite file, WAL, on tmpfs), a
``device.verify.TrustStore`` and ``Verifier``, a ``device.decide.SiteDecider`` and a
``device.uplink.Uplink`` whose httpx client talks to the simulated centre through
``CentreTransport`` with the terminal's clock bound to the loop. Nothing of the client
is re-implemented: batching, full-jitter backoff, Retry-After, idempotency keys, the
heartbeat and trust-list polling are the uplink's own.

A scan is decided as the daemon's pipeline decides it (verify at the trusted time,
site policy, journal commit before the gate moves) and the time those three take is
measured with ``time.perf_counter``: the gate latency reported for scangate is this
machine's real cost, not virtual time. (The daemon commits from a worker thread;
here the commit runs inline, the gate waits for it in both cases.)

Journals start as copies of one freshly created journal (as if flashed from one image);
each is then opened, checked and migrated by ``Journal`` itself, as at boot.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import logging
import os
import random
import resource
import shutil
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import TypeVar

from device.decide import SiteDecider
from device.journal import Journal
from device.journal.model import NewRecord
from device.uplink import Uplink
from device.verify.trustlist import TrustStore
from device.verify.verifier import Verifier
from sim.fleet.centre import CentreModel, CentreTransport, ScangateCentre
from sim.fleet.context import ShardContext
from sim.fleet.load import Arrival
from sim.fleet.vtime import LoopClock

log = logging.getLogger(__name__)
T = TypeVar("T")

JOURNAL_QUOTA_BYTES = 64 * 2**20
JOURNAL_MIN_FREE_BYTES = 16 * 2**20


SCRATCH_PREFIX = "scangate-fleet-"


def scratch_dir() -> Path:
    """A private directory on tmpfs (``/dev/shm``) when there is one, else the temp dir.

    Its name carries this process's id. A run killed with ``kill -9`` cannot remove its
    directory, and on tmpfs that is memory held until a reboot (~0.1 GB per 2,500
    terminals), so the next run removes the directories of processes that are gone.
    """
    shm = Path("/dev/shm")
    base = shm if shm.is_dir() and os.access(shm, os.W_OK) else Path(tempfile.gettempdir())
    sweep_scratch(base)
    return Path(tempfile.mkdtemp(prefix=f"{SCRATCH_PREFIX}{os.getpid()}-", dir=base))


def sweep_scratch(base: Path) -> list[Path]:
    """Remove the scratch directories in ``base`` left by fleet processes that no longer
    run (this user's only); return them."""
    removed = []
    uid = os.getuid()
    for path in base.glob(SCRATCH_PREFIX + "*"):
        pid_text = path.name[len(SCRATCH_PREFIX):].split("-", 1)[0]
        if not pid_text.isdigit():
            continue  # not named by this code: leave it
        try:
            if path.stat().st_uid != uid or not path.is_dir():
                continue
            os.kill(int(pid_text), 0)
            continue  # that process still runs
        except ProcessLookupError:
            pass
        except (PermissionError, OSError):
            continue  # another user's process, or the path went away
        shutil.rmtree(path, ignore_errors=True)
        log.info("removed %s, left by a fleet process that is gone", path)
        removed.append(path)
    return removed


def rss_mb() -> float:
    """This process's resident memory now (Linux), in MB; peak RSS elsewhere."""
    try:
        with open("/proc/self/statm", encoding="ascii") as f:
            pages = int(f.read().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError, IndexError):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class ScangateTerminal:
    __slots__ = ("decider", "index", "journal", "task", "uplink", "verifier")

    def __init__(self, index: int, journal: Journal, verifier: Verifier, decider: SiteDecider,
                 uplink: Uplink) -> None:
        self.index = index
        self.journal = journal
        self.verifier = verifier
        self.decider = decider
        self.uplink = uplink
        self.task: asyncio.Task[None] | None = None


def merged_arrivals(ctx: ShardContext, indices: Iterable[int]
                    ) -> Iterator[tuple[float, int, Arrival]]:
    """Every arrival of the given terminals, in time order (ties: terminal index)."""
    def one(i: int) -> Iterator[tuple[float, int, Arrival]]:
        for a in ctx.arrivals[i]:
            yield a.t, i, a
    return heapq.merge(*(one(i) for i in indices))


async def play_day(ctx: ShardContext, terminals: Mapping[int, T],
                   scan: Callable[[T, Arrival], None]) -> None:
    """Hand every arrival of ``terminals`` to ``scan`` at its virtual time, in order, then
    wait for the end of the simulated day: the scan loop every fleet shares."""
    loop = ctx.loop
    for t, i, arrival in merged_arrivals(ctx, terminals):
        if t > loop.time():
            await asyncio.sleep(t - loop.time())
        scan(terminals[i], arrival)
    end = ctx.scenario.day.total_s
    if end > loop.time():
        await asyncio.sleep(end - loop.time())


class ScangateFleet:
    name = "scangate"

    def __init__(self, ctx: ShardContext) -> None:
        self.ctx = ctx
        self.dir = scratch_dir()
        self.clock = LoopClock(ctx.loop, ctx.epoch)
        self.terminals: dict[int, ScangateTerminal] = {}
        model = CentreModel(ctx.loop, spec=ctx.scenario.centre, day=ctx.scenario.day,
                            capacity_rps=ctx.capacity, recorder=ctx.recorder)
        self.centre = ScangateCentre(model, trust_version=ctx.trust_version,
                                     trust_bytes=ctx.codes.trust_list,
                                     decided_at=lambda t_wall: t_wall - ctx.epoch)
        self.transport = CentreTransport(self.centre)
        self.build_mb_per_terminal: float | None = None
        self.files_mb_per_terminal: float | None = None

    def build(self) -> None:
        ctx = self.ctx
        before = rss_mb()
        template = self.dir / "template" / "journal.db"
        Journal(template, terminal_id="template", clock=self.clock).close()
        trust = ctx.codes.trust_list(1)
        for i in ctx.indices:
            self.terminals[i] = self._terminal(i, template, trust)
        if self.terminals:
            self.build_mb_per_terminal = (rss_mb() - before) / len(self.terminals)

    def _terminal(self, i: int, template: Path, trust: bytes) -> ScangateTerminal:
        ctx = self.ctx
        tid = ctx.terminal_id(i)
        home = self.dir / tid
        home.mkdir(mode=0o700)
        shutil.copyfile(template, home / "journal.db")
        journal = Journal(home / "journal.db", terminal_id=tid, clock=self.clock,
                          quota_bytes=JOURNAL_QUOTA_BYTES, min_free_bytes=JOURNAL_MIN_FREE_BYTES)
        (home / "trust-list.cose").write_bytes(trust)
        store = TrustStore(home / "trust-list.cose", ctx.codes.root_public)
        installed = store.load()
        assert installed is not None
        verifier = Verifier(installed, clock=self.clock)
        uplink = Uplink(ctx.scenario.uplink_config(tid), journal=journal, trust_store=store,
                        on_trust_list=verifier.replace_trust, transport=self.transport,
                        clock=self.clock, rng=random.Random(f"{ctx.job.seed}:uplink:{i}"))
        return ScangateTerminal(i, journal, verifier, SiteDecider(ctx.scenario.policy), uplink)

    def scan(self, term: ScangateTerminal, arrival: Arrival) -> None:
        ctx = self.ctx
        now = ctx.loop.time()
        payload = ctx.codes.payload(arrival.shown_kind, arrival.shown_t, arrival.code,
                                    term.index)
        t_wall = self.clock.now()
        t0 = time.perf_counter()
        verdict = term.verifier.verify(payload, at=t_wall)
        final = term.decider.decide(verdict, t_mono=now)
        record = term.journal.record(NewRecord(
            t_wall=t_wall, clock_quality="synced", source="sim", profile=final.profile,
            decision=final.decision.value, reason=final.reason.value, code_id=final.code_id,
            subject_ref=final.subject_ref, kid=final.kid.hex() if final.kid else None,
            latency_ms=0.0))
        ms = (time.perf_counter() - t0) * 1000.0
        reason = final.reason.value
        ctx.recorder.decision(now, ms, reason, record=record.stored)
        if reason != ctx.expected[arrival.kind]:
            ctx.recorder.count("mismatches")
        if not record.stored:
            ctx.recorder.count("journal_lost")

    async def run(self) -> None:
        ctx = self.ctx
        loop = ctx.loop
        for i, term in self.terminals.items():
            loop.call_at(ctx.boot_time(i), self._start, term)
        await play_day(ctx, self.terminals, self.scan)
        await self.stop()

    def _start(self, term: ScangateTerminal) -> None:
        term.task = self.ctx.loop.create_task(term.uplink.run())

    async def stop(self) -> None:
        tasks = [t.task for t in self.terminals.values() if t.task is not None]
        for task in tasks:
            task.cancel()
        results = await asyncio.gather(*tasks, return_exceptions=True)
        for r in results:
            if isinstance(r, BaseException) and not isinstance(r, asyncio.CancelledError):
                log.error("fleet: an uplink ended with %s: %s", type(r).__name__, r)
                self.ctx.recorder.count("uplink_errors")
        rec = self.ctx.recorder
        self.files_mb_per_terminal = self.disk_mb_per_terminal()
        for term in self.terminals.values():
            stats = term.journal.stats()
            rec.count("pending_at_end", stats.pending)
            rec.count("batches_acked", term.uplink.state.batches_acked)
            rec.count("heartbeats_sent", term.uplink.heartbeat.sent)

    def disk_mb_per_terminal(self) -> float | None:
        """Journal and trust-list files (tmpfs: memory too) per terminal, now."""
        if not self.terminals:
            return None
        total = 0
        for root, _dirs, files in os.walk(self.dir):
            for name in files:
                with contextlib.suppress(OSError):
                    total += os.path.getsize(os.path.join(root, name))
        return total / 2**20 / len(self.terminals)

    def close(self) -> None:
        for term in self.terminals.values():
            with contextlib.suppress(Exception):
                term.journal.close()
        shutil.rmtree(self.dir, ignore_errors=True)
