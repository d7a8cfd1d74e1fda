"""Backlog drain: N records (default 1,000,000) after a long outage, uploaded to the
stand-in central engine on loopback, while the terminal keeps deciding.

Prints the drain time (goal < 60 s for 1,000,000), records/s, and the terminal's decision
latency (Verifier.verify + Journal.record, run on the uplink's own event loop, measured
from the moment the scan was due) idle vs while draining, with the ratio.

The centre runs in a separate process (it is another machine in reality), so its CPU
work does not share the terminal's GIL. The backlog is written straight into the journal
file with the journal's own schema (one transaction; a bench-only shortcut: the journal
API commits each record with an fsync).

    python bench/drain.py                 # 1,000,000 records
    python bench/drain.py --quick         # 50,000 records
    python bench/drain.py --records 200000 --batch 2000
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import statistics
import sys
import tempfile
import time
import uuid
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from device.journal import Journal, NewRecord
from device.journal.sqlite_file import RECORD_COLUMNS
from device.uplink import Uplink, UplinkConfig
from device.verify.verifier import Verifier

TERMINAL = "bench-1"


def centre_process(db: str, conn: Connection) -> None:
    from sim.central import CentralServer

    server = CentralServer(Path(db))
    server.start()
    conn.send(server.url)
    while True:
        cmd = conn.recv()
        if cmd == "stats":
            conn.send((server.store.record_count(), server.store.max_times_received(),
                       server.metrics.endpoint("upload")))
        elif cmd == "stop":
            server.stop()
            conn.send("stopped")
            return


def generate_backlog(path: Path, n: int) -> float:
    """Write n pending records with the journal's schema; returns seconds taken."""
    import sqlite3

    Journal(path, terminal_id=TERMINAL, min_free_bytes=0, quota_bytes=8 * 2**30).close()
    t0 = time.perf_counter()
    db = sqlite3.connect(str(path))
    db.execute("PRAGMA synchronous = OFF")
    t_start = 1_800_000_000.0 - 5 * 86400  # five days offline
    chunk = 50_000
    db.execute("BEGIN")
    cols = ", ".join(RECORD_COLUMNS)
    marks = ", ".join("?" * len(RECORD_COLUMNS))
    for base in range(0, n, chunk):
        rows = []
        for i in range(base, min(n, base + chunk)):
            rec = {
                "record_id": str(uuid.uuid4()), "terminal_id": TERMINAL, "seq": i + 1,
                "t_wall": t_start + i * 0.4, "clock_quality": "synced", "source": "camera",
                "profile": "scangate", "decision": "accept" if i % 7 else "deny",
                "reason": "ok" if i % 7 else "expired", "code_id": f"{i:016x}",
                "subject_ref": f"{(i * 2654435761) % 2**32:08x}{i % 9973:04x}",
                "kid": "0123456789abcdef", "latency_ms": 11.5,
            }
            rows.append(tuple(rec[c] for c in RECORD_COLUMNS))
        db.executemany(f"INSERT INTO records ({cols}) VALUES ({marks})", rows)
    db.execute(
        "INSERT INTO sequences (terminal_id, last_seq, last_t) VALUES (?, ?, ?) "
        "ON CONFLICT (terminal_id) DO UPDATE SET last_seq = excluded.last_seq",
        (TERMINAL, n, t_start + n * 0.4),
    )
    db.execute("COMMIT")
    db.close()
    return time.perf_counter() - t0


class Decider:
    """A scan every ``period_s`` on the event loop: verify + journal, latency from due time."""

    def __init__(self, verifier: Verifier, journal: Journal, code: str, period_s: float) -> None:
        self.verifier = verifier
        self.journal = journal
        self.code = code
        self.period_s = period_s

    async def run(self, seconds: float | None, stop: asyncio.Event | None = None) -> list[float]:
        latencies: list[float] = []
        loop = asyncio.get_running_loop()
        start = loop.time()
        due = start
        while True:
            due += self.period_s
            await asyncio.sleep(max(0.0, due - loop.time()))
            verdict = self.verifier.verify(self.code)
            self.journal.record(NewRecord(
                t_wall=time.time(), clock_quality="synced", source="bench", profile="scangate",
                decision=str(verdict.decision), reason=str(verdict.reason), code_id=None,
                subject_ref=None, kid=None, latency_ms=0.0,
            ))
            latencies.append((loop.time() - due) * 1000.0)
            if seconds is not None and loop.time() - start >= seconds:
                return latencies
            if stop is not None and stop.is_set():
                return latencies


