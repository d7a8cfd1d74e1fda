"""kill -9 in the middle of a flood: every record reported as recorded is in the journal.

A real separate process (``tests/device/journal_flood.py``) records decisions as fast as
it can and prints each record id only after ``record()`` returned. We SIGKILL it at random
moments many times, reopen the journal after each kill and check: every printed id is
there, the database passes ``integrity_check`` without being moved aside, and seq values
are unique and increase in insertion order.
"""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from device.journal import Journal

ROOT = Path(__file__).resolve().parents[2]
FLOOD_CMD = [sys.executable, "-m", "tests.device.journal_flood"]
ROUNDS = 20
TIME_BUDGET_S = 30.0


def run_and_kill(path: Path, out: Path, rng: random.Random) -> list[tuple[str, int]]:
    with open(out, "wb") as stdout:
        proc = subprocess.Popen(
            [*FLOOD_CMD, str(path), "--threads", str(rng.choice((1, 2, 3)))],
            cwd=ROOT, stdout=stdout, stderr=subprocess.DEVNULL,
        )
        try:
            deadline = time.monotonic() + 20
            while out.stat().st_size == 0:  # wait for the first reported record
                assert proc.poll() is None, "flood driver exited early"
                assert time.monotonic() < deadline, "flood driver never recorded"
                time.sleep(0.005)
            time.sleep(rng.uniform(0.0, 0.4))
        finally:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == -signal.SIGKILL
    reported = []
    for line in out.read_bytes().split(b"\n"):
        parts = line.split()
        if len(parts) == 2:  # skip a line cut by the kill (never happens with one write)
            reported.append((parts[0].decode(), int(parts[1])))
    return reported


@pytest.mark.slow
def test_kill9_loses_nothing_reported(tmp_path: Path) -> None:
    rng = random.Random(int.from_bytes(os.urandom(4), "big"))
    path = tmp_path / "journal.db"
    all_reported: dict[str, int] = {}
    start = time.monotonic()
    rounds = 0
    while rounds < ROUNDS and time.monotonic() - start < TIME_BUDGET_S:
        rounds += 1
        reported = run_and_kill(path, tmp_path / f"out-{rounds}.txt", rng)
        assert reported, f"round {rounds}: nothing was reported"
        all_reported.update(reported)
        # The raw file opens cleanly (a plain connection replays the WAL) ...
        conn = sqlite3.connect(path)
        try:
            assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
            stored = dict(conn.execute("SELECT record_id, seq FROM records").fetchall())
            seqs = [s for (s,) in conn.execute("SELECT seq FROM records ORDER BY id")]
            bad_batches = conn.execute(
                "SELECT count(*) FROM records r JOIN batches b USING (batch_id) "
                "WHERE r.uploaded = 1 AND b.state != 'acked'"
            ).fetchone()[0]
        finally:
            conn.close()
        missing = [rid for rid in all_reported if rid not in stored]
        assert missing == [], f"round {rounds}: {len(missing)} reported records lost"
        assert all(stored[rid] == seq for rid, seq in all_reported.items())
        assert len(set(seqs)) == len(seqs) and seqs == sorted(seqs)
        assert bad_batches == 0
        # ... and the journal itself reopens without moving anything aside.
        with Journal(path, terminal_id="T-FLOOD") as j:
            st = j.stats()
            assert st.corrupt_recoveries == 0 and j.events() == []
            assert st.last_seq >= max(seqs)
    assert rounds >= 10
    assert not [p for p in tmp_path.iterdir() if ".corrupt-" in p.name]
    print(f"kill -9: {rounds} rounds, {len(all_reported)} reported records, none lost")
