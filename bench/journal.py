"""Journal benchmark: decisions recorded per second at the configured durability
(WAL, synchronous=FULL, one commit per decision) and the commit latency (p50/p99/max),
against baselines measured in the same run on the same disk:

- bare-full:   a plain sqlite3 INSERT + COMMIT loop, WAL, synchronous=FULL (our overhead)
- bare-normal: the same with synchronous=NORMAL (what durability costs)

and two more Journal phases: with a large pending backlog, and while another thread
drains it (next_batch/ack_batch, as the uplink does after an outage).

    .venv/bin/python bench/journal.py [--quick] [--n N] [--backlog N] [--dir DIR]
"""

from __future__ import annotations

import argparse
import sqlite3
import statistics
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from device.journal import Journal, NewRecord


def new_record(i: int) -> NewRecord:  # i < 0 during warm-up
    return NewRecord(
        t_wall=time.time(), clock_quality="synced", source="bench", profile="scangate",
        decision="accept", reason="ok", code_id=f"{abs(i):032x}", subject_ref=f"r{abs(i):015x}",
        kid="0a1b2c3d", latency_ms=12.0,
    )


def measure(n: int, op: Callable[[int], object], warmup: int = 50) -> tuple[float, list[float]]:
    for i in range(warmup):
        op(-1 - i)
    lat = []
    t0 = time.perf_counter()
    for i in range(n):
        t = time.perf_counter()
        op(i)
        lat.append((time.perf_counter() - t) * 1000)
    return n / (time.perf_counter() - t0), lat


def pct(lat: list[float], q: float) -> float:
    s = sorted(lat)
    return s[min(len(s) - 1, int(q * len(s)))]


def report(name: str, rate: float, lat: list[float]) -> None:
    print(f"  {name:<22} {rate:9.0f} rec/s   p50 {statistics.median(lat):7.3f} ms   "
          f"p99 {pct(lat, 0.99):7.3f} ms   max {max(lat):8.3f} ms")


def bare(path: Path, sync: str, n: int) -> tuple[float, list[float]]:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(f"PRAGMA synchronous={sync}")
    conn.execute("CREATE TABLE r (id INTEGER PRIMARY KEY, record_id TEXT UNIQUE, seq INT, "
                 "t REAL, code_id TEXT, subject_ref TEXT, reason TEXT)")

    def op(i: int) -> None:
        conn.execute("BEGIN")
        conn.execute("INSERT INTO r (record_id, seq, t, code_id, subject_ref, reason) "
                     "VALUES (?, ?, ?, ?, ?, ?)",
                     (str(uuid.uuid4()), i, time.time(), f"{abs(i):032x}", "r", "ok"))
        conn.execute("COMMIT")

    try:
        return measure(n, op)
    finally:
        conn.close()


def prefill(j: Journal, count: int) -> None:
    """Insert a pending backlog quickly (one transaction) through the journal's schema."""
    conn = j._conn  # bench only: build the backlog without paying one fsync per row
    conn.execute("BEGIN")
    base = j.stats().last_seq
    conn.executemany(
        "INSERT INTO records (record_id, terminal_id, seq, t_wall, clock_quality, source, "
        "decision, reason, latency_ms) VALUES (?, ?, ?, ?, 'synced', 'bench', 'accept', "
        "'ok', 1.0)",
        ((str(uuid.uuid4()), j.terminal_id, -(base + k + 1), time.time()) for k in range(count)),
    )
    conn.execute("COMMIT")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="a short run (a few seconds)")
    ap.add_argument("--n", type=int, default=None, help="decisions per phase")
    ap.add_argument("--backlog", type=int, default=None, help="pending records for phase 3/4")
    ap.add_argument("--dir", type=Path, default=None, help="where the files go (default: tmp)")
    args = ap.parse_args()
    n = args.n or (500 if args.quick else 10_000)
    backlog = args.backlog if args.backlog is not None else (20_000 if args.quick else 300_000)
    with tempfile.TemporaryDirectory(dir=args.dir) as d:
        tmp = Path(d)
        print(f"journal bench: {n} decisions per phase, files in {tmp}")
        full_rate, full_lat = bare(tmp / "bare-full.db", "FULL", n)
        normal_rate, normal_lat = bare(tmp / "bare-normal.db", "NORMAL", n)
        j = Journal(tmp / "journal.db", terminal_id="BENCH")
        try:
            rate, lat = measure(n, lambda i: j.record(new_record(i)))
            prefill(j, backlog)
            b_rate, b_lat = measure(n, lambda i: j.record(new_record(i)))
            stop = threading.Event()
            drained = [0]

            def drain() -> None:
                while not stop.is_set():
                    b = j.next_batch(500)
                    if b is None:
                        return
                    time.sleep(0.002)  # the shortest upload round trip (loopback HTTP)
                    j.ack_batch(b.batch_id)
                    drained[0] += len(b.records)

            t = threading.Thread(target=drain)
            t0 = time.perf_counter()
            t.start()
            d_rate, d_lat = measure(n, lambda i: j.record(new_record(i)))
            stop.set()
            t.join()
            drain_s = time.perf_counter() - t0
        finally:
            j.close()
        print("baselines (same disk, same run):")
        report("bare sqlite3 FULL", full_rate, full_lat)
        report("bare sqlite3 NORMAL", normal_rate, normal_lat)
        print("Journal.record() (WAL, synchronous=FULL, one commit per decision):")
        report("empty journal", rate, lat)
        report(f"{backlog} pending", b_rate, b_lat)
        report("while draining", d_rate, d_lat)
        print(f"  (drain thread: 500-record batches, 2 ms simulated round trip; acked "
              f"{drained[0]} records, {drained[0] / drain_s:.0f} rec/s)")
        print("ratios:")
        print(f"  journal / bare FULL rate        {rate / full_rate:6.2f}")
        print(f"  bare FULL / bare NORMAL rate    {full_rate / normal_rate:6.2f}  (cost of fsync)")
        print(f"  p99 while draining / empty      {pct(d_lat, .99) / pct(lat, .99):6.2f}")
        print(f"  p99 with backlog / empty        {pct(b_lat, .99) / pct(lat, .99):6.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
