"""Flood driver for the kill -9 test: records decisions as fast as it can and prints
``<record_id> <seq>`` for each one only AFTER ``Journal.record()`` returned, i.e. once it
was reported as recorded. A second thread plays the uplink (batches and acks) so the
kill also lands in the middle of batch transactions.

    python -m tests.device.journal_flood JOURNAL_PATH [--threads N] [--no-uploader]

The daemon's own flood (scangate run with a sim source) can replace this module later;
the test only needs the "printed after durable" lines on stdout.
"""

from __future__ import annotations

import argparse
import os
import threading
import time
from pathlib import Path

from device.journal import Journal, NewRecord


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("path", type=Path)
    ap.add_argument("--terminal", default="T-FLOOD")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--no-uploader", action="store_true")
    args = ap.parse_args()
    journal = Journal(args.path, terminal_id=args.terminal, retention_s=10 * 365 * 86400)
    out_lock = threading.Lock()

    def flood(k: int) -> None:
        i = 0
        while True:
            i += 1
            rec = journal.record(NewRecord(
                t_wall=time.time(), clock_quality="synced", source=f"flood-{k}",
                profile="scangate", decision="accept" if i % 7 else "deny",
                reason="ok" if i % 7 else "expired", code_id=f"{k:04d}{i:028x}",
                subject_ref=None, kid="00ff", latency_ms=1.0,
            ))
            if rec.stored:
                line = f"{rec.record_id} {rec.seq}\n".encode()
                with out_lock:
                    os.write(1, line)  # one write: a kill cannot split a line's meaning

    def upload() -> None:
        while True:
            batch = journal.next_batch(37)
            if batch is None:
                time.sleep(0.001)
                continue
            if batch.batch_id % 5 == 0:
                journal.ack_batch(batch.batch_id, [r.record_id for r in batch.records[::2]])
            else:
                journal.ack_batch(batch.batch_id)

    workers = [threading.Thread(target=flood, args=(k,), daemon=True)
               for k in range(max(1, args.threads))]
    if not args.no_uploader:
        workers.append(threading.Thread(target=upload, daemon=True))
    for w in workers:
        w.start()
    os.write(2, b"flooding\n")
    for w in workers:
        w.join()


if __name__ == "__main__":
    main()
