"""The scan path: verify → site policy → journal → gate → screen → log. No network I/O.

One scan at a time (the daemon's consumer awaits ``handle`` before taking the next),
so the decision order is the scan order and anti-passback needs no lock.

Journal commits (SQLite, ``synchronous=FULL``: an fsync) run on ONE dedicated worker
thread, not on the event loop: the loop keeps serving the screen, the watchdog and
the uplink during the fsync. The gate moves only after the record is durable (a
person who was let through is never missing from the journal, even after a power
cut); the price is the fsync on the scan-to-relay path (docs/daemon.md). If the
journal fails, the gate still decides (a gate that stops is worse) and the failure is
counted, logged and shown on /healthz. Measured in bench/latency.py.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import time
from collections import Counter as CountDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Protocol

from device.clock.floor import TrustedTime
from device.daemon.metrics import Registry
from device.journal.model import NewRecord, Record
from device.sources.base import Scan
from device.verify.verdict import Reason, Verdict

log = logging.getLogger(__name__)


def code_hash(code_id: str | None) -> str | None:
    """What the logs carry instead of a code id: 12 hex chars of its SHA-256."""
    if code_id is None:
        return None
    return hashlib.sha256(code_id.encode("utf-8")).hexdigest()[:12]


class Checks(Protocol):
    """The verify stage (``device.verify.Verifier``)."""

    def verify(self, payload: str | bytes, at: float | None = None) -> Verdict: ...


class Decides(Protocol):
    """The decision stage (``device.decide.SiteDecider``)."""

    def decide(self, verdict: Verdict, *, t_mono: float) -> Verdict: ...


class KnownTime(Protocol):
    """The known-good time (``device.clock.TimeFloor``)."""

    def now(self) -> TrustedTime: ...

    def raise_to(self, t: float, source: str) -> None: ...


class Records(Protocol):
    """The journal (``device.journal.Journal``): durable before it returns."""

    def record(self, rec: NewRecord) -> Record: ...


class Actuates(Protocol):
    """The gate outputs (``device.gate.Gate``)."""

    def accept(self) -> None: ...

    def deny(self) -> None: ...


@dataclass
class Outcome:
    """One decided scan, as the screen, the log and the tests see it."""

    verdict: Verdict
    source: str
    t_wall: float
    clock_quality: str
    t_scan_mono: float
    t_actuated_mono: float
    verify_ms: float
    decision_ms: float  # scan complete -> gate actuated
    commit_ms: float
    record_id: str | None = None
    seq: int | None = None
    journal_error: str | None = None
    t_decision_ms: float = field(default=0.0)  # wall ms at actuation (screen timing)

    def screen_event(self, n: int) -> dict[str, Any]:
        v = self.verdict
        zh_en = v.to_json()
        return {
            "seq": n,
            "decision": v.decision.value,
            "reason": v.reason.value,
            "message_zh": zh_en["message_zh"],
            "message_en": zh_en["message_en"],
            "profile": v.profile,
            "status": v.status,
            "iat": v.iat,
            "exp": v.exp,
            "cert_type": v.cert_type,
            "source": self.source,
            "t_decision_ms": self.t_decision_ms,
            "decision_ms": round(self.decision_ms, 3),
        }

    def log_line(self) -> str:
        v = self.verdict
        return json.dumps({
            "event": "decision",
            "t": round(self.t_wall, 3),
            "clock": self.clock_quality,
            "source": self.source,
            "decision": v.decision.value,
            "reason": v.reason.value,
            "profile": v.profile,
            "code": code_hash(v.code_id),
            "ms": round(self.decision_ms, 3),
            "verify_ms": round(self.verify_ms, 3),
            "commit_ms": round(self.commit_ms, 3),
            "record_id": self.record_id,
            "seq": self.seq,
            **({"journal_error": self.journal_error} if self.journal_error else {}),
        }, separators=(",", ":"))


class Pipeline:
    """Decides scans. Parts are injected; ``handle(scan)`` is the whole path."""

    def __init__(self, *, verifier: Checks, decider: Decides, timefloor: KnownTime,
                 journal: Records, gate: Actuates, publish: Callable[[str, dict[str, Any]], None],
                 write_log: Callable[[str], None], registry: Registry,
                 monotonic: Callable[[], float] = time.monotonic,
                 journal_in_thread: bool = True) -> None:
        self.verifier = verifier
        self.decider = decider
        self.timefloor = timefloor
        self.journal = journal
        self.gate = gate
        self.publish = publish
        self.write_log = write_log
        self.monotonic = monotonic
        self.journal_in_thread = journal_in_thread
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="journal")
        self.decided = 0
        self.journal_errors = 0
        self.last_journal_error: str | None = None
        self.today: CountDict[str] = CountDict()
        self.today_date: str = ""
        self.last: Outcome | None = None
        r = registry
        self.m_decisions = r.counter("scangate_decisions_total",
                                     "Decisions by outcome and reason",
                                     labels=("decision", "reason"))
        self.m_latency = r.histogram("scangate_decision_latency_ms",
                                     "Scan complete to gate actuated, milliseconds")
        self.m_verify = r.histogram("scangate_verify_ms", "Verifier time, milliseconds")
        self.m_commit = r.histogram("scangate_journal_commit_ms",
                                    "Journal commit (durable) time, milliseconds")
        self.m_journal_errors = r.counter("scangate_journal_errors_total",
                                          "Decisions the journal failed to record")

    async def handle(self, scan: Scan) -> Outcome:
        tt = self.timefloor.now()
        quality = str(getattr(tt.quality, "value", tt.quality))
        t0 = time.perf_counter()
        verdict = self.verifier.verify(scan.payload, at=tt.t)
        if (verdict.reason is Reason.NOT_YET_VALID and quality != "synced"
                and verdict.iat is not None and verdict.iat > tt.t):
            # Our clock is only a lower bound (docs/time.md): a genuine code's signed iat
            # proves the true time is at least iat. Decide at iat (exp still enforced).
            iat = float(verdict.iat)
            again = self.verifier.verify(scan.payload, at=iat)
            if again.reason is not Reason.NOT_YET_VALID:
                verdict = again
                self.timefloor.raise_to(iat, "code-iat")
                tt = self.timefloor.now()
                quality = str(getattr(tt.quality, "value", tt.quality))
        t1 = time.perf_counter()
        final = self.decider.decide(verdict, t_mono=scan.t_mono)
        rec = NewRecord(
            t_wall=tt.t, clock_quality=quality, source=scan.source, profile=final.profile,
            decision=final.decision.value, reason=final.reason.value, code_id=final.code_id,
            subject_ref=final.subject_ref, kid=final.kid.hex() if final.kid else None,
            latency_ms=round((self.monotonic() - scan.t_mono) * 1000, 3),
        )
        record: Record | None = None
        error = None
        t2 = time.perf_counter()
        try:
            if self.journal_in_thread:
                loop = asyncio.get_running_loop()
                record = await loop.run_in_executor(self._executor, self.journal.record, rec)
            else:
                record = self.journal.record(rec)
        except Exception as exc:  # the gate keeps deciding; the loss is loud
            error = f"{type(exc).__name__}: {exc}"
            self.journal_errors += 1
            self.last_journal_error = error
            self.m_journal_errors.inc()
            log.error("journal could not record a decision: %s", error)
        t3 = time.perf_counter()
        if final.accepted:
            self.gate.accept()
        else:
            self.gate.deny()
        t_act = self.monotonic()
        if record is not None and not record.stored:
            error = "not stored (journal quota or disk guard; loss counted)"
        out = Outcome(
            verdict=final, source=scan.source, t_wall=tt.t, clock_quality=quality,
            t_scan_mono=scan.t_mono, t_actuated_mono=t_act, verify_ms=(t1 - t0) * 1000,
            decision_ms=(t_act - scan.t_mono) * 1000, commit_ms=(t3 - t2) * 1000,
            record_id=record.record_id if record is not None else None,
            seq=record.seq if record is not None else None,
            journal_error=error, t_decision_ms=time.time() * 1000,
        )
        self.decided += 1
        self.last = out
        self._count_today(out)
        self.publish("verdict", out.screen_event(self.decided))
        self.m_decisions.inc(decision=final.decision.value, reason=final.reason.value)
        self.m_latency.observe(out.decision_ms)
        self.m_verify.observe(out.verify_ms)
        self.m_commit.observe(out.commit_ms)
        self.write_log(out.log_line())
        return out

    def _count_today(self, out: Outcome) -> None:
        day = time.strftime("%Y-%m-%d", time.localtime(out.t_wall))
        if day != self.today_date:
            self.today_date = day
            self.today = CountDict()
        self.today[out.verdict.decision.value] += 1
        self.today[f"reason:{out.verdict.reason.value}"] += 1

    def today_counts(self) -> dict[str, Any]:
        return {
            "date": self.today_date,
            "accept": self.today.get("accept", 0),
            "deny": self.today.get("deny", 0),
            "by_reason": {k[7:]: v for k, v in self.today.items() if k.startswith("reason:")},
        }

    def close(self) -> None:
        """Wait for a commit in flight, then stop the journal thread."""
        self._executor.shutdown(wait=True)