def pct(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(p / 100.0 * len(s)))]


def describe(name: str, lat: list[float]) -> str:
    return (f"{name:9s} n={len(lat):5d}  p50={statistics.median(lat):6.2f} ms  "
            f"p99={pct(lat, 99):6.2f} ms  max={max(lat):7.2f} ms")


async def drain(journal: Journal, url: str, n_total: int, batch: int,
                decider: Decider, idle_s: float) -> dict[str, Any]:
    await decider.run(0.2)  # warm-up (first fsyncs, imports), not counted
    idle = await decider.run(idle_s)
    cfg = UplinkConfig(base_url=url, allow_insecure_http=True, terminal_id=TERMINAL,
                       batch_size=batch,
                       batch_interval_s=0.01, heartbeat_interval_s=3600.0,
                       trust_poll_interval_s=3600.0, timeout_s=30.0)
    uplink = Uplink(cfg, journal=journal)
    stop = asyncio.Event()
    target = journal.stats().pending
    t0 = time.perf_counter()
    task = asyncio.create_task(uplink.uploader.run())
    busy_task = asyncio.create_task(decider.run(None, stop))
    while uplink.state.records_acked < target:
        await asyncio.sleep(0.05)
    elapsed = time.perf_counter() - t0
    stop.set()
    busy = await busy_task
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    # The decisions made while draining are records too: send them as well.
    while journal.stats().pending:
        await uplink.uploader.step()
    await uplink.aclose()
    return {"elapsed": elapsed, "target": target, "idle": idle, "busy": busy,
            "status": uplink.status()}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--records", type=int, default=1_000_000)
    ap.add_argument("--quick", action="store_true", help="50,000 records")
    ap.add_argument("--batch", type=int, default=1000, help="uplink.batch_size")
    ap.add_argument("--scan-period-ms", type=float, default=20.0)
    args = ap.parse_args(argv)
    n = 50_000 if args.quick else args.records

    with tempfile.TemporaryDirectory(prefix="scangate-drain-") as tmp_name:
        tmp = Path(tmp_name)
        from sim.keys import make_demo_keys

        keys = make_demo_keys(tmp / "keys")
        verifier = Verifier(keys.load_trust_list())
        code = keys.issuer().mint(status="green", valid_s=3600)

        gen_s = generate_backlog(tmp / "journal.db", n)
        print(f"backlog: {n:,} records written in {gen_s:.1f} s (bench-only bulk insert)")
        journal = Journal(tmp / "journal.db", terminal_id=TERMINAL, min_free_bytes=0,
                          quota_bytes=8 * 2**30, purge_interval_s=1e9)

        ctx = mp.get_context("spawn")
        parent, child = ctx.Pipe()
        proc = ctx.Process(target=centre_process, args=(str(tmp / "central.db"), child))
        proc.start()
        url = parent.recv()
        try:
            decider = Decider(verifier, journal, code, args.scan_period_ms / 1000.0)
            res = asyncio.run(drain(journal, url, n, args.batch, decider,
                                    idle_s=2.0 if args.quick else 6.0))
            parent.send("stats")
            stored, max_times, uploads = parent.recv()
        finally:
            parent.send("stop")
            parent.recv()
            proc.join(timeout=30)
        total = journal.stats().records
        journal.close()

    elapsed = res["elapsed"]
    idle, busy = res["idle"], res["busy"]
    print(f"drain:   {res['target']:,} records in {elapsed:.1f} s = "
          f"{res['target'] / elapsed:,.0f} records/s  (batch {args.batch}, "
          f"{uploads.get('requests', 0)} upload requests; goal < 60 s for 1,000,000)")
    print(f"centre:  {stored:,} records stored, journal holds {total:,}; "
          f"each stored once: {max_times == 1}; lost: {total - stored}")
    print("decision latency (verify + journal.record on the uplink's event loop):")
    print("  " + describe("idle", idle))
    print("  " + describe("draining", busy))
    print(f"  ratio draining/idle: p50 x{statistics.median(busy) / statistics.median(idle):.2f}"
          f"  p99 x{pct(busy, 99) / pct(idle, 99):.2f}")
    ok = stored == total and max_times == 1
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
